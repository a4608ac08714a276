/**
 * The one bounded store of the hot path: a Map with at most `maxEntries` entries and, when
 * `weigh` is given, at most `maxWeight` in total weight. The least recently set or used
 * entries go first. Used for the verified-token cache, the decoded-header memo, the deny
 * answers and the per-kid key files, so every cache evicts the same way.
 */
interface Slot<K, V> {
  /** The stored key: re-inserting it (not an equal lookup copy) keeps no new string alive. */
  readonly key: K;
  readonly value: V;
  readonly weight: number;
  /** `clock` when the entry was last set or moved to the newest end. */
  stamp: number;
}

export class BoundedMap<K, V> {
  private readonly map = new Map<K, Slot<K, V>>();
  private weight = 0;
  /** Counts moves to the newest end (sets and refreshing uses). */
  private clock = 0;

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

  /** The value, without changing its recency (see use). */
  get(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  /**
   * The value, counted as used: an entry is moved to the newest end unless it is already in
   * the newer half of the order. At most size/2 moves since its own leave it there, so a
   * hot entry costs one Map lookup, not a delete and a set per use; eviction order stays LRU
   * for everything in the older half, which is all eviction ever reaches.
   */
  use(key: K): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    if (this.clock - slot.stamp > this.map.size >>> 1) {
      this.map.delete(slot.key);
      this.map.set(slot.key, slot);
      slot.stamp = ++this.clock;
    }
    return slot.value;
  }

  /** True when setting `key` to a value of this weight would evict nothing (it may replace `key`'s own entry). */
  hasRoomFor(key: K, weight: number): boolean {
    const own = this.map.get(key);
    const size = own === undefined ? this.map.size : this.map.size - 1;
    const held = own === undefined ? this.weight : this.weight - own.weight;
    return size < this.maxEntries && held + weight <= (this.limits?.maxWeight ?? Number.POSITIVE_INFINITY);
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
    this.map.set(key, { key, value, weight: w, stamp: ++this.clock });
    this.weight += w;
    return true;
  }

  delete(key: K): void {
    const slot = this.map.get(key);
    if (slot === undefined) return;
    this.map.delete(key);
    this.weight -= slot.weight;
  }

  clear(): void {
    this.map.clear();
    this.weight = 0;
  }

  /** Entries, oldest first. Deleting the current entry while iterating is allowed. */
  *entries(): IterableIterator<[K, V]> {
    for (const [k, slot] of this.map) yield [k, slot.value];
  }
}
