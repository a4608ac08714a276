import { createPublicKey, createSecretKey, X509Certificate, type KeyObject } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { errnoCode, readError } from '../util/errno.js';
import { isObject } from '../util/strings.js';
import { algorithmsForKey, MIN_HMAC_BYTES, MIN_RSA_BITS } from './algorithms.js';
import { MAX_JWKS_BYTES } from './https-fetch.js';
import { decodeJwks, parseJwksBody, type DecodedJwks } from './jwks-decode.js';
import { unsoundKey } from './soundness.js';

/** One local key file, parsed. `error` is safe to log: it never contains key material. */
export type ParsedKey = { key: KeyObject } | { error: string };

// airlift's PemReader patterns (Trino's PEM detection), with Java's `\s` and `.` spelled out so
// JS matches exactly what Java matches. `(?<!-)` starts a match only at the first dash of a run:
// the same matches, without quadratic backtracking over long dash runs.
const S = '[ \\t\\n\\x0B\\f\\r]';
const DOT = '[^\\n\\r\\u0085\\u2028\\u2029]';
const BODY = '(?<body>[a-z0-9+/=\\r\\n]+)';
const pemPattern = (header: string, footer: string): RegExp =>
  new RegExp(`(?<!-)-+BEGIN${S}+${header}[^-]*-+${S}+${BODY}-+END${S}+${DOT}*${footer}[^-]*-+`, 'gi');
const PUBLIC_KEY_PEM = pemPattern(`(?:(?<type>${DOT}*)${S}+)?PUBLIC${S}+KEY`, `PUBLIC${S}+KEY`);
const CERTIFICATE_PEM = pemPattern(`${DOT}*CERTIFICATE`, 'CERTIFICATE');
const PRIVATE_KEY_PEM = pemPattern(`(?:${DOT}*${S}+)?PRIVATE${S}+KEY`, `PRIVATE${S}+KEY`);
// Not in Trino: a file that has a PEM armour line but no block airlift can read.
const PEM_ARMOUR = /-----BEGIN /i;

const first = (re: RegExp, text: string): RegExpExecArray | undefined => {
  re.lastIndex = 0;
  return re.exec(text) ?? undefined;
};

const EQ = 0x3d;
const isBase64Char = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;

/**
 * Decodes like Java's `Base64.getMimeDecoder()` (java.util.Base64.Decoder.decode0): every
 * character outside `A-Z a-z 0-9 + / =` is skipped; padding is optional but, when present, must
 * be complete (`xx==`, `xxx=`); `=` ends the data and only non-alphabet characters may follow
 * (further `=` included); a single leftover character in the last unit is an error.
 * Returns undefined where Java throws.
 */
export function decodeTrinoBase64(text: string): Buffer | undefined {
  // Node's base64 decoder would read `-`/`_` as 62/63; Java skips them, so collect the alphabet first.
  const data = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isBase64Char(c)) {
      data[n++] = c;
      continue;
    }
    if (c !== EQ) continue;
    const unit = n % 4;
    if (unit === 0 || unit === 1) return undefined; // padding at a unit start, or after one char
    // `xx=` needs its second `=` right away (Java reads the very next byte, no skipping).
    if (unit === 2 && text.charCodeAt(++i) !== EQ) return undefined;
    for (let j = i + 1; j < text.length; j++) if (isBase64Char(text.charCodeAt(j))) return undefined;
    break;
  }
  if (n % 4 === 1) return undefined;
  return Buffer.from(data.toString('latin1', 0, n), 'base64');
}

/** Why a loaded public key cannot be used, or undefined when some JWS algorithm can use it. */
function refusal(key: KeyObject): string | undefined {
  if (algorithmsForKey(key).size > 0) return undefined;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `RSA key of ${details.modulusLength ?? 0} bits is too short (at least ${MIN_RSA_BITS} bits required)`;
    case 'ec':
      return `EC key on curve ${details.namedCurve ?? '(explicit parameters)'} is not supported (P-256, P-384 or P-521 required)`;
    default:
      return `${String(key.asymmetricKeyType ?? 'unknown').toUpperCase()} keys are not supported (RSA, EC or Ed25519 required)`;
  }
}

