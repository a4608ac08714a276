import { isJwsAlgorithm, type JwsAlgorithm } from '../util/jws.js';
import { reject, type Rejection } from '../reasons.js';
import { BoundedMap } from '../util/bounded-map.js';

/** A compact JWS split and decoded, not yet verified. */
export interface ParsedToken {
  readonly token: string;
  readonly alg: JwsAlgorithm;
  readonly kid: string | undefined;
  readonly payload: Readonly<Record<string, unknown>>;
  /** Unverified `iss`, only to pick the provider; empty counts as absent (as jjwt drops it). */
  readonly issuer: string | undefined;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

// Decoded parts go through one reusable buffer, not a fresh Buffer per part and check.
let scratch = Buffer.allocUnsafeSlow(8 * 1024);

function decodeJsonObject(part: string): Record<string, unknown> | undefined {
  if (part === '' || !B64URL.test(part) || part.length % 4 === 1) return undefined;
  // 4 base64url characters carry 3 bytes.
  const size = Math.ceil(part.length / 4) * 3;
  if (size > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(size, scratch.length * 2));
  const n = scratch.write(part, 0, 'base64url');
  let value: unknown;
  try {
    value = JSON.parse(scratch.toString('utf8', 0, n));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

// Tokens of one issuer share their header segment (alg, kid, typ): remember the decoded
// headers of a few, bounded in count and in the length of a segment remembered.
const HEADER_MEMO_MAX = 64;
const HEADER_MEMO_MAX_CHARS = 512;
const headerMemo = new BoundedMap<string, Readonly<Record<string, unknown>>>(HEADER_MEMO_MAX);

function decodeHeader(part: string): Readonly<Record<string, unknown>> | undefined {
  const known = headerMemo.get(part);
  if (known !== undefined) return known;
  const header = decodeJsonObject(part);
  if (header === undefined || part.length > HEADER_MEMO_MAX_CHARS) return header;
  // The key is a copy: `part` is a slice that can keep a whole Cookie header alive.
  // The value is shared between checks: frozen, and only ever read.
  headerMemo.set(Buffer.from(part, 'latin1').toString('latin1'), Object.freeze(header));
  return header;
}

/**
 * Structural checks in jjwt's order (reference trino-jwt.md §2.2), before any key is touched:
 * shape, header, `alg`, empty signature, payload. Signature and claims come later.
 */
export function parseToken(token: string): ParsedToken | Rejection {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  const third = second < 0 ? -1 : token.indexOf('.', second + 1);
  if (third >= 0) {
    const dots = token.split('.').length - 1;
    return dots === 4
      ? reject('encrypted_token', 'encrypted tokens (JWE) are not supported')
      : reject('malformed_token', `a JWT has three parts separated by dots, found ${dots + 1}`);
  }
  if (second < 0) return reject('malformed_token', `a JWT has three parts separated by dots, found ${first < 0 ? 1 : 2}`);

  const header = decodeHeader(token.slice(0, first));
  if (header === undefined) return reject('malformed_token', 'the JWT header is not base64url-encoded JSON object');
  const alg = header['alg'];
  if (typeof alg !== 'string' || alg === '') return reject('algorithm_not_allowed', 'the JWT header has no "alg"');
  if (alg.toLowerCase() === 'none') return reject('algorithm_not_allowed', 'unsecured JWTs (alg "none") are never accepted');
  if (!isJwsAlgorithm(alg)) return reject('algorithm_not_allowed', `unsupported algorithm "${alg.slice(0, 20)}"`);
  const kid = header['kid'];
  if (kid !== undefined && typeof kid !== 'string') return reject('malformed_token', 'the JWT header "kid" is not a string');
  if (second === token.length - 1) return reject('invalid_signature', 'the JWT has an empty signature');
  if (header['crit'] !== undefined) return reject('malformed_token', 'the JWT header lists "crit" extensions, none are supported');
  const signature = token.slice(second + 1);
  if (!B64URL.test(signature) || signature.length % 4 === 1) return reject('malformed_token', 'the JWT signature is not base64url');

  const payload = decodeJsonObject(token.slice(first + 1, second));
  if (payload === undefined) return reject('malformed_token', 'the JWT payload is not a base64url-encoded JSON object');
  const iss = payload['iss'];
  return { token, alg, kid, payload, issuer: typeof iss === 'string' && iss !== '' ? iss : undefined };
}

const isStringArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Registered claims of the wrong type (SPEC §5 step 3, jjwt's conversion rules): `iss`, `sub`,
 * `jti` strings (null: absent); `aud` a string or string array; `exp`, `nbf`, `iat` numbers (null refused).
 * Checked after the signature, like jjwt.
 */
export function checkClaimTypes(payload: Readonly<Record<string, unknown>>): Rejection | undefined {
  for (const name of ['iss', 'sub', 'jti'] as const) {
    const v = payload[name];
    if (v !== undefined && v !== null && typeof v !== 'string') return reject('invalid_claims', `the "${name}" claim is not a string`);
  }
  const aud = payload['aud'];
  if (aud !== undefined && aud !== null && typeof aud !== 'string' && !isStringArray(aud)) {
    return reject('invalid_claims', 'the "aud" claim is not a string or an array of strings');
  }
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const v = payload[name];
    // JSON null is no number either (SPEC §5), though jjwt would drop it as absent.
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
      return reject('invalid_claims', `the "${name}" claim is not a number`);
    }
  }
  return undefined;
}
