import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { jwtVerify, SignJWT } from 'jose';
import { algorithmsForKey } from '../../src/keys/algorithms.js';
import { decodeTrinoBase64, parseKeyFile, type ParsedKey } from '../../src/keys/key-file.js';

const spki = (key: KeyObject): Buffer => Buffer.from(key.export({ type: 'spki', format: 'pem' }));

function parsedKey(result: ParsedKey): KeyObject {
  if ('error' in result) assert.fail(`expected a key, got error: ${result.error}`);
  return result.key;
}

function parsedError(result: ParsedKey): string {
  if (!('error' in result)) assert.fail(`expected an error, got a ${result.key.type} key`);
  return result.error;
}

const sameKey = (a: KeyObject, b: KeyObject): boolean => a.equals(b);

async function roundTrip(alg: string, signWith: KeyObject | Uint8Array, verifyWith: KeyObject): Promise<void> {
  const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg }).sign(signWith);
  const { payload } = await jwtVerify(token, verifyWith, { algorithms: [alg] });
  assert.equal(payload.sub, 'alice');
}

describe('PEM public keys', () => {
  test('accepts an SPKI RSA-2048 key for RS* and PS*, and it verifies an RS256 token', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = parsedKey(parseKeyFile(spki(publicKey)));
    assert.ok(sameKey(key, publicKey));
    assert.deepEqual([...algorithmsForKey(key)].sort(), ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
    await roundTrip('RS256', privateKey, key);
  });

  for (const [curve, alg] of [['P-256', 'ES256'], ['P-384', 'ES384'], ['P-521', 'ES512']] as const) {
    test(`accepts an SPKI EC ${curve} key for ${alg} only`, async () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const key = parsedKey(parseKeyFile(spki(publicKey)));
      assert.deepEqual([...algorithmsForKey(key)], [alg]);
      await roundTrip(alg, privateKey, key);
    });
  }

  test('accepts an SPKI Ed25519 key for EdDSA', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const key = parsedKey(parseKeyFile(spki(publicKey)));
    assert.equal(key.asymmetricKeyType, 'ed25519');
    assert.ok(algorithmsForKey(key).has('EdDSA'));
    await roundTrip('EdDSA', privateKey, key);
  });

  test('accepts a PKCS#1 "RSA PUBLIC KEY" block', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = Buffer.from(publicKey.export({ type: 'pkcs1', format: 'pem' }));
    assert.match(pem.toString(), /BEGIN RSA PUBLIC KEY/);
    assert.ok(sameKey(parsedKey(parseKeyFile(pem)), publicKey));
  });

  test('finds the PEM block anywhere in the file, with lower-case labels and CRLF lines, as Trino does', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = spki(publicKey).toString();
    const lower = pem.replace('BEGIN PUBLIC KEY', 'begin public key').replace('END PUBLIC KEY', 'end public key');
    const content = `issued by the platform team\r\n${lower.replace(/\n/g, '\r\n')}trailing notes\n`;
    assert.ok(sameKey(parsedKey(parseKeyFile(Buffer.from(content))), publicKey));
  });

  test('uses the public key when the PEM file also holds a private key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const both = Buffer.concat([Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })), spki(publicKey)]);
    assert.ok(sameKey(parsedKey(parseKeyFile(both)), publicKey));
  });

  test('refuses a PEM file holding two public keys', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    assert.match(parsedError(parseKeyFile(Buffer.concat([spki(a), spki(b)]))), /2 public keys/);
  });

  test('refuses an RSA-1024 key, naming its size', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.match(parsedError(parseKeyFile(spki(publicKey))), /RSA key of 1024 bits is too short \(at least 2048/);
  });

  /** A 2048-bit RSA public key with the given exponent (base64url), which OpenSSL would not generate. */
  const rsaWithExponent = (e: string): KeyObject => {
    const n = String(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n);
    return createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' });
  };

  test('refuses a PEM RSA key whose public exponent is 1 (SPKI and PKCS#1)', () => {
    const e1 = rsaWithExponent('AQ');
    assert.equal(e1.asymmetricKeyDetails?.publicExponent, 1n);
    const pkcs1 = Buffer.from(e1.export({ type: 'pkcs1', format: 'pem' }));
    for (const pem of [spki(e1), pkcs1]) {
      assert.match(parsedError(parseKeyFile(pem)), /^unsound key refused: RSA public exponent below 3/);
    }
  });

  test('refuses a PEM RSA key with an even public exponent', () => {
    const e4 = rsaWithExponent('BA');
    assert.match(parsedError(parseKeyFile(spki(e4))), /^unsound key refused: RSA public exponent is even/);
  });

  test('refuses a PEM small-order Ed25519 key (the identity point)', () => {
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: identity.toString('base64url') }, format: 'jwk' });
    assert.match(parsedError(parseKeyFile(spki(key))), /^unsound key refused: Ed25519 public key is a small-order point/);
  });

  test('refuses a PEM that only holds a private key (PKCS#8 and PKCS#1), without echoing it', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const type of ['pkcs8', 'pkcs1'] as const) {
      const pem = privateKey.export({ type, format: 'pem' }).toString();
      const error = parsedError(parseKeyFile(Buffer.from(pem)));
      assert.match(error, /holds a private key; configure the public key/);
      const firstBodyLine = pem.split('\n')[1] ?? '';
      assert.ok(!error.includes(firstBodyLine.slice(0, 16)), 'error must not contain key material');
    }
  });

  test('refuses an EC key on secp256k1', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    assert.match(parsedError(parseKeyFile(spki(publicKey))), /EC key on curve secp256k1 is not supported/);
  });

  test('refuses key types no JWS algorithm uses (X25519, Ed448, DSA)', () => {
    const keys = [
      generateKeyPairSync('x25519').publicKey,
      generateKeyPairSync('ed448').publicKey,
      generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey,
    ];
    for (const k of keys) {
      assert.match(parsedError(parseKeyFile(spki(k))), /keys are not supported \(RSA, EC or Ed25519 required\)/);
    }
  });

  test('refuses a file with a PEM BEGIN line but no readable block instead of using its text as an HMAC secret', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // Indented body lines: airlift's pattern does not match, so Trino would build an HMAC key
    // out of public text. We refuse.
    const indented = spki(publicKey).toString().split('\n').map((l) => (l.startsWith('-----') ? l : `  ${l}`)).join('\n');
    assert.match(parsedError(parseKeyFile(Buffer.from(indented))), /PEM "-----BEGIN" line but no readable/);
  });

  test('refuses a JSON (JWKS) file instead of using its text as an HMAC secret', () => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    assert.match(parsedError(parseKeyFile(Buffer.from(JSON.stringify({ keys: [jwk] })))), /looks like JSON/);
    // Saved as UTF-16 (PowerShell's Out-File) or behind a non-breaking space, the same JSON
    // would otherwise decode, skipping the non-base64 characters, into a secret made of the key.
    const text = JSON.stringify({ keys: [jwk] });
    for (const bytes of [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), Buffer.from(`\u00a0${text}`, 'latin1')]) {
      assert.match(parsedError(parseKeyFile(bytes)), /looks like JSON/);
    }
  });
});