const usable = (key: KeyObject): ParsedKey => {
  const unsound = unsoundKey(key);
  const problem = refusal(key) ?? (unsound === undefined ? undefined : `unsound key refused: ${unsound}`);
  return problem === undefined ? { key } : { error: problem };
};

function decodePublicKey(type: string | undefined, body: string): ParsedKey {
  const der = decodeTrinoBase64(body);
  if (der === undefined) return { error: 'the PEM PUBLIC KEY block has a broken base64 body' };
  const label = type?.trim().toUpperCase();
  if (label !== undefined && label !== 'RSA') return { error: `a PEM "${label.slice(0, 32)} PUBLIC KEY" block is not supported` };
  try {
    return usable(createPublicKey({ key: der, format: 'der', type: label === 'RSA' ? 'pkcs1' : 'spki' }));
  } catch {
    return { error: `the PEM ${label === 'RSA' ? 'RSA PUBLIC KEY (PKCS#1)' : 'PUBLIC KEY (SPKI)'} block cannot be decoded` };
  }
}

function decodeCertificate(body: string): ParsedKey {
  const der = decodeTrinoBase64(body);
  if (der === undefined) return { error: 'the PEM CERTIFICATE block has a broken base64 body' };
  try {
    // Only the key is used; validity dates and issuer are not checked (Trino trusts the key alone).
    return usable(new X509Certificate(der).publicKey);
  } catch {
    return { error: 'the PEM CERTIFICATE block cannot be decoded' };
  }
}

function parsePem(text: string): ParsedKey | undefined {
  PUBLIC_KEY_PEM.lastIndex = 0;
  const publicKeys = [...text.matchAll(PUBLIC_KEY_PEM)];
  // SPEC §4: a PEM file holds one public key; taking the first would silently ignore the others.
  if (publicKeys.length > 1) return { error: `the PEM file holds ${publicKeys.length} public keys; a key file must hold exactly one` };
  const pub = publicKeys[0];
  if (pub !== undefined) return decodePublicKey(pub.groups?.['type'], pub.groups?.['body'] ?? '');
  // A certificate chain: the first certificate is the leaf, the one whose key signs.
  const cert = first(CERTIFICATE_PEM, text);
  if (cert !== undefined) return decodeCertificate(cert.groups?.['body'] ?? '');
  if (first(PRIVATE_KEY_PEM, text) !== undefined) return { error: 'the PEM file holds a private key; configure the public key' };
  if (PEM_ARMOUR.test(text)) {
    // Trino would read this as an HMAC secret made of public text: refuse instead.
    return { error: 'the file has a PEM "-----BEGIN" line but no readable PUBLIC KEY, CERTIFICATE or PRIVATE KEY block' };
  }
  return undefined;
}

/**
 * Characters no base64 secret holds but every JSON text does, also when it is saved as UTF-16
 * (NULs between the characters) or behind a stray byte: such a file would decode, skipping them
 * as Trino does, into a "secret" made of public key text. (Other stray bytes Trino ignores.)
 */
const NOT_A_SECRET = /[{}[\]":\0]/;

function parseHmac(text: string): ParsedKey {
  if (NOT_A_SECRET.test(text)) {
    // Not in Trino: a JWKS/JSON file would become an HMAC secret derived from public data.
    return { error: 'the file looks like JSON (or is not ASCII text, e.g. UTF-16); JSON is read as a JWK Set or a JWK (parseKeySetFile), never as an HMAC secret' };
  }
  const secret = decodeTrinoBase64(text);
  if (secret === undefined) return { error: 'the file is neither a PEM public key nor valid base64 for an HMAC secret' };
  if (secret.length < MIN_HMAC_BYTES) {
    const hint = /[-_]/.test(text) ? "; '-' and '_' are ignored as Trino does, so write the secret in standard base64" : '';
    return { error: `the HMAC secret is ${secret.length} bytes after base64 decoding; at least ${MIN_HMAC_BYTES} are required${hint}` };
  }
  const key = createSecretKey(secret);
  secret.fill(0);
  return { key };
}

/**
 * Parses one key file as Trino's FileSigningKeyLocator does: a PEM public key (SPKI, PKCS#1 or
 * an X.509 certificate; RSA >= 2048 bits, EC P-256/384/521, Ed25519) or else a base64 HMAC
 * secret of at least 32 bytes.
 */
export function parseKeyFile(content: Buffer): ParsedKey {
  // Trino reads US-ASCII: every byte >= 0x80 becomes U+FFFD, which no pattern treats specially.
  const text = content.toString('latin1').replace(/[\x80-\xff]/g, '\ufffd');
  return parsePem(text) ?? parseHmac(text);
}

/** Key files are small; the cap keeps a wrong path (a log, a device) from eating memory. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;
/** A JSON key set may be as large as a fetched one (SPEC §13: the JWKS rules hold for it). */
export const MAX_KEY_SET_FILE_BYTES = MAX_JWKS_BYTES;

/** JSON (first non-blank character `{` or `[`): a key set, never an HMAC secret (SPEC §13). */
export function looksLikeJson(content: Buffer): boolean {
  for (const byte of content) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    // A UTF-8 byte order mark, as some editors write it.
    if (byte === 0xef || byte === 0xbb || byte === 0xbf) continue;
    return byte === 0x7b || byte === 0x5b;
  }
  return false;
}

