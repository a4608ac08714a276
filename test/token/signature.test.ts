import assert from 'node:assert/strict';
import { createPrivateKey, createSecretKey, generateKeyPairSync, randomBytes, sign as nodeSign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { compactVerify, SignJWT } from 'jose';
import { algorithmsForKey, type JwsAlgorithm } from '../../src/keys/algorithms.js';
import { Rejection } from '../../src/reasons.js';
import { parseToken } from '../../src/token/parse.js';
import { verifySignature } from '../../src/token/signature.js';

interface Case {
  readonly alg: JwsAlgorithm;
  readonly signing: KeyObject | Uint8Array;
  readonly verifying: KeyObject;
  readonly other: KeyObject | Uint8Array;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = (curve: string) => generateKeyPairSync('ec', { namedCurve: curve });
const [p256, p384, p521, p256b] = [ec('P-256'), ec('P-384'), ec('P-521'), ec('P-256')];
const ed = generateKeyPairSync('ed25519');
const ed2 = generateKeyPairSync('ed25519');
const secret = randomBytes(64);

const CASES: Case[] = [
  ...(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const).map((alg) => ({ alg, signing: rsa.privateKey, verifying: rsa.publicKey, other: rsa2.privateKey })),
  { alg: 'ES256', signing: p256.privateKey, verifying: p256.publicKey, other: p256b.privateKey },
  { alg: 'ES384', signing: p384.privateKey, verifying: p384.publicKey, other: ec('P-384').privateKey },
  { alg: 'ES512', signing: p521.privateKey, verifying: p521.publicKey, other: ec('P-521').privateKey },
  { alg: 'EdDSA', signing: ed.privateKey, verifying: ed.publicKey, other: ed2.privateKey },
  ...(['HS256', 'HS384', 'HS512'] as const).map((alg) => ({ alg, signing: new Uint8Array(secret), verifying: createSecretKey(secret), other: new Uint8Array(randomBytes(64)) })),
];

const signWith = (alg: string, key: KeyObject | Uint8Array, payload: Record<string, unknown> = { sub: 'alice' }) =>
  new SignJWT(payload).setProtectedHeader({ alg }).sign(key);

/** Changes one base64url character in the middle of the signature (all of its bits count). */
const flipMiddle = (t: string) => {
  const i = t.lastIndexOf('.') + Math.floor((t.length - t.lastIndexOf('.')) / 2);
  return `${t.slice(0, i)}${t[i] === 'A' ? 'B' : 'A'}${t.slice(i + 1)}`;
};
const swapLast = (t: string) => `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`;

/** Token variants that must get the same verdict from node:crypto and from jose. */
async function variants(c: Case): Promise<[string, string][]> {
  const good = await signWith(c.alg, c.signing);
  const [h, p, s] = good.split('.') as [string, string, string];
  const otherPayload = Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url');
  const list: [string, string][] = [
    ['valid', good],
    ['tampered payload', `${h}.${otherPayload}.${s}`],
    ['a signature character changed', flipMiddle(good)],
    // May only touch the unused low bits of the last character: the verdict must match jose's either way.
    ['last signature character changed (maybe non-canonical)', swapLast(good)],
    ['signature truncated', `${h}.${p}.${s.slice(0, -4)}`],
    ['signature extended', `${h}.${p}.${s}AAAA`],
    ['signature of another key', await signWith(c.alg, c.other)],
    ['one-byte signature', `${h}.${p}.AA`],
  ];
  if (c.alg === 'ES256') {
    // A DER-encoded ECDSA signature is not a JWS signature (RFC 7518 wants r||s).
    const der = nodeSign('sha256', Buffer.from(`${h}.${p}`), createPrivateKey(p256.privateKey.export({ format: 'pem', type: 'pkcs8' })));
    list.push(['DER-encoded ECDSA signature', `${h}.${p}.${der.toString('base64url')}`]);
  }
  return list;
}

const joseVerdict = (token: string, c: Case) =>
  compactVerify(token, c.verifying, { algorithms: [c.alg] }).then(
    () => true,
    () => false,
  );

describe('node:crypto signature verification agrees with jose', () => {
  for (const c of CASES) {
    it(`gives jose's verdict for every ${c.alg} variant`, async () => {
      const key = { key: c.verifying, algorithms: algorithmsForKey(c.verifying), description: c.alg };
      assert.ok(key.algorithms.has(c.alg), `${c.alg} usable with its key`);
      for (const [name, token] of await variants(c)) {
        const parsed = parseToken(token);
        assert.ok(!(parsed instanceof Rejection), `${name} parses`);
        const ours = verifySignature(parsed, key) === undefined;
        assert.equal(ours, await joseVerdict(token, c), `${c.alg} ${name}`);
        if (!name.includes('maybe')) assert.equal(ours, name === 'valid', `${c.alg} ${name} verdict`);
      }
    });
  }

  it('refuses every confusion of key type and algorithm before any signature math', () => {
    // algorithmsForKey is the gate decide() applies before verifySignature.
    assert.deepEqual([...algorithmsForKey(rsa.publicKey)].sort(), ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
    assert.deepEqual([...algorithmsForKey(p256.publicKey)], ['ES256']);
    assert.deepEqual([...algorithmsForKey(p384.publicKey)], ['ES384']);
    assert.deepEqual([...algorithmsForKey(ed.publicKey)].sort(), ['Ed25519', 'EdDSA']);
    assert.deepEqual([...algorithmsForKey(createSecretKey(randomBytes(32)))], ['HS256']);
    assert.deepEqual([...algorithmsForKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)], []);
  });
});
