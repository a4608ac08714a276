import type { Config } from '../config/types.js';
import { BoundedMap } from '../util/bounded-map.js';
import { Doorkeeper } from '../util/doorkeeper.js';
import type { Identity } from './identity.js';

interface Entry {
  /** The token, flat: never a slice pinning a larger header string. */
  readonly token: string;
  /** The Map key: the token's last KEY_CHARS characters, a slice of `token`. */
  readonly key: string;
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
 * Estimated bytes an entry keeps alive, measured (node 20, test/authz/cache-bytes.test.ts: heap
 * and off-heap bytes a filled cache adds, per entry, through the real authorizer and codec): the
 * token string (one copy, shared by the key and the answer), its claims (the whole payload,
 * parsed: checks on a hit may read any claim), the identity, the kept answer (what it is built
 * from, see response.ts) and its bytes without the token (the codec writes it in at send time),
 * the tables' slots. Claims cost more per character than the token: a group id is 52 characters
 * of token and 64 bytes of heap. Measured 1.7 KB for a 340-character token, 2.0 KB for 440,
 * 4.2 KB for 1 380 (20 groups), 10.5 KB for 4 240, 19.1 KB for 8 140 (150 groups); this errs
 * above each, by at most 1.2x. (Claims built to be dense, say `[{},{},…]`, cost more; but a
 * token is cached only once its signature verified.)
 */
export const entryBytes = (token: string): number => ENTRY_OVERHEAD_BYTES + Math.ceil(token.length * 2.3);
const ENTRY_OVERHEAD_BYTES = 1200;

/** A cache with either limit at 0 is off. */
export const cacheEnabled = (c: Config['cache']): boolean => c.maxEntries > 0 && c.maxBytes > 0;

/**
 * The Map is keyed by the token's last characters (signature bytes) and a hit compares the
 * whole token: V8 hashes a string key in full on every lookup of a fresh request string, about
 * 2 µs for a 1 000-character token; 32 characters hash in a few ns, and equal strings compare
 * fast. Two tokens with one key simply share the slot.
 */
const KEY_CHARS = 32;
const keyOf = (token: string): string => (token.length <= KEY_CHARS ? token : token.slice(-KEY_CHARS));

/** Tokens are base64url and dots (parseToken checked): latin1 copies them exactly. */
const flat = (token: string): string => Buffer.from(token, 'latin1').toString('latin1');

/**
 * Verified-token cache (SPEC §3 `cache`, §8): a bounded LRU of successful verifications, keyed
 * by the token, bounded in entries and in estimated bytes. One per config generation, so a
 * reload starts empty. A hit is re-checked cheaply: not expired, and the key that verified it
 * still in the provider's current key set, so rotation and key removal take effect at once.
 * Failures are never cached. Once full, it lets a token in (evicting the least recently used)
 * only on its second verification within the doorkeeper's window: a flood of one-use tokens
 * then leaves the cache as it was instead of turning every entry into garbage.
 */
export class TokenCache {
  private readonly entries: BoundedMap<string, Entry>;
  private readonly doorkeeper = new Doorkeeper();

  constructor(
    private readonly limits: Config['cache'],
    private readonly stats: CacheStats = {},
  ) {
    this.entries = new BoundedMap(limits.maxEntries, { maxWeight: limits.maxBytes, weigh: (e) => e.bytes });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Estimated bytes held (see entryBytes). */
  get bytes(): number {
    return this.entries.totalWeight;
  }

  get(token: string, nowMs: number): Identity | undefined {
    // Counted as used before the checks below: a slot shared by two tokens or an expired
    // entry (deleted at once) only moves in the eviction order.
    const entry = this.entries.use(keyOf(token));
    if (entry === undefined || entry.token !== token) {
      this.stats.onLookup?.(false);
      return undefined;
    }
    if (nowMs >= entry.expiresAt || !stillTrusted(entry)) {
      this.entries.delete(entry.key);
      this.stats.onLookup?.(false);
      return undefined;
    }
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
    if (expiresAt <= nowMs) return undefined;
    const bytes = entryBytes(token);
    const probe = keyOf(token);
    if (!this.entries.hasRoomFor(probe, bytes) && !this.doorkeeper.admit(probe)) return undefined;
    const kept = flat(token);
    const key = keyOf(kept);
    return this.entries.set(key, { token: kept, key, identity, kid, alg, expiresAt, bytes }) ? kept : undefined;
  }
}

/** The verifying key must still be what the provider would use for this token now. */
function stillTrusted(entry: Entry): boolean {
  const keys = entry.identity.provider.keys.lookup(entry.kid, entry.alg);
  return Array.isArray(keys) && keys.includes(entry.identity.key);
}
