import type { KeyObject } from 'node:crypto';

/**
 * SPEC §8: keys must be sound whatever a JWKS or a key file says. Two kinds of public key that
 * node:crypto imports without complaint let anyone forge signatures:
 *
 * - RSA with public exponent 1: `s^1 mod n = s`, so the EMSA-PKCS1-v1_5 encoding of the hash is
 *   itself a valid RS256 "signature". Exponent 0 is as bad, and an even exponent is no RSA key at
 *   all (never coprime to φ(n)), so: odd and at least 3.
 * - Ed25519 small-order points (the identity, and the points of order 2, 4 and 8): with R = the
 *   identity and S = 0, `[S]B = R + [k]A` holds for every message whose k kills A (for the
 *   identity: every message), and OpenSSL does not check the key's order.
 *
 * Not checked here:
 * - EC points off their curve: node's createPublicKey already refuses them, as JWK and as SPKI
 *   (test/keys/soundness.test.ts fails if that ever changes).
 * - RSA modulus size (at least 2048 bits): algorithms.ts, which every caller already applies.
 */

/** 2^255 - 19, the field prime of Curve25519. */
const P = (1n << 255n) - 19n;

/**
 * The y-coordinates of Ed25519's eight small-order points (libsodium's blocklist): 1 (identity),
 * p-1 (order 2), 0 (order 4, x = ±√-1) and the two of order 8. A key encoding is compared after
 * clearing the sign bit and reducing mod p, which also catches the non-canonical encodings p
 * and p+1 of 0 and 1.
 */
const SMALL_ORDER_Y: ReadonlySet<bigint> = new Set([
  0n,
  1n,
  P - 1n,
  2707385501144840649318225287225658788936804267575313519463743609750303402022n,
  55188659117513257062467267217118295137698188065244968500265048394206261417927n,
]);

function ed25519IsSmallOrder(key: KeyObject): boolean {
  const x = key.export({ format: 'jwk' }).x;
  const bytes = typeof x === 'string' ? Buffer.from(x, 'base64url') : Buffer.alloc(0);
  if (bytes.length !== 32) return true; // cannot happen for an imported key; fail closed
  let y = 0n;
  // Little-endian; the top bit of the last byte is x's sign, not part of y.
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? (bytes[i] ?? 0) & 0x7f : (bytes[i] ?? 0));
  return SMALL_ORDER_Y.has(y % P);
}

/**
 * Why a public key must not be used even though node:crypto imported it, or undefined when it is
 * sound. The reason is a fixed phrase, never key material. Cheap; meant to run once per key load.
 */
export function unsoundKey(key: KeyObject): string | undefined {
  if (key.type !== 'public') return undefined;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      const e = key.asymmetricKeyDetails?.publicExponent;
      if (e === undefined) return 'RSA key without a readable public exponent';
      if (e < 3n) return 'RSA public exponent below 3 (anyone could forge signatures)';
      if (e % 2n === 0n) return 'RSA public exponent is even (not a valid RSA key)';
      return undefined;
    }
    case 'ed25519':
      return ed25519IsSmallOrder(key) ? 'Ed25519 public key is a small-order point (anyone could forge signatures)' : undefined;
    default:
      return undefined;
  }
}
