import type { Config } from '../config/types.js';
import type { Identity } from './identity.js';

interface Entry {
  /** The token, flat: it is the Map key too, and never a slice pinning a larger header string. */
  readonly token: string;
  readonly identity: Identity;
  readonly kid: string | undefined;
  readonly alg: string;
  /** Epoch ms after which the token counts as expired (exp + clock-skew). */
  readonly expiresAt: number;
  /** What this entry is charged against `cache.max-bytes`. */
  readonly bytes: number;
}

export interface CacheStats {
  onLookup?(hit: boolean): void;
}

/**
 * Estimated bytes an entry keeps alive, from measurement (node 20, 700-byte to 8 kB tokens):
 * the token string on the heap, its claims (the payload, parsed), the answer and its encoded
 * bytes (which carry the token again in the pass-through header), the Map slot and objects.
 * Measured ~3.0 KB for a 750-byte token and ~10.8 KB for a 4.1 kB one; this errs above both.
 */
export const entryBytes = (token: string): number => ENTRY_OVERHEAD_BYTES + Math.ceil(token.length * BYTES_PER_TOKEN_CHAR);
const ENTRY_OVERHEAD_BYTES = 1500;
const BYTES_PER_TOKEN_CHAR = 2.5;

/** A cache with either limit at 0 is off. */
export const cacheEnabled = (c: Config['cache']): boolean => c.maxEntries > 0 && c.maxBytes > 0;

/** Tokens are base64url and dots (parseToken checked): latin1 copies them exactly. */
const flat = (token: string): string => Buffer.from(token, 'latin1').toString('latin1');

/**
 * Verified-token cache (SPEC §3 `cache`, §8): a bounded LRU of successful verifications, keyed
 * by the token, bounded in entries and in estimated bytes. One per config generation, so a
 * reload starts empty. A hit is re-checked cheaply: not expired, and the key that verified it
 * still in the provider's current key set, so rotation and key removal take effect at once.
 * Failures are never cached.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;

  constructor(
    private readonly limits: Config['cache'],
    private readonly stats: CacheStats = {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Estimated bytes held (see entryBytes). */
  get bytes(): number {
    return this.totalBytes;
  }

  get(token: string, nowMs: number): Identity | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) {
      this.stats.onLookup?.(false);
      return undefined;
    }
    if (nowMs >= entry.expiresAt || !stillTrusted(entry)) {
      this.remove(entry);
      this.stats.onLookup?.(false);
      return undefined;
    }
    // Refresh recency: Map keeps insertion order, so the first key is the least recent.
    // Re-insert the stored key: the request's own copy of the token would be new garbage
    // promoted to old space with every hit.
    this.entries.delete(entry.token);
    this.entries.set(entry.token, entry);
    this.stats.onLookup?.(true);
    return entry.identity;
  }

  /**
   * Stores a verified token; returns the flat copy it keeps (answers built from it share that
   * one copy), or undefined when it was not stored.
   */
  set(token: string, identity: Identity, kid: string | undefined, alg: string, nowMs: number): string | undefined {
    if (!cacheEnabled(this.limits)) return undefined;
    const exp = identity.claims['exp'];
    // A token without exp never expires (as in Trino); keep it an hour at most, then re-verify.
    const expiresAt = typeof exp === 'number' ? (exp * 1000) + identity.provider.clockSkewMs : nowMs + 3_600_000;
    const bytes = entryBytes(token);
    if (expiresAt <= nowMs || bytes > this.limits.maxBytes) return undefined;
    const previous = this.entries.get(token);
    if (previous !== undefined) this.remove(previous);
    while (this.entries.size > 0 && (this.entries.size >= this.limits.maxEntries || this.totalBytes + bytes > this.limits.maxBytes)) {
      const oldest = this.entries.values().next();
      if (oldest.done === true) break;
      this.remove(oldest.value);
    }
    const kept = flat(token);
    this.entries.set(kept, { token: kept, identity, kid, alg, expiresAt, bytes });
    this.totalBytes += bytes;
    return kept;
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.token);
    this.totalBytes -= entry.bytes;
  }
}

/** The verifying key must still be what the provider would use for this token now. */
function stillTrusted(entry: Entry): boolean {
  const keys = entry.identity.provider.keys.lookup(entry.kid, entry.alg);
  return Array.isArray(keys) && keys.includes(entry.identity.key);
}
