import type { KeyObject } from 'node:crypto';
import type { JwsAlgorithm } from '../util/jws.js';

export { JWS_ALGORITHMS, isJwsAlgorithm, type JwsAlgorithm } from '../util/jws.js';

export const MIN_RSA_BITS = 2048;
export const MIN_HMAC_BYTES = 32;

const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
const EC_BY_CURVE: Readonly<Record<string, JwsAlgorithm>> = {
  'prime256v1': 'ES256',
  'secp384r1': 'ES384',
  'secp521r1': 'ES512',
};

/**
 * The algorithms a key can verify, as jjwt/jose decide it: RSA keys verify RS* and PS*,
 * an EC key only the ES* of its curve, Ed25519 EdDSA, and an HMAC secret every HS* whose
 * hash is no longer than the secret (a 32-byte secret verifies HS256 only).
 * Returns an empty set for keys we refuse (short RSA, unknown curves, other types).
 */
export function algorithmsForKey(key: KeyObject): ReadonlySet<JwsAlgorithm> {
  if (key.type === 'secret') {
    const size = key.symmetricKeySize ?? 0;
    const algs: JwsAlgorithm[] = [];
    if (size >= 32) algs.push('HS256');
    if (size >= 48) algs.push('HS384');
    if (size >= 64) algs.push('HS512');
    return new Set(algs);
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return (details.modulusLength ?? 0) >= MIN_RSA_BITS ? new Set(RSA) : new Set();
    case 'rsa-pss':
      return (details.modulusLength ?? 0) >= MIN_RSA_BITS ? new Set(['PS256', 'PS384', 'PS512'] as const) : new Set();
    case 'ec': {
      const alg = EC_BY_CURVE[details.namedCurve ?? ''];
      return alg === undefined ? new Set() : new Set([alg]);
    }
    case 'ed25519':
      return new Set(['EdDSA', 'Ed25519'] as const);
    default:
      return new Set();
  }
}

/** Short, non-secret description of a key for logs: `RSA-2048`, `EC-P-256`, `HMAC-32B`. */
export function describeKey(key: KeyObject): string {
  if (key.type === 'secret') return `HMAC-${key.symmetricKeySize ?? 0}B`;
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `RSA-${d.modulusLength ?? 0}`;
    case 'ec':
      return `EC-${d.namedCurve ?? '?'}`;
    default:
      return String(key.asymmetricKeyType ?? 'unknown').toUpperCase();
  }
}
