import type { KeyObject } from 'node:crypto';
import type { Rejection } from '../reasons.js';

/** One key that can verify signatures: a public key, or an HMAC secret. */
export interface VerificationKey {
  /** `kid` of a JWKS key, or the (sanitised) kid a template file was loaded for. */
  readonly kid?: string;
  readonly key: KeyObject;
  /** JWS `alg` values this key can verify at all (see algorithms.ts). */
  readonly algorithms: ReadonlySet<string>;
  /** For logs and `verify` output, never secret: e.g. `RSA-2048 /etc/keys/a.pem`. */
  readonly description: string;
}

export type KeyLookupResult = readonly VerificationKey[] | Rejection;

/**
 * Where a provider's keys come from. `lookup` is synchronous when the answer is at hand; it may
 * return a promise only when keys have to be fetched (JWKS unknown-kid refetch).
 * An empty array means "no key fits" and becomes `unknown_key`.
 */
export interface KeySource {
  lookup(kid: string | undefined, alg: string): KeyLookupResult | Promise<KeyLookupResult>;
  /** True once a usable key set is loaded (always true for file keys). */
  readonly ready: boolean;
  /** Usable keys held now, where one file or set holds them all (not for `${KID}` templates). */
  readonly size?: number;
  /** Stop watchers and timers. */
  close(): void;
}
