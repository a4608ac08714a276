/**
 * A set of keys looked up the JWKS way (SPEC §4): by `kid`, or for a token without `kid` the
 * first few keys that fit its `alg`. Shared by fetched key sets and local JWKS files (SPEC §13).
 */
import { JWS_ALGORITHMS } from './algorithms.js';
import type { VerificationKey } from './types.js';

/** A token without `kid` is tried against at most this many keys that fit its `alg` (SPEC §8). */
export const MAX_KIDLESS_KEYS = 8;

/** Indexed so that a lookup hit allocates nothing. */
export interface KeySet {
  readonly size: number;
  readonly byKid: ReadonlyMap<string, readonly VerificationKey[]>;
  readonly byAlg: ReadonlyMap<string, readonly VerificationKey[]>;
}

export function indexKeys(keys: readonly VerificationKey[]): KeySet {
  const byKid = new Map<string, readonly VerificationKey[]>();
  for (const k of keys) if (k.kid !== undefined) byKid.set(k.kid, Object.freeze([k]));
  const byAlg = new Map<string, readonly VerificationKey[]>();
  for (const alg of JWS_ALGORITHMS) {
    // The first few in document order: each one tried costs a signature check.
    const fit = keys.filter((k) => k.algorithms.has(alg)).slice(0, MAX_KIDLESS_KEYS);
    if (fit.length > 0) byAlg.set(alg, Object.freeze(fit));
  }
  return { size: keys.length, byKid, byAlg };
}

/**
 * The keys to try for a token, or undefined when none fits: a key with the token's kid, or for a
 * token without kid the keys that fit its alg. A key without `kid` only answers tokens without one.
 */
export const findKeys = (set: KeySet, kid: string | undefined, alg: string): readonly VerificationKey[] | undefined =>
  kid === undefined ? set.byAlg.get(alg) : set.byKid.get(kid);

/** Skipped keys reported one by one per load; the rest are summed up in one report. */
export const MAX_SKIP_REPORTS = 5;

export interface SkipReport { readonly kid?: string; readonly why: string; readonly more?: number }

/** What to log of the keys a load skipped: a set of thousands of broken keys must not write thousands of lines. */
export function skipReports(skipped: readonly { readonly kid?: string; readonly why: string }[]): SkipReport[] {
  const out: SkipReport[] = skipped.slice(0, MAX_SKIP_REPORTS);
  const more = skipped.length - out.length;
  if (more > 0) out.push({ why: `and ${more} more keys skipped`, more });
  return out;
}