const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;

describe('X.509 certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jwt-ext-authz-cert-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const certificateFor = (privateKey: KeyObject, name: string): Buffer => {
    const keyPath = join(dir, `${name}.key`);
    const certPath = join(dir, `${name}.crt`);
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    execFileSync('openssl', ['req', '-new', '-x509', '-key', keyPath, '-out', certPath, '-days', '1', '-subj', `/CN=${name}`], { stdio: 'pipe' });
    return readFileSync(certPath);
  };

  test(openssl ? 'uses the public key of an X.509 certificate (generated with openssl)' : 'uses the public key of an X.509 certificate (skipped: openssl is not on PATH)',
    { skip: !openssl }, async () => {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const key = parsedKey(parseKeyFile(certificateFor(privateKey, 'leaf')));
      assert.ok(sameKey(key, publicKey));
      await roundTrip('RS256', privateKey, key);
    });

  test(openssl ? 'uses the first (leaf) certificate of a chain' : 'uses the first (leaf) certificate of a chain (skipped: openssl is not on PATH)',
    { skip: !openssl }, () => {
      const leaf = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const chain = Buffer.concat([certificateFor(leaf.privateKey, 'chain-leaf'), certificateFor(ca.privateKey, 'chain-ca')]);
      assert.ok(sameKey(parsedKey(parseKeyFile(chain)), leaf.publicKey));
    });
});

