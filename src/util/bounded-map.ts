/**
 * The one bounded store of the hot path: a Map with at most `maxEntries` entries and, when
 * `weigh` is given, at most `maxWeight` in total weight. The least recently set or touched
 * entries go first. Used for the verified-token cache, the decoded-header memo, the deny
 * answers and the per-kid key files, so every cache evicts the same way.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  private weight = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly limits: { readonly maxWeight: number; readonly weigh: (value: V) => number } | undefined = undefined,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** Total weight held (0 without `weigh`). */
  get totalWeight(): number {
    return this.weight;
  }

  /** The value, without changing its recency (see touch). */
  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /**
   * Makes an entry the most recent. Pass the stored key when the caller has it: a lookup key
   * that is an equal copy would otherwise replace it, and live on as new garbage.
   */
  touch(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
  }

  /** Stores `value`, evicting the oldest entries to make room; false when it can never fit. */
  set(key: K, value: V): boolean {
    const w = this.limits?.weigh(value) ?? 0;
    if (this.maxEntries <= 0 || (this.limits !== undefined && w > this.limits.maxWeight)) return false;
    this.delete(key);
    const maxWeight = this.limits?.maxWeight ?? Number.POSITIVE_INFINITY;
    for (const oldest of this.map.keys()) {
      if (this.map.size < this.maxEntries && this.weight + w <= maxWeight) break;
      this.delete(oldest);
    }
    this.map.set(key, value);
    this.weight += w;
    return true;
  }

  delete(key: K): void {
    const value = this.map.get(key);
    if (value === undefined && !this.map.has(key)) return;
    this.map.delete(key);
    if (this.limits !== undefined && value !== undefined) this.weight -= this.limits.weigh(value);
  }

  clear(): void {
    this.map.clear();
    this.weight = 0;
  }

  /** Entries, oldest first. Deleting the current entry while iterating is allowed. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
