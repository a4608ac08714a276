import type { Identity } from './decide.js';

interface Entry {
  /** The token string first stored: re-inserting it (not the request's fresh copy) keeps one long-lived key. */
  readonly token: string;
  readonly identity: Identity;
  readonly kid: string | undefined;
  readonly alg: string;
  /** Epoch ms after which the token counts as expired (exp + clock-skew). */
  readonly expiresAt: number;
}

export interface CacheStats {
  onLookup?(hit: boolean): void;
}

/**
 * Verified-token cache (SPEC §3 `cache`): a bounded LRU of successful verifications, keyed by
 * the token. One per config generation, so a reload starts empty. A hit is re-checked cheaply:
 * not expired, and the key that verified it still in the provider's current key set, so
 * rotation and key removal take effect at once. Failures are never cached.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly stats: CacheStats = {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string, nowMs: number): Identity | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) {
      this.stats.onLookup?.(false);
      return undefined;
    }
    if (nowMs >= entry.expiresAt || !stillTrusted(entry)) {
      this.entries.delete(token);
      this.stats.onLookup?.(false);
      return undefined;
    }
    // Refresh recency: Map keeps insertion order, so the first key is the least recent.
    // Re-insert the stored key: the request's own copy of the token would be new garbage
    // promoted to old space with every hit.
    this.entries.delete(token);
    this.entries.set(entry.token, entry);
    this.stats.onLookup?.(true);
    return entry.identity;
  }

  set(token: string, identity: Identity, kid: string | undefined, alg: string, nowMs: number): void {
    if (this.maxEntries <= 0) return;
    const exp = identity.claims['exp'];
    // A token without exp never expires (as in Trino); keep it an hour at most, then re-verify.
    const expiresAt = typeof exp === 'number' ? (exp * 1000) + identity.provider.clockSkewMs : nowMs + 3_600_000;
    if (expiresAt <= nowMs) return;
    if (this.entries.size >= this.maxEntries && !this.entries.has(token)) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { token, identity, kid, alg, expiresAt });
  }
}

/** The verifying key must still be what the provider would use for this token now. */
function stillTrusted(entry: Entry): boolean {
  const keys = entry.identity.provider.keys.lookup(entry.kid, entry.alg);
  return Array.isArray(keys) && keys.includes(entry.identity.key);
}
