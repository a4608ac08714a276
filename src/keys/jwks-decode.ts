import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { MIN_RSA_BITS, algorithmsForKey, describeKey } from './algorithms.js';
import { unsoundKey } from './soundness.js';
import { isObject } from '../util/strings.js';
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
 * At most this many entries of a `keys` array are looked at; the rest are skipped with one
 * summary reason. Importing a key costs 20–80 µs, so this bounds the work a fetch can cause
 * (SPEC §8); real IdPs publish a handful of keys.
 */
export const MAX_JWKS_KEYS = 256;

/**
 * More arrays and objects than a set of MAX_JWKS_KEYS keys needs (a key, its x5c) by far.
 * JSON.parse spends ~0.6 µs on each: a 1 MiB body of `[[],[],...]` or `[[[...]]]` would
 * hold the event loop for 300 ms.
 */
export const MAX_JSON_CONTAINERS = 10_000;

/** Occurrences of one byte, counting stops once past `limit`: at most limit + 1 native searches. */
function countUpTo(bytes: Buffer, byte: number, limit: number): number {
  let n = 0;
  for (let i = bytes.indexOf(byte); i >= 0 && n <= limit; i = bytes.indexOf(byte, i + 1)) n++;
  return n;
}

/**
 * JSON.parse of the body, unless it opens more than MAX_JSON_CONTAINERS arrays and objects
 * (brackets inside strings count too: an over-count only a hostile set can reach).
 */
export function parseJwksBody(bytes: Buffer): { body: unknown } | { error: string } {
  const arrays = countUpTo(bytes, 0x5b, MAX_JSON_CONTAINERS);
  if (arrays + countUpTo(bytes, 0x7b, MAX_JSON_CONTAINERS - arrays) > MAX_JSON_CONTAINERS) {
    return { error: `the document holds more than ${MAX_JSON_CONTAINERS} arrays and objects` };
  }
  try {
    return { body: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return { error: 'the body is not valid JSON' };
  }
}

/**
 * The decoding work, one entry per step, so that a caller can spread a large set over several
 * turns of the event loop (decodeJwksInSlices) or drain it at once (decodeJwks).
 */
function* decodeSteps(body: unknown, origin: string | undefined): Generator<void, DecodedJwks | { error: string }> {
  if (!isObject(body)) return { error: 'the document is not a JSON object' };
  const list = body['keys'];
  if (!Array.isArray(list)) return { error: 'the document has no "keys" array' };
  const keys: VerificationKey[] = [];
  const skipped: { kid?: string; why: string }[] = [];
  const kids = new Set<string>();
  const where = origin === undefined ? '' : ` ${origin}`;
  const count = Math.min(list.length, MAX_JWKS_KEYS);
  for (let i = 0; i < count; i++) {
    const entry: unknown = list[i];
    const skip = (why: string, kid?: string): void => {
      skipped.push(kid === undefined ? { why: `key #${i}: ${why}` } : { kid, why: `key #${i}: ${why}` });
    };
    yield;
    if (!isObject(entry)) {
      skip('not a JSON object');
      continue;
    }
    const kid = entry['kid'];
    if (kid !== undefined && typeof kid !== 'string') {
      skip('"kid" is not a string');
      continue;
    }
    if (kid !== undefined && kid.length > MAX_KID_LENGTH) {
      skip(`"kid" longer than ${MAX_KID_LENGTH} characters`, kid.slice(0, 64));
      continue;
    }
    if (entry['use'] === 'enc') {
      skip('encryption key (use "enc")', kid);
      continue;
    }
    // First usable key wins, so a broken first copy does not hide a good second one.
    if (kid !== undefined && kids.has(kid)) {
      skip('duplicate "kid"; the first key with it is used', kid);
      continue;
    }
    const built = publicJwk(entry);
    if ('why' in built) {
      skip(built.why, kid);
      continue;
    }
    const key = importKey(built.jwk);
    if ('why' in key) {
      skip(key.why, kid);
      continue;
    }
    if (kid !== undefined) kids.add(kid);
    const description = `${describeKey(key)} ${kid === undefined ? '(no kid)' : `kid=${JSON.stringify(kid)}`}${where}`;
    keys.push({ ...(kid === undefined ? {} : { kid }), key, algorithms: algorithmsForKey(key), description });
  }
  if (list.length > count) skipped.push({ why: `keys #${count}–#${list.length - 1}: only the first ${MAX_JWKS_KEYS} keys of a set are read` });
  return { keys, skipped };
}

/**
 * Decodes a parsed JWKS document. Tolerant: a key we cannot or will not use is skipped with a
 * reason; only a document that is not `{ "keys": [...] }` is an error. `origin` (host and path of
 * the URL) ends up in key descriptions.
 */
export function decodeJwks(body: unknown, origin?: string): DecodedJwks | { error: string } {
  const steps = decodeSteps(body, origin);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** Longest run of decoding between two turns of the event loop. */
const SLICE_MS = 5;

/**
 * decodeJwks, giving the event loop back every SLICE_MS: checks on every provider keep being
 * answered while a large set is imported (SPEC §8).
 */
export async function decodeJwksInSlices(body: unknown, origin?: string): Promise<DecodedJwks | { error: string }> {
  const steps = decodeSteps(body, origin);
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}
