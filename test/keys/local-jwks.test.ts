import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { createFileKeySource, type FileKeySourceOptions } from '../../src/keys/file-source.js';
import { looksLikeJson, parseKeySetFile } from '../../src/keys/key-file.js';
import type { SkipReport } from '../../src/keys/key-set.js';
import type { KeySource } from '../../src/keys/types.js';
import { Rejection } from '../../src/reasons.js';
import { keysOf, reasonOf } from '../helpers/key-lookup.js';
import { eventually } from '../helpers/scrape.js';

const WHERE = { file: '/etc/jwt-ext-authz/config.yaml', key: 'providers[0].key-file' };

const rsa = (): KeyObject => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const ec = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
// Each key is exported once: Node 20 can deadlock when GC finalises a key's generation job
// while the same key is being exported, and hundreds of exports of one key make that likely.
const exported = new WeakMap<KeyObject, JsonWebKey>();
const jwk = (key: KeyObject, kid?: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
  let base = exported.get(key);
  if (base === undefined) exported.set(key, (base = key.export({ format: 'jwk' })));
  return { ...base, ...(kid === undefined ? {} : { kid }), ...extra };
};

const R1 = rsa();
const E1 = ec();
const E2 = ec();




let dir: string;
let sources: KeySource[];
const open = (path: string, options?: FileKeySourceOptions): KeySource => {
  const source = createFileKeySource(path, WHERE, options);
  sources.push(source);
  return source;
};
const write = (name: string, content: unknown): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jwt-ext-authz-local-jwks-'));
  sources = [];
});
afterEach(() => {
  for (const s of sources) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a JWK Set in a key file', () => {
  test('looks keys up by kid, and a kid-less token among the keys that fit its alg', () => {
    const source = open(write('jwks.json', { keys: [jwk(R1, 'r1'), jwk(E1, 'e1'), jwk(E2, 'e2')] }));
    assert.ok(keysOf(source.lookup('e2', 'ES256'))[0]?.key.equals(E2));
    assert.deepEqual(keysOf(source.lookup('r1', 'RS256')).map((k) => k.kid), ['r1']);
    assert.deepEqual(keysOf(source.lookup(undefined, 'ES256')).map((k) => k.kid), ['e1', 'e2']);
    assert.equal(reasonOf(source.lookup('nope', 'ES256')), 'unknown_key');
    assert.equal(reasonOf(source.lookup(undefined, 'ES384')), 'unknown_key');
    assert.equal(source.size, 3);
    // A hit allocates nothing: the same array every time.
    assert.equal(source.lookup('e1', 'ES256'), source.lookup('e1', 'ES256'));
    assert.match(keysOf(source.lookup('e1', 'ES256'))[0]?.description ?? '', /^EC-prime256v1 kid="e1" .*jwks\.json$/);
  });

  test('skips unusable keys with a reason for each, and uses the rest', () => {
    const skipped: SkipReport[] = [];
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const path = write('jwks.json', { keys: [jwk(E1, 'enc', { use: 'enc' }), jwk(short, 'short'), { kty: 'oct', k: 'c2VjcmV0', kid: 'oct' }, jwk(E2, 'good')] });
    const source = open(path, { onSkippedKey: (_p, e) => skipped.push(e) });
    assert.deepEqual(skipped.map((s) => [s.kid, s.why]), [
      ['enc', 'key #0: encryption key (use "enc")'],
      ['short', 'key #1: RSA key of 1024 bits; at least 2048 required'],
      ['oct', 'key #2: symmetric ("oct") keys are not used from a JWKS'],
    ]);
    assert.ok(keysOf(source.lookup('good', 'ES256'))[0]?.key.equals(E2));
    assert.equal(reasonOf(source.lookup('enc', 'ES256')), 'unknown_key');
  });

  test('refuses a set without a usable key, naming why, as a config error', () => {
    const path = write('jwks.json', { keys: [jwk(E1, 'enc', { use: 'enc' })] });
    assert.throws(() => open(path), (e: unknown) => e instanceof ConfigError && /no usable key in the JSON key file \(1 skipped; key #0: encryption key/.test(e.message));
    assert.throws(() => open(write('empty.json', { keys: [] })), /no usable key in the JSON key file/);
  });

  test('reads only the first 256 keys, as for a fetched set', () => {
    const keys = Array.from({ length: 258 }, (_, i) => jwk(i === 257 ? E2 : E1, `k${i}`));
    const skipped: SkipReport[] = [];
    const source = open(write('big.json', { keys }), { onSkippedKey: (_p, e) => skipped.push(e) });
    assert.equal(source.size, 256);
    assert.equal(reasonOf(source.lookup('k257', 'ES256')), 'unknown_key');
    assert.match(skipped.at(-1)?.why ?? '', /only the first 256 keys of a set are read/);
  });
});

describe('a single JWK in a key file', () => {
  test('is a key set of one: found by its kid', () => {
    const source = open(write('key.jwk', jwk(E1, 'only')));
    assert.ok(keysOf(source.lookup('only', 'ES256'))[0]?.key.equals(E1));
    assert.equal(reasonOf(source.lookup('other', 'ES256')), 'unknown_key');
    assert.equal(source.size, 1);
  });

  test('without kid, it verifies tokens without kid (a key without kid only answers those, as in a JWKS)', () => {
    const source = open(write('key.json', jwk(R1)));
    assert.ok(keysOf(source.lookup(undefined, 'PS256'))[0]?.key.equals(R1));
    assert.equal(reasonOf(source.lookup('some-kid', 'RS256')), 'unknown_key');
  });

  test('one JWK per ${KID} file works too, under the token\'s own kid', () => {
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'k-1.json'), JSON.stringify(jwk(E1, 'k-1')));
    const source = open(join(dir, 'keys', '${KID}.json'));
    assert.ok(keysOf(source.lookup('k-1', 'ES256'))[0]?.key.equals(E1));
  });
});

