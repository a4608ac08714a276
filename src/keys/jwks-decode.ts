import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { MIN_RSA_BITS, algorithmsForKey, describeKey } from './algorithms.js';
import { unsoundKey } from './soundness.js';
import type { VerificationKey } from './types.js';

export interface DecodedJwks { keys: VerificationKey[]; skipped: { kid?: string; why: string }[] }

/** Longer kids are never looked up (jwks-source answers `unknown_key`), so such keys are useless. */
export const MAX_KID_LENGTH = 256;

const EC_CURVES: ReadonlySet<string> = new Set(['P-256', 'P-384', 'P-521']);
const OKP_CURVES: ReadonlySet<string> = new Set(['Ed25519']);

/** Base64url as Java's strict decoder takes it: no `+ /` or whitespace, padding optional but exact. */
const B64URL = /^([A-Za-z0-9_-]+)(={0,2})$/;

/** The unpadded value, or undefined when `v` is not strict base64url (node's decoder is lenient). */
function b64url(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = B64URL.exec(v);
  const body = m?.[1];
  if (m === null || body === undefined) return undefined;
  const pad = m[2]?.length ?? 0;
  // A lone final character carries fewer than 8 bits: not a whole byte.
  if (body.length % 4 === 1) return undefined;
  if (pad > 0 && (body.length + pad) % 4 !== 0) return undefined;
  return body;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Built = { jwk: JsonWebKey } | { why: string };

/** Copies only the public members (never `d`, `p`, `q`, ...), re-encoded without padding. */
function publicJwk(o: Record<string, unknown>): Built {
  const kty = o['kty'];
  if (kty === undefined) return { why: 'no "kty"' };
  if (typeof kty !== 'string') return { why: '"kty" is not a string' };
  // Every named member, strictly decoded; or the reason one is missing or broken.
  const members = (...names: string[]): Record<string, string> | string => {
    const out: Record<string, string> = {};
    for (const name of names) {
      if (o[name] === undefined) return `${kty} key without "${name}"`;
      const value = b64url(o[name]);
      if (value === undefined) return `"${name}" is not valid base64url`;
      out[name] = value;
    }
    return out;
  };
  switch (kty) {
    case 'RSA': {
      const m = members('n', 'e');
      return typeof m === 'string' ? { why: m } : { jwk: { kty, n: String(m['n']), e: String(m['e']) } };
    }
    case 'EC':
    case 'OKP': {
      const crv = o['crv'];
      const curves = kty === 'EC' ? EC_CURVES : OKP_CURVES;
      if (typeof crv !== 'string' || !curves.has(crv)) {
        return { why: `unsupported ${kty} curve ${typeof crv === 'string' ? JSON.stringify(crv.slice(0, 32)) : '(none)'}` };
      }
      const m = kty === 'EC' ? members('x', 'y') : members('x');
      if (typeof m === 'string') return { why: m };
      const x = String(m['x']);
      return { jwk: kty === 'EC' ? { kty, crv, x, y: String(m['y']) } : { kty, crv, x } };
    }
    case 'oct':
      // HMAC secrets come only from local files; a published secret is no secret.
      return { why: 'symmetric ("oct") keys are not used from a JWKS' };
    default:
      return { why: `unsupported kty ${JSON.stringify(kty.slice(0, 32))}` };
  }
}

function importKey(jwk: JsonWebKey): KeyObject | { why: string } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    // node's message may quote parts of the key: give a fixed reason.
    return { why: `${String(jwk.kty)} key refused by node:crypto (invalid parameters)` };
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (jwk.kty === 'RSA' && (bits ?? 0) < MIN_RSA_BITS) return { why: `RSA key of ${bits ?? 0} bits; at least ${MIN_RSA_BITS} required` };
  const unsound = unsoundKey(key);
  if (unsound !== undefined) return { why: unsound };
  if (algorithmsForKey(key).size === 0) return { why: `${describeKey(key)} key verifies no supported algorithm` };
  return key;
}

/**
 * Decodes a parsed JWKS document. Tolerant: a key we cannot or will not use is skipped with a
 * reason; only a document that is not `{ "keys": [...] }` is an error. `origin` (host and path of
 * the URL) ends up in key descriptions.
 */
export function decodeJwks(body: unknown, origin?: string): DecodedJwks | { error: string } {
  if (!isObject(body)) return { error: 'the document is not a JSON object' };
  const list = body['keys'];
  if (!Array.isArray(list)) return { error: 'the document has no "keys" array' };
  const keys: VerificationKey[] = [];
  const skipped: { kid?: string; why: string }[] = [];
  const kids = new Set<string>();
  list.forEach((entry: unknown, i) => {
    const skip = (why: string, kid?: string): void => {
      skipped.push(kid === undefined ? { why: `key #${i}: ${why}` } : { kid, why: `key #${i}: ${why}` });
    };
    if (!isObject(entry)) return skip('not a JSON object');
    const rawKid = entry['kid'];
    if (rawKid !== undefined && typeof rawKid !== 'string') return skip('"kid" is not a string');
    const kid = rawKid;
    if (kid !== undefined && kid.length > MAX_KID_LENGTH) return skip(`"kid" longer than ${MAX_KID_LENGTH} characters`, kid.slice(0, 64));
    if (entry['use'] === 'enc') return skip('encryption key (use "enc")', kid);
    const built = publicJwk(entry);
    if ('why' in built) return skip(built.why, kid);
    const key = importKey(built.jwk);
    if ('why' in key) return skip(key.why, kid);
    // First usable key wins, so a broken first copy does not hide a good second one.
    if (kid !== undefined) {
      if (kids.has(kid)) return skip('duplicate "kid"; the first key with it is used', kid);
      kids.add(kid);
    }
    const where = origin === undefined ? '' : ` ${origin}`;
    const description = `${describeKey(key)} ${kid === undefined ? '(no kid)' : `kid=${JSON.stringify(kid)}`}${where}`;
    keys.push({ ...(kid === undefined ? {} : { kid }), key, algorithms: algorithmsForKey(key), description });
    return undefined;
  });
  return { keys, skipped };
}
