import assert from 'node:assert/strict';
import { createHash, createPublicKey, createSecretKey, generateKeyPairSync, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { algorithmsForKey } from '../../src/keys/algorithms.js';
import { decodeJwks } from '../../src/keys/jwks-decode.js';
import { parseKeyFile } from '../../src/keys/key-file.js';
import { unsoundKey } from '../../src/keys/soundness.js';
import type { VerificationKey } from '../../src/keys/types.js';
import { Rejection } from '../../src/reasons.js';
import { verifySignature } from '../../src/token/signature.js';
import { parseToken } from '../../src/token/parse.js';

const fromJwk = (jwk: JsonWebKey): KeyObject => createPublicKey({ key: jwk, format: 'jwk' });
const spkiPem = (key: KeyObject): Buffer => Buffer.from(key.export({ type: 'spki', format: 'pem' }));

/** A 2048-bit RSA modulus with any public exponent (base64url, e.g. 'AQ' = 1, 'AQAB' = 65537). */
const MODULUS = String(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n);
const rsaJwk = (e: string): JsonWebKey => ({ kty: 'RSA', n: MODULUS, e });
const rsaKey = (e: string): KeyObject => fromJwk(rsaJwk(e));

/** An RSA-PSS SPKI key (OpenSSL will not generate one with e < 3) with its exponent byte patched. */
function rsaPssKey(exponent: number): KeyObject {
  const der = Buffer.from(generateKeyPairSync('rsa-pss', { modulusLength: 2048, publicExponent: 3 }).publicKey.export({ type: 'spki', format: 'der' }));
  assert.equal(der.subarray(-3).toString('hex'), '020103', 'the SPKI ends with INTEGER 3');
  der[der.length - 1] = exponent;
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** p = 2^255 - 19 */
const P = (1n << 255n) - 19n;

/** 32-byte Ed25519 encoding of y (little-endian; may be >= p), with x's sign bit. */
function ed25519Bytes(y: bigint, sign: boolean): Buffer {
  const out = Buffer.alloc(32);
  let v = y;
  for (let i = 0; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  if (sign) out[31] = (out[31] ?? 0) | 0x80;
  return out;
}
const ed25519Key = (bytes: Buffer): KeyObject => fromJwk({ kty: 'OKP', crv: 'Ed25519', x: bytes.toString('base64url') });

/** The eight small-order points by y (libsodium's blocklist), plus the non-canonical p and p+1. */
const SMALL_ORDER: readonly (readonly [string, bigint])[] = [
  ['the identity (y = 1)', 1n],
  ['the point of order 2 (y = p-1)', P - 1n],
  ['the points of order 4 (y = 0)', 0n],
  ['order-8 points (y = 2707…022)', 2707385501144840649318225287225658788936804267575313519463743609750303402022n],
  ['order-8 points (y = 5518…927)', 55188659117513257062467267217118295137698188065244968500265048394206261417927n],
  ['non-canonical y = p (0)', P],
  ['non-canonical y = p+1 (1)', P + 1n],
];
const SMALL_ORDER_ENCODINGS = SMALL_ORDER.flatMap(([name, y]) => [false, true].map((sign) => [`${name}, sign bit ${sign ? 'set' : 'clear'}`, ed25519Bytes(y, sign)] as const));

/** The identity point's encoding, used as R in EdDSA forgeries. */
const IDENTITY = ed25519Bytes(1n, false);
const SMALL_ORDER_SIGNATURE = Buffer.concat([IDENTITY, Buffer.alloc(32)]); // R = identity, S = 0

const asVerificationKey = (key: KeyObject): VerificationKey => ({ key, algorithms: algorithmsForKey(key), description: 'test key' });

const b64json = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const signingInput = (alg: string): string =>
  `${b64json({ alg, kid: 'forged', typ: 'JWT' })}.${b64json({ iss: 'https://idp.example.com', sub: 'admin', exp: 4102444800 })}`;

function parsed(token: string): Exclude<ReturnType<typeof parseToken>, Rejection> {
  const p = parseToken(token);
  if (p instanceof Rejection) assert.fail(`the token does not parse: ${p.message}`);
  return p;
}

/** EMSA-PKCS1-v1_5 (RFC 8017 §9.2) of SHA-256(data) for a 256-byte modulus. */
function pkcs1v15Sha256(data: string): Buffer {
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(data, 'latin1').digest()]);
  return Buffer.concat([Buffer.from([0x00, 0x01]), Buffer.alloc(256 - 3 - digestInfo.length, 0xff), Buffer.from([0x00]), digestInfo]);
}

describe('unsoundKey', () => {
  test('refuses an RSA key whose public exponent is 1, 0 or 2', () => {
    for (const e of ['AQ', 'AA', 'Ag']) assert.match(unsoundKey(rsaKey(e)) ?? '', /^RSA public exponent below 3/, `e=${e}`);
  });

  test('refuses an RSA key with an even public exponent (4, 65536)', () => {
    for (const e of ['BA', 'AQAA']) assert.match(unsoundKey(rsaKey(e)) ?? '', /^RSA public exponent is even/, `e=${e}`);
  });

  test('accepts RSA public exponents 3 and 65537, and generated keys', () => {
    assert.equal(rsaKey('Aw').asymmetricKeyDetails?.publicExponent, 3n);
    assert.equal(unsoundKey(rsaKey('Aw')), undefined);
    assert.equal(unsoundKey(rsaKey('AQAB')), undefined);
    assert.equal(unsoundKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey), undefined);
  });

  test('refuses an RSA-PSS key whose public exponent is 1 and accepts one with 3', () => {
    const bad = rsaPssKey(1);
    assert.equal(bad.asymmetricKeyType, 'rsa-pss');
    assert.equal(bad.asymmetricKeyDetails?.publicExponent, 1n);
    assert.match(unsoundKey(bad) ?? '', /^RSA public exponent below 3/);
    assert.equal(unsoundKey(rsaPssKey(3)), undefined);
  });

  test('refuses every small-order Ed25519 encoding, sign bit set or clear, canonical or not', () => {
    assert.equal(SMALL_ORDER_ENCODINGS.length, 14);
    for (const [name, bytes] of SMALL_ORDER_ENCODINGS) {
      assert.match(unsoundKey(ed25519Key(bytes)) ?? '', /^Ed25519 public key is a small-order point/, name);
    }
  });

  test('every refused Ed25519 encoding admits a forgery in OpenSSL (R = identity, S = 0 verifies some message)', () => {
    // Proves the blocklist holds no harmless point: [k]A is the identity for every k that is a
    // multiple of A's order, so one message in at most 8 verifies (deterministic: k is a hash).
    for (const [name, bytes] of SMALL_ORDER_ENCODINGS) {
      const key = ed25519Key(bytes);
      const forged = Array.from({ length: 64 }, (_, i) => Buffer.from(`message ${i}`)).some((m) => verify(null, m, key, SMALL_ORDER_SIGNATURE));
      assert.ok(forged, `no forgery found for ${name}`);
    }
  });

  test('accepts generated Ed25519 keys and the RFC 8032 test key', () => {
    for (let i = 0; i < 16; i++) assert.equal(unsoundKey(generateKeyPairSync('ed25519').publicKey), undefined);
    const rfc8032 = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
    assert.equal(unsoundKey(ed25519Key(rfc8032)), undefined);
  });

  test('accepts EC keys and HMAC secrets (nothing to check beyond node and algorithms.ts)', () => {
    for (const namedCurve of ['P-256', 'P-384', 'P-521']) assert.equal(unsoundKey(generateKeyPairSync('ec', { namedCurve }).publicKey), undefined);
    assert.equal(unsoundKey(createSecretKey(Buffer.alloc(32, 7))), undefined);
  });

  test('an off-curve EC point cannot even be imported, as JWK or as SPKI (unsoundKey relies on node for this)', () => {
    for (const namedCurve of ['P-256', 'P-384', 'P-521']) {
      const good = generateKeyPairSync('ec', { namedCurve }).publicKey;
      const jwk = good.export({ format: 'jwk' });
      const y = Buffer.from(String(jwk.y), 'base64url');
      y[y.length - 1] = (y[y.length - 1] ?? 0) ^ 1;
      assert.throws(() => fromJwk({ ...jwk, y: y.toString('base64url') }), Error, `${namedCurve} JWK`);
      // SPKI: the uncompressed point 04 || x || y ends the DER; flip y's last bit.
      const der = Buffer.from(good.export({ type: 'spki', format: 'der' }));
      der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 1;
      assert.throws(() => createPublicKey({ key: der, format: 'der', type: 'spki' }), Error, `${namedCurve} SPKI`);
    }
  });

  test('gives fixed reasons that never quote key material', () => {
    const reasons = [unsoundKey(rsaKey('AQ')), unsoundKey(rsaKey('Ag')), unsoundKey(ed25519Key(IDENTITY))];
    for (const r of reasons) {
      assert.ok(r !== undefined);
      assert.ok(!r.includes(MODULUS.slice(0, 16)) && !r.includes(IDENTITY.toString('base64url')), r);
    }
  });
});