describe('JSON is never an HMAC secret', () => {
  test('JSON that is no JWK Set or JWK is refused, never read as base64', () => {
    // As base64 text this is a 32+ byte "secret" made of public data.
    const text = JSON.stringify({ secret: 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w' });
    assert.throws(() => open(write('key.json', text)), /neither a JWK Set \(\{"keys": \[\.\.\.\]\}\) nor a JWK/);
    assert.throws(() => open(write('list.json', '[{"kty":"EC"}]')), /neither a JWK Set/);
    assert.throws(() => open(write('broken.json', '{"keys": [')), /looks like JSON but is not valid JSON/);
  });

  test('recognises JSON by its first non-blank character, a UTF-8 BOM allowed', () => {
    assert.equal(looksLikeJson(Buffer.from('  \n{"keys":[]}')), true);
    assert.equal(looksLikeJson(Buffer.from('\ufeff{"kty":"EC"}')), true);
    assert.equal(looksLikeJson(Buffer.from('[]')), true);
    assert.equal(looksLikeJson(Buffer.from(`${randomBytes(32).toString('base64')}\n`)), false);
    assert.equal(looksLikeJson(Buffer.from('-----BEGIN PUBLIC KEY-----')), false);
    const bom = parseKeySetFile(Buffer.from(`\ufeff${JSON.stringify(jwk(E1, 'b'))}`), '/k.json');
    assert.ok(!('error' in bom) && bom.keys[0]?.kid === 'b');
  });

  test('a JSON key file may be as large as a fetched JWKS (1 MiB), no larger', () => {
    const pad = ' '.repeat(200 * 1024);
    const source = open(write('padded.json', `{"keys": [${JSON.stringify(jwk(E1, 'p'))}]}${pad}`));
    assert.equal(keysOf(source.lookup('p', 'ES256')).length, 1);
    assert.throws(() => open(write('huge.json', `{"keys": []}${' '.repeat(1024 * 1024)}`)), /larger than 1048576 bytes/);
  });
});

describe('re-reading a JSON key file', () => {
  test('uses the new set after the file is rewritten in place, and reports the key count', async () => {
    const path = write('jwks.json', { keys: [jwk(E1, 'a')] });
    const reloads: number[] = [];
    const source = open(path, { onReload: (_p, keys) => reloads.push(keys) });
    writeFileSync(path, JSON.stringify({ keys: [jwk(E2, 'b'), jwk(R1, 'c')] }));
    await eventually(() => !(source.lookup('b', 'ES256') instanceof Rejection), 5000, 'the new set');
    assert.equal(reasonOf(source.lookup('a', 'ES256')), 'unknown_key');
    assert.deepEqual(reloads, [2]);
    assert.equal(source.size, 2);
  });

  test('keeps the previous set when the new content has no usable key', async () => {
    const path = write('jwks.json', { keys: [jwk(E1, 'a')] });
    const errors: string[] = [];
    const source = open(path, { onError: (_p, m) => errors.push(m) });
    writeFileSync(path, JSON.stringify({ keys: [jwk(E2, 'b', { use: 'enc' })] }));
    await eventually(() => errors.length > 0, 5000, 'onError');
    assert.match(errors[0] ?? '', /no usable key.*keeping the previous key/);
    assert.ok(keysOf(source.lookup('a', 'ES256'))[0]?.key.equals(E1));
  });

  test('follows the symlink swap kubelet does for a mounted Secret', async () => {
    mkdirSync(join(dir, '..2026_01_01_a'));
    writeFileSync(join(dir, '..2026_01_01_a', 'jwks.json'), JSON.stringify({ keys: [jwk(E1, 'old')] }));
    symlinkSync('..2026_01_01_a', join(dir, '..data'));
    symlinkSync(join('..data', 'jwks.json'), join(dir, 'jwks.json'));
    const source = open(join(dir, 'jwks.json'));
    assert.equal(keysOf(source.lookup('old', 'ES256')).length, 1);
    mkdirSync(join(dir, '..2026_01_02_b'));
    writeFileSync(join(dir, '..2026_01_02_b', 'jwks.json'), JSON.stringify({ keys: [jwk(E2, 'new')] }));
    symlinkSync('..2026_01_02_b', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_01_01_a'), { recursive: true });
    await eventually(() => !(source.lookup('new', 'ES256') instanceof Rejection), 5000, 'the swapped set');
    assert.ok(keysOf(source.lookup('new', 'ES256'))[0]?.key.equals(E2));
    assert.equal(reasonOf(source.lookup('old', 'ES256')), 'unknown_key');
  });
});