describe('HMAC secrets (Java MIME base64)', () => {
  test('accepts a base64 secret with a trailing newline and wrapped lines', () => {
    const secret = randomBytes(48);
    const b64 = secret.toString('base64');
    const key = parsedKey(parseKeyFile(Buffer.from(`${b64.slice(0, 20)}\r\n${b64.slice(20)}\n`)));
    assert.equal(key.type, 'secret');
    assert.ok(key.export().equals(secret));
  });

  test("ignores '-', '_', '!' and spaces like Java's MIME decoder (unlike Node's base64)", () => {
    const secret = randomBytes(33); // 44 base64 chars, no padding
    const b64 = secret.toString('base64');
    const noisy = `${b64.slice(0, 5)}-${b64.slice(5, 17)}_ ${b64.slice(17, 30)}!${b64.slice(30)}`;
    assert.ok(parsedKey(parseKeyFile(Buffer.from(noisy))).export().equals(secret));
    // Node would read '-'/'_' as base64url digits and return different bytes.
    assert.notDeepEqual(Buffer.from(noisy, 'base64'), secret);
  });

  test('ignores bytes above 0x7f as Trino (reading US-ASCII) does', () => {
    const secret = randomBytes(32);
    const content = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(secret.toString('base64')), Buffer.from([0xc1, 0x0a])]);
    assert.ok(parsedKey(parseKeyFile(content)).export().equals(secret));
  });

  test('refuses a 31-byte secret, without echoing it', () => {
    const b64 = randomBytes(31).toString('base64');
    const error = parsedError(parseKeyFile(Buffer.from(`${b64}\n`)));
    assert.match(error, /31 bytes .* at least 32/);
    assert.ok(!error.includes(b64.slice(0, 8)));
  });

  test('explains that base64url characters are ignored when a secret comes out short', () => {
    const error = parsedError(parseKeyFile(Buffer.from('a-b_'.repeat(20))));
    assert.match(error, /30 bytes .*'-' and '_' are ignored as Trino does/);
  });

  test('refuses data after the padding and a one-character last unit', () => {
    const b64 = randomBytes(32).toString('base64'); // ends with '='
    assert.match(parsedError(parseKeyFile(Buffer.from(`${b64}QUJD`))), /nor valid base64/);
    assert.match(parsedError(parseKeyFile(Buffer.from(`${b64.replace(/=+$/, '')}QU`))), /nor valid base64/);
  });

  test('a 64-byte secret verifies HS256, HS384 and HS512; 32 bytes only HS256; 48 bytes HS256 and HS384', async () => {
    for (const [size, algs] of [[64, ['HS256', 'HS384', 'HS512']], [48, ['HS256', 'HS384']], [32, ['HS256']]] as const) {
      const secret = randomBytes(size);
      const key = parsedKey(parseKeyFile(Buffer.from(`${secret.toString('base64')}\n`)));
      assert.deepEqual([...algorithmsForKey(key)], algs);
      for (const alg of algs) await roundTrip(alg, new Uint8Array(secret), key);
    }
  });
});

describe('decodeTrinoBase64', () => {
  const ok = (input: string, expected: string): void => {
    const out = decodeTrinoBase64(input);
    assert.ok(out !== undefined, `${JSON.stringify(input)} should decode`);
    assert.equal(out.toString('latin1'), expected, JSON.stringify(input));
  };
  const bad = (input: string): void => assert.equal(decodeTrinoBase64(input), undefined, `${JSON.stringify(input)} should fail`);

  test('decodes with optional padding, skipping every non-alphabet character', () => {
    ok('QUJD', 'ABC');
    ok('QUI', 'AB');
    ok('QUI=', 'AB');
    ok('QQ', 'A');
    ok('QQ==', 'A');
    ok('QU\nJD\r\n RA', 'ABCD');
    ok('QUJD-_!RA', 'ABCD');
    ok('', '');
    ok('!!\n', '');
  });

  test('ignores anything but alphabet characters after the padding, further = included', () => {
    ok('QQ==\n', 'A');
    ok('QQ==\n==', 'A');
    ok('QUI=!=', 'AB');
  });

  test('fails where Java throws', () => {
    bad('Q'); // one leftover character
    bad('QUJDR');
    bad('Q===');
    bad('=');
    bad('QUJD='); // padding at a unit start
    bad('QQ='); // incomplete padding
    bad('QQ=\n='); // Java reads the very next byte as the second '='
    bad('QQ==QQ'); // data after padding
    bad('QUI=\nA');
  });
});