/**
 * A local JWK Set (`{"keys": [...]}`) or one JWK, read with the JWKS rules of SPEC §4 and §8:
 * the same body bounds, key soundness and limits as a fetched set; unusable keys are skipped
 * with a reason; a file without a usable key is an error. `origin` (the path) ends up in key
 * descriptions.
 */
export function parseKeySetFile(content: Buffer, origin: string): DecodedJwks | { error: string } {
  if (content.length > MAX_KEY_SET_FILE_BYTES) return { error: `larger than ${MAX_KEY_SET_FILE_BYTES} bytes` };
  const parsed = parseJwksBody(content[0] === 0xef ? content.subarray(3) : content);
  if ('error' in parsed) return { error: `the file looks like JSON but ${parsed.error === 'the body is not valid JSON' ? 'is not valid JSON' : parsed.error.replace(/^the document /, 'it ')}` };
  const body = parsed.body;
  let set: unknown = body;
  if (isObject(body) && !Object.hasOwn(body, 'keys') && Object.hasOwn(body, 'kty')) set = { keys: [body] };
  else if (!isObject(body) || !Array.isArray(body['keys'])) {
    return { error: 'the JSON is neither a JWK Set ({"keys": [...]}) nor a JWK (an object with "kty")' };
  }
  const decoded = decodeJwks(set, origin);
  if ('error' in decoded) return decoded;
  if (decoded.keys.length === 0) {
    const why = decoded.skipped[0]?.why;
    return { error: `no usable key in the JSON key file${why === undefined ? '' : ` (${decoded.skipped.length} skipped; ${why})`}` };
  }
  return decoded;
}

const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);

/** Read size per call: a key file is read in a few of these, never in one large allocation. */
const READ_CHUNK = 64 * 1024;

/**
 * Reads one key file, at most `maxBytes`; O_NONBLOCK so a FIFO at the path cannot hang the
 * open. `missing` marks "no such file" (Trino: "Unknown signing key ID") as opposed to a broken one.
 */
export function readKeyFile(path: string, maxBytes = MAX_KEY_FILE_BYTES): { content: Buffer } | { error: string; missing: boolean } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e: unknown) {
    return { error: readError(e), missing: MISSING.has(errnoCode(e)) };
  }
  try {
    if (!fstatSync(fd).isFile()) return { error: 'not a regular file', missing: false };
    const chunks: Buffer[] = [];
    let n = 0;
    for (let r = 1; r > 0 && n <= maxBytes;) {
      const chunk = Buffer.alloc(Math.min(READ_CHUNK, maxBytes + 1 - n));
      r = readSync(fd, chunk, 0, chunk.length, null);
      if (r > 0) chunks.push(chunk.subarray(0, r));
      n += r;
      if (n === maxBytes + 1) break;
    }
    if (n > maxBytes) return { error: `larger than ${maxBytes} bytes`, missing: false };
    return { content: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, n) };
  } catch (e: unknown) {
    return { error: `cannot read the file (${errnoCode(e)})`, missing: false };
  } finally {
    closeSync(fd);
  }
}