describe('forgeries the soundness checks stop', () => {
  test('an RS256 token whose "signature" is the PKCS#1 v1.5 padding of its hash verifies against an e=1 key, which decodeJwks skips and a key file refuses', () => {
    const input = signingInput('RS256');
    const token = parsed(`${input}.${pkcs1v15Sha256(input).toString('base64url')}`);

    // The attack is real: with our checks bypassed, the e=1 key verifies the forgery...
    const e1 = rsaKey('AQ');
    assert.equal(verifySignature(token, asVerificationKey(e1)), undefined, 'the forgery should verify against e=1');
    // ...and only because e=1: the same modulus with e=65537 does not.
    assert.ok(verifySignature(token, asVerificationKey(rsaKey('AQAB'))) instanceof Rejection);

    // But no such key ever comes out of a JWKS or a key file.
    const d = decodeJwks({ keys: [{ ...rsaJwk('AQ'), kid: 'forged' }] });
    assert.ok(!('error' in d));
    assert.deepEqual(d.keys, []);
    assert.match(d.skipped[0]?.why ?? '', /RSA public exponent below 3/);
    const file = parseKeyFile(spkiPem(e1));
    assert.ok('error' in file && /unsound key refused: RSA public exponent below 3/.test(file.error));
  });

  test('an EdDSA token with R = identity and S = 0 verifies against the identity key, which decodeJwks skips and a key file refuses', () => {
    const input = signingInput('EdDSA');
    const token = parsed(`${input}.${SMALL_ORDER_SIGNATURE.toString('base64url')}`);

    const identity = ed25519Key(IDENTITY);
    assert.equal(verifySignature(token, asVerificationKey(identity)), undefined, 'the forgery should verify against the identity key');
    assert.ok(verifySignature(token, asVerificationKey(generateKeyPairSync('ed25519').publicKey)) instanceof Rejection);

    const d = decodeJwks({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: IDENTITY.toString('base64url'), kid: 'forged' }] });
    assert.ok(!('error' in d));
    assert.deepEqual(d.keys, []);
    assert.match(d.skipped[0]?.why ?? '', /small-order point/);
    const file = parseKeyFile(spkiPem(identity));
    assert.ok('error' in file && /unsound key refused: Ed25519 public key is a small-order point/.test(file.error));
  });
});
