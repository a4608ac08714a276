import { constants, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { JwsAlgorithm } from '../util/jws.js';
import type { VerificationKey } from '../keys/types.js';
import { reject, type Rejection } from '../reasons.js';
import type { ParsedToken } from './parse.js';

const BAD_SIGNATURE = reject('invalid_signature', 'the JWT signature does not verify');

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' } as const;
/** ES* signatures are the raw r||s pair (RFC 7518 §3.4), each half the curve's byte size. */
const EC_SIGNATURE_BYTES = { ES256: 64, ES384: 96, ES512: 132 } as const;

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } as const;

function verifyBytes(alg: JwsAlgorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  switch (alg) {
    case 'HS256':
    case 'HS384':
    case 'HS512': {
      const mac = createHmac(HASH[alg.slice(2) as '256'], key).update(data).digest();
      return mac.length === signature.length && timingSafeEqual(mac, signature);
    }
    case 'RS256':
    case 'RS384':
    case 'RS512':
      return verify(HASH[alg.slice(2) as '256'], data, key, signature);
    case 'PS256':
    case 'PS384':
    case 'PS512':
      return verify(HASH[alg.slice(2) as '256'], data, { key, ...PSS }, signature);
    case 'ES256':
    case 'ES384':
    case 'ES512':
      return signature.length === EC_SIGNATURE_BYTES[alg] && verify(HASH[alg.slice(2) as '256'], data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    case 'EdDSA':
    case 'Ed25519':
      return verify(null, data, key, signature);
  }
}

/**
 * Verifies the JWS signature synchronously with node:crypto (about 3× cheaper than jose's
 * WebCrypto path for RS256, and no promise on the hot path). The caller has already checked
 * that `parsed.alg` is allowed for the provider and usable with this key (algorithms.ts), so
 * this is only the math; test/token/signature.test.ts holds it to jose's verdicts.
 */
export function verifySignature(parsed: ParsedToken, key: VerificationKey): Rejection | undefined {
  const token = parsed.token;
  const end = token.lastIndexOf('.');
  const signature = Buffer.from(token.slice(end + 1), 'base64url');
  try {
    return verifyBytes(parsed.alg, key.key, Buffer.from(token.slice(0, end), 'latin1'), signature) ? undefined : BAD_SIGNATURE;
  } catch {
    // node:crypto throws on some malformed signatures (e.g. an RSA signature of the wrong size).
    return BAD_SIGNATURE;
  }
}
