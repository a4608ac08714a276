import assert from 'node:assert/strict';
import { generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { decodeJwks, type DecodedJwks } from '../../src/keys/jwks-decode.js';

const pair = (type: 'rsa' | 'ec' | 'ed25519' | 'x25519', opt: { modulusLength?: number; namedCurve?: string } = {}): KeyObject => {
  switch (type) {
    case 'rsa': return generateKeyPairSync('rsa', { modulusLength: opt.modulusLength ?? 2048 }).privateKey;
    case 'ec': return generateKeyPairSync('ec', { namedCurve: opt.namedCurve ?? 'P-256' }).privateKey;
    case 'ed25519': return generateKeyPairSync('ed25519').privateKey;
    case 'x25519': return generateKeyPairSync('x25519').privateKey;
  }
};

/** Public JWK of a private key, plus extra members. */
const jwk = (privateKey: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> => {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = privateKey.export({ format: 'jwk' });
  return { ...pub, ...extra };
};

const RSA = pair('rsa');
const EC256 = pair('ec');

function decoded(body: unknown): DecodedJwks {
  const d = decodeJwks(body);
  assert.ok(!('error' in d), `unexpected error: ${'error' in d ? d.error : ''}`);
  return d;
}

describe('decodeJwks', () => {
  test('decodes RSA, EC P-256/P-384/P-521 and Ed25519 keys with the algorithms each can verify', () => {
    const d = decoded({
      keys: [
        jwk(RSA, { kid: 'rsa', alg: 'RS256', use: 'sig' }),
        jwk(EC256, { kid: 'p256' }),
        jwk(pair('ec', { namedCurve: 'P-384' }), { kid: 'p384' }),
        jwk(pair('ec', { namedCurve: 'P-521' }), { kid: 'p521' }),
        jwk(pair('ed25519'), { kid: 'ed' }),
      ],
    });
    assert.deepEqual(d.skipped, []);
    const algs = Object.fromEntries(d.keys.map((k) => [k.kid, [...k.algorithms].sort()]));
    assert.deepEqual(algs, {
      rsa: ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'],
      p256: ['ES256'],
      p384: ['ES384'],
      p521: ['ES512'],
      ed: ['Ed25519', 'EdDSA'],
    });
    assert.match(d.keys[0]?.description ?? '', /^RSA-2048 kid="rsa"$/);
  });

  test('keeps a key without kid, usable for kid-less tokens', () => {
    const d = decoded({ keys: [jwk(EC256)] });
    assert.equal(d.keys.length, 1);
    assert.equal(d.keys[0]?.kid, undefined);
    assert.match(d.keys[0]?.description ?? '', /\(no kid\)/);
  });

  test('names the origin in key descriptions when given', () => {
    const d = decodeJwks({ keys: [jwk(EC256, { kid: 'k' })] }, 'https://idp.example.com/jwks');
    assert.ok(!('error' in d));
    assert.equal(d.keys[0]?.description, 'EC-prime256v1 kid="k" https://idp.example.com/jwks');
  });

  test('imports only the public part of a key that carries private members', () => {
    const full = RSA.export({ format: 'jwk' });
    assert.ok(full.d !== undefined);
    const d = decoded({ keys: [{ ...full, kid: 'leaked' }, { ...EC256.export({ format: 'jwk' }), kid: 'ec' }] });
    assert.equal(d.keys.length, 2);
    for (const k of d.keys) {
      assert.equal(k.key.type, 'public');
      assert.equal((k.key.export({ format: 'jwk' }) as JsonWebKey).d, undefined);
    }
  });

  test('skips unusable keys with a reason and keeps the others', () => {
    const rsa = jwk(RSA);
    const ec = jwk(EC256);
    const d = decoded({
      keys: [
        jwk(RSA, { kid: 'enc', use: 'enc' }),
        { kid: 'unknown-kty', kty: 'XYZ', x: 'AAAA' },
        { kid: 'no-kty', n: rsa['n'], e: rsa['e'] },
        { kid: 'oct', kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI' },
        jwk(pair('ec', { namedCurve: 'secp256k1' }), { kid: 'k1' }),
        jwk(pair('x25519'), { kid: 'x25519' }),
        jwk(pair('rsa', { modulusLength: 1024 }), { kid: 'rsa1024' }),
        { ...rsa, kid: 'plus', n: `${String(rsa['n']).slice(0, 10)}+${String(rsa['n']).slice(11)}` },
        { ...rsa, kid: 'space', n: ` ${String(rsa['n'])}` },
        { ...rsa, kid: 'lone-char', e: 'AQABA' },
        { ...rsa, kid: 'no-e', e: undefined },
        { ...rsa, kid: 'number-e', e: 65537 },
        { ...ec, kid: 'off-curve', y: ec['x'] },
        { ...ec, kid: 'no-crv', crv: undefined },
        { ...ec, kid: 42 },
        'not an object',
        null,
        { ...rsa, kid: 'x'.repeat(300) },
        jwk(RSA, { kid: 'good-rsa' }),
        jwk(EC256, { kid: 'good-ec' }),
      ],
    });
    assert.deepEqual(d.keys.map((k) => k.kid), ['good-rsa', 'good-ec']);
    const why = Object.fromEntries(d.skipped.map((s) => [s.kid ?? s.why.slice(0, 7), s.why]));
    assert.match(why['enc'] ?? '', /use "enc"/);
    assert.match(why['unknown-kty'] ?? '', /unsupported kty "XYZ"/);
    assert.match(why['no-kty'] ?? '', /no "kty"/);
    assert.match(why['oct'] ?? '', /symmetric/);
    assert.match(why['k1'] ?? '', /unsupported EC curve "secp256k1"/);
    assert.match(why['x25519'] ?? '', /unsupported OKP curve "X25519"/);
    assert.match(why['rsa1024'] ?? '', /1024 bits; at least 2048/);
    assert.match(why['plus'] ?? '', /"n" is not valid base64url/);
    assert.match(why['space'] ?? '', /"n" is not valid base64url/);
    assert.match(why['lone-char'] ?? '', /"e" is not valid base64url/);
    assert.match(why['no-e'] ?? '', /without "e"/);
    assert.match(why['number-e'] ?? '', /"e" is not valid base64url/);
    assert.match(why['off-curve'] ?? '', /refused by node:crypto/);
    assert.match(why['no-crv'] ?? '', /unsupported EC curve \(none\)/);
    assert.equal(d.skipped.length, 18);
    assert.ok(d.skipped.some((s) => s.kid === undefined && /kid" is not a string/.test(s.why)));
    assert.equal(d.skipped.filter((s) => /not a JSON object/.test(s.why)).length, 2);
    const long = d.skipped.find((s) => /longer than 256/.test(s.why));
    assert.ok(long !== undefined && (long.kid?.length ?? 0) <= 64, 'an over-long kid is reported truncated');
  });

  test('skips a JWKS RSA key whose public exponent is 1', () => {
    const d = decoded({ keys: [{ ...jwk(RSA), kid: 'e1', e: 'AQ' }, jwk(RSA, { kid: 'good' })] });
    assert.deepEqual(d.keys.map((k) => k.kid), ['good']);
    assert.deepEqual(d.skipped.map((s) => s.kid), ['e1']);
    assert.match(d.skipped[0]?.why ?? '', /^key #0: RSA public exponent below 3/);
  });

  test('skips JWKS RSA keys whose public exponent is 0, 2 or 65536, and keeps one with exponent 3', () => {
    const rsa = jwk(RSA);
    const d = decoded({ keys: [{ ...rsa, kid: 'e0', e: 'AA' }, { ...rsa, kid: 'e2', e: 'Ag' }, { ...rsa, kid: 'e65536', e: 'AQAA' }, { ...rsa, kid: 'e3', e: 'Aw' }] });
    assert.deepEqual(d.keys.map((k) => k.kid), ['e3']);
    const why = Object.fromEntries(d.skipped.map((s) => [s.kid, s.why]));
    assert.match(why['e0'] ?? '', /RSA public exponent below 3/);
    assert.match(why['e2'] ?? '', /RSA public exponent below 3/);
    assert.match(why['e65536'] ?? '', /RSA public exponent is even/);
  });

  test('skips a small-order Ed25519 key in a JWKS (the identity point, an order-8 point)', () => {
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    // y = 2707385501144840649318225287225658788936804267575313519463743609750303402022, little-endian.
    const order8 = Buffer.from('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', 'hex');
    const okp = (x: Buffer, kid: string): Record<string, unknown> => ({ kty: 'OKP', crv: 'Ed25519', x: x.toString('base64url'), kid });
    const d = decoded({ keys: [okp(identity, 'identity'), okp(order8, 'order8'), jwk(pair('ed25519'), { kid: 'good' })] });
    assert.deepEqual(d.keys.map((k) => k.kid), ['good']);
    assert.deepEqual(d.skipped.map((s) => [s.kid, /Ed25519 public key is a small-order point/.test(s.why)]), [['identity', true], ['order8', true]]);
  });

  test('never puts key material into skip reasons', () => {
    const rsa = jwk(RSA);
    const ec = jwk(EC256);
    const d = decoded({ keys: [{ ...rsa, n: `${String(rsa['n'])}!` }, { ...ec, y: ec['x'] }, { ...RSA.export({ format: 'jwk' }), e: 'A' }] });
    assert.equal(d.skipped.length, 3);
    const text = JSON.stringify(d.skipped);
    for (const material of [rsa['n'], ec['x'], RSA.export({ format: 'jwk' }).d]) {
      assert.ok(!text.includes(String(material).slice(0, 16)), 'a reason quotes key material');
    }
  });

  test('keeps the first usable key of a duplicated kid and skips the rest', () => {
    const other = pair('ec');
    const d = decoded({ keys: [jwk(EC256, { kid: 'dup' }), jwk(other, { kid: 'dup' })] });
    assert.equal(d.keys.length, 1);
    assert.deepEqual(d.keys[0]?.key.export({ format: 'jwk' }), jwk(EC256));
    assert.deepEqual(d.skipped.map((s) => [s.kid, /duplicate/.test(s.why)]), [['dup', true]]);

    // A broken first copy does not hide a good second one.
    const broken = decoded({ keys: [{ ...jwk(EC256), kid: 'dup', x: '***' }, jwk(other, { kid: 'dup' })] });
    assert.deepEqual(broken.keys[0]?.key.export({ format: 'jwk' }), jwk(other));
  });

  test('accepts base64url with exact padding and refuses wrong padding', () => {
    const rsa = jwk(RSA);
    const n = String(rsa['n']); // 342 characters: 2 padding characters make it whole
    assert.equal(n.length % 4, 2);
    assert.equal(decoded({ keys: [{ ...rsa, n: `${n}==` }] }).keys.length, 1);
    assert.equal(decoded({ keys: [{ ...rsa, n: `${n}=` }] }).keys.length, 0);
    assert.equal(decoded({ keys: [{ ...rsa, n: `${n}===` }] }).keys.length, 0);
    assert.equal(decoded({ keys: [{ ...rsa, n: '' }] }).keys.length, 0);
  });

  test('ignores the JWK "alg" and unknown members, like Trino', () => {
    const d = decoded({ keys: [jwk(RSA, { kid: 'r', alg: 'RS256', x5t: 'abc', foo: { bar: 1 } })] });
    assert.ok(d.keys[0]?.algorithms.has('PS512'));
  });

  test('accepts an empty key list', () => {
    assert.deepEqual(decoded({ keys: [] }), { keys: [], skipped: [] });
  });

  test('refuses a document that is not an object with a "keys" array', () => {
    for (const body of [null, [], 'keys', 42, {}, { keys: {} }, { keys: 'x' }, { Keys: [] }]) {
      const d = decodeJwks(body);
      assert.ok('error' in d, `accepted ${JSON.stringify(body)}`);
    }
  });
});
