import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../src/errors.js';
import { createFileKeySource, isKeyTemplate, sanitizeKid, type FileKeySourceOptions } from '../../src/keys/file-source.js';
import type { KeyLookupResult, KeySource, VerificationKey } from '../../src/keys/types.js';
import { Rejection } from '../../src/reasons.js';
import { keysOf, rejectionOf } from '../helpers/key-lookup.js';
import { eventually } from '../helpers/scrape.js';

const WHERE = { file: '/etc/jwt-ext-authz/config.yaml', key: 'providers[0].key-file' };

const rsaPem = (): { pem: string; publicKey: KeyObject } => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicKey };
};
const ecPem = (): { pem: string; publicKey: KeyObject } => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicKey };
};
const hmacText = (secret = randomBytes(32)): string => `${secret.toString('base64')}\n`;



const onlyKey = (result: KeyLookupResult | Promise<KeyLookupResult>): VerificationKey => {
  const keys = keysOf(result);
  assert.equal(keys.length, 1);
  return keys[0] as VerificationKey;
};


let dir: string;
let sources: KeySource[];
const open = (path: string, options?: FileKeySourceOptions): KeySource => {
  const source = createFileKeySource(path, WHERE, options);
  sources.push(source);
  return source;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jwt-ext-authz-file-source-'));
  sources = [];
});
afterEach(() => {
  for (const s of sources) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('template helpers', () => {
  test('recognises ${KID} (Trino code) and $KEYID (Starburst docs) templates', () => {
    assert.equal(isKeyTemplate('/keys/${KID}.pem'), true);
    assert.equal(isKeyTemplate('/keys/$KEYID.pem'), true);
    assert.equal(isKeyTemplate('/keys/$KID.pem'), false);
    assert.equal(isKeyTemplate('/keys/key.pem'), false);
  });

  test('sanitises every UTF-16 code unit outside [A-Za-z0-9_-] to _', () => {
    assert.equal(sanitizeKid('../../etc/passwd'), '______etc_passwd');
    assert.equal(sanitizeKid('key-2024_A9'), 'key-2024_A9');
    assert.equal(sanitizeKid('\u{1F511}'), '__');
    assert.equal(sanitizeKid('é ~$'), '____');
    assert.equal(sanitizeKid(''), '');
  });
});

describe('static key file', () => {
  test('loads once and returns the same key array for any kid and alg', () => {
    const path = join(dir, 'key.pem');
    const { pem, publicKey } = rsaPem();
    writeFileSync(path, pem);
    const source = open(path);
    assert.equal(source.ready, true);
    const first = source.lookup(undefined, 'RS256');
    const key = onlyKey(first);
    assert.ok(key.key.equals(publicKey));
    assert.equal(key.description, `RSA-2048 ${path}`);
    assert.equal(key.kid, undefined);
    assert.equal(source.lookup('any-kid', 'HS256'), first, 'no per-call allocation');
  });

  test('a missing file is a ConfigError naming the config file, the key and the key file', () => {
    const path = join(dir, 'absent.pem');
    assert.throws(() => open(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const [problem] = e.problems;
      assert.equal(problem?.file, WHERE.file);
      assert.equal(problem?.key, WHERE.key);
      assert.match(problem?.message ?? '', new RegExp(`${path}: file not found`));
      return true;
    });
  });

  test('an invalid file is a ConfigError that names the problem but not the secret', () => {
    const path = join(dir, 'short.key');
    const b64 = randomBytes(31).toString('base64');
    writeFileSync(path, b64);
    assert.throws(() => open(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /31 bytes/);
      assert.ok(!e.message.includes(b64.slice(0, 8)));
      return true;
    });
  });

  test('a folder at the path is refused', () => {
    mkdirSync(join(dir, 'sub'));
    assert.throws(() => open(join(dir, 'sub')), /not a regular file/);
  });

  test('a file larger than 64 KiB is refused', () => {
    const path = join(dir, 'huge.key');
    writeFileSync(path, Buffer.alloc(64 * 1024 + 1, 0x41));
    assert.throws(() => open(path), /larger than 65536 bytes/);
  });

  const mkfifo = spawnSync('mkfifo', ['--version']).status === 0;
  test(mkfifo ? 'a FIFO at the path is refused without blocking' : 'a FIFO at the path is refused (skipped: mkfifo is not on PATH)',
    { skip: !mkfifo }, () => {
      const path = join(dir, 'fifo');
      execFileSync('mkfifo', [path]);
      assert.throws(() => open(path), /not a regular file/);
    });

  test('re-reads the file after it is rewritten in place and reports onReload', async () => {
    const path = join(dir, 'key.pem');
    writeFileSync(path, rsaPem().pem);
    const reloads: string[] = [];
    const source = open(path, { onReload: (p) => reloads.push(p) });
    const before = source.lookup(undefined, 'RS256');
    const next = ecPem();
    writeFileSync(path, next.pem);
    await eventually(() => onlyKey(source.lookup(undefined, 'ES256')).key.equals(next.publicKey), 5000, 'the new key');
    assert.notEqual(source.lookup(undefined, 'ES256'), before);
    assert.deepEqual(reloads, [path]);
  });

  test('re-reads the file when an editor replaces it by rename', async () => {
    const path = join(dir, 'key.pem');
    writeFileSync(path, rsaPem().pem);
    const source = open(path);
    const next = ecPem();
    writeFileSync(join(dir, '.key.pem.swp'), next.pem);
    renameSync(join(dir, '.key.pem.swp'), path);
    await eventually(() => onlyKey(source.lookup(undefined, 'ES256')).key.equals(next.publicKey), 5000, 'the renamed-in key');
  });

  test('follows a Kubernetes ConfigMap ..data symlink swap', async () => {
    const first = rsaPem();
    const next = ecPem();
    mkdirSync(join(dir, '..2024_01_01_a'));
    writeFileSync(join(dir, '..2024_01_01_a', 'key.pem'), first.pem);
    symlinkSync('..2024_01_01_a', join(dir, '..data'));
    symlinkSync(join('..data', 'key.pem'), join(dir, 'key.pem'));
    const reloads: string[] = [];
    const source = open(join(dir, 'key.pem'), { onReload: (p) => reloads.push(p) });
    assert.ok(onlyKey(source.lookup(undefined, 'RS256')).key.equals(first.publicKey));
    // What kubelet does: new timestamped folder, new ..data_tmp link renamed over ..data, old folder removed.
    mkdirSync(join(dir, '..2024_01_02_b'));
    writeFileSync(join(dir, '..2024_01_02_b', 'key.pem'), next.pem);
    symlinkSync('..2024_01_02_b', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2024_01_01_a'), { recursive: true });
    await eventually(() => onlyKey(source.lookup(undefined, 'ES256')).key.equals(next.publicKey), 5000, 'the swapped key');
    assert.equal(reloads.length, 1);
  });

  test('keeps the previous key and calls onError when the new content is bad', async () => {
    const path = join(dir, 'key.pem');
    const { pem, publicKey } = rsaPem();
    writeFileSync(path, pem);
    const errors: string[] = [];
    const reloads: string[] = [];
    const source = open(path, { onError: (p, m) => errors.push(`${p}: ${m}`), onReload: (p) => reloads.push(p) });
    writeFileSync(path, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    await eventually(() => errors.length > 0, 5000, 'onError');
    assert.match(errors[0] ?? '', /1024 bits is too short.*keeping the previous key/);
    assert.ok(onlyKey(source.lookup(undefined, 'RS256')).key.equals(publicKey));
    assert.deepEqual(reloads, []);
  });

  test('does not report a reload when the content did not change', async () => {
    const path = join(dir, 'secret.key');
    const text = hmacText();
    writeFileSync(path, text);
    const reloads: string[] = [];
    const source = open(path, { onReload: (p) => reloads.push(p) });
    const before = source.lookup(undefined, 'HS256');
    writeFileSync(path, text);
    await sleep(200);
    assert.deepEqual(reloads, []);
    assert.equal(source.lookup(undefined, 'HS256'), before);
  });
});

describe('key file template', () => {
  test('loads one file per kid with ${KID}, and caches it', () => {
    mkdirSync(join(dir, 'keys'));
    const a = rsaPem();
    const b = ecPem();
    writeFileSync(join(dir, 'keys', 'a.pem'), a.pem);
    writeFileSync(join(dir, 'keys', 'b.pem'), b.pem);
    const source = open(join(dir, 'keys', '${KID}.pem'));
    assert.equal(source.ready, true);
    const first = source.lookup('a', 'RS256');
    const ka = onlyKey(first);
    assert.ok(ka.key.equals(a.publicKey));
    assert.equal(ka.kid, 'a');
    assert.equal(ka.description, `RSA-2048 ${join(dir, 'keys', 'a.pem')}`);
    assert.ok(onlyKey(source.lookup('b', 'ES256')).key.equals(b.publicKey));
    assert.equal(source.lookup('a', 'RS256'), first, 'a cache hit returns the cached array');
  });

  test('substitutes $KEYID, every occurrence', () => {
    const { pem, publicKey } = ecPem();
    writeFileSync(join(dir, 'k1-k1.pem'), pem);
    const source = open(join(dir, '$KEYID-$KEYID.pem'));
    assert.ok(onlyKey(source.lookup('k1', 'ES256')).key.equals(publicKey));
  });

  test('a token without kid uses default-key', () => {
    const { pem, publicKey } = ecPem();
    writeFileSync(join(dir, 'default-key.pem'), pem);
    const source = open(join(dir, '${KID}.pem'));
    const key = onlyKey(source.lookup(undefined, 'ES256'));
    assert.ok(key.key.equals(publicKey));
    assert.equal(key.kid, 'default-key');
  });

  test('reads only inside the key folder for a hostile kid ../decoy and ../../etc/passwd', () => {
    mkdirSync(join(dir, 'keys'));
    const decoy = ecPem();
    // Where the unsanitised kid "../decoy" would lead: <dir>/keys/../decoy.pem.
    writeFileSync(join(dir, 'decoy.pem'), decoy.pem);
    const source = open(join(dir, 'keys', '${KID}.pem'));
    const r1 = rejectionOf(source.lookup('../decoy', 'ES256'));
    assert.equal(r1.reason, 'unknown_key');
    assert.match(r1.message, /"___decoy"/);
    const r2 = rejectionOf(source.lookup('../../etc/passwd', 'RS256'));
    assert.equal(r2.reason, 'unknown_key');
    assert.ok(!r2.message.includes('/'), 'the message names the sanitised kid, not a path');
    // The sanitised name is what gets read.
    const inside = ecPem();
    writeFileSync(join(dir, 'keys', '___decoy.pem'), inside.pem);
    const fresh = open(join(dir, 'keys', '${KID}.pem'));
    const key = onlyKey(fresh.lookup('../decoy', 'ES256'));
    assert.ok(key.key.equals(inside.publicKey));
    assert.ok(!key.key.equals(decoy.publicKey));
  });

  test('a missing file is unknown_key, and a file created later is loaded once its folder reports it', async () => {
    const source = open(join(dir, '${KID}.pem'));
    const r = rejectionOf(source.lookup('late', 'ES256'));
    assert.equal(r.reason, 'unknown_key');
    assert.match(r.message, /no key file for kid "late"/);
    const { pem, publicKey } = ecPem();
    writeFileSync(join(dir, 'late.pem'), pem);
    await eventually(() => !(source.lookup('late', 'ES256') instanceof Rejection), 5000, 'the new key file');
    assert.ok(onlyKey(source.lookup('late', 'ES256')).key.equals(publicKey));
  });

  test('remembers a missing file for a second instead of opening it again for every token', async () => {
    // A placeholder in the folder part cannot be watched, so only the time bounds the memory.
    mkdirSync(join(dir, 'kid-x'));
    const source = open(join(dir, '${KID}', 'key.pem'));
    assert.equal(rejectionOf(source.lookup('kid-x', 'ES256')).reason, 'unknown_key');
    const { pem, publicKey } = ecPem();
    writeFileSync(join(dir, 'kid-x', 'key.pem'), pem);
    assert.equal(rejectionOf(source.lookup('kid-x', 'ES256')).reason, 'unknown_key', 'the miss is remembered');
    await sleep(1_050);
    assert.ok(onlyKey(source.lookup('kid-x', 'ES256')).key.equals(publicKey), 'and forgotten after a second');
  });

  test('an invalid file is unknown_key naming the problem but not the path, and calls onError', () => {
    writeFileSync(join(dir, 'weak.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const errors: string[] = [];
    const source = open(join(dir, '${KID}.pem'), { onError: (p, m) => errors.push(`${p}: ${m}`) });
    const r = rejectionOf(source.lookup('weak', 'RS256'));
    assert.equal(r.reason, 'unknown_key');
    assert.match(r.message, /kid "weak".*1024 bits/);
    assert.ok(!r.message.includes(dir));
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /weak\.pem: RSA key of 1024 bits/);
  });

  test('re-reads a cached key after its file changes and reports onReload', async () => {
    const path = join(dir, 'rot.key');
    writeFileSync(path, hmacText());
    const reloads: string[] = [];
    const source = open(join(dir, '${KID}.key'), { onReload: (p) => reloads.push(p) });
    const before = source.lookup('rot', 'HS256');
    const secret = randomBytes(64);
    writeFileSync(path, hmacText(secret));
    await eventually(() => onlyKey(source.lookup('rot', 'HS512')).key.export().equals(secret), 5000, 'the rotated secret');
    assert.notEqual(source.lookup('rot', 'HS256'), before);
    assert.deepEqual(reloads, [path]);
  });

  test('stops using a cached key once its file is deleted', async () => {
    const path = join(dir, 'gone.pem');
    writeFileSync(path, ecPem().pem);
    const source = open(join(dir, '${KID}.pem'));
    keysOf(source.lookup('gone', 'ES256'));
    unlinkSync(path);
    await eventually(() => source.lookup('gone', 'ES256') instanceof Rejection, 5000, 'unknown_key');
  });

  test('supports a placeholder in the folder part (one folder per kid)', () => {
    mkdirSync(join(dir, 'kid-a'));
    const { pem, publicKey } = ecPem();
    writeFileSync(join(dir, 'kid-a', 'key.pem'), pem);
    const source = open(join(dir, '${KID}', 'key.pem'));
    assert.ok(onlyKey(source.lookup('kid-a', 'ES256')).key.equals(publicKey));
    assert.equal(rejectionOf(source.lookup('kid-b', 'ES256')).reason, 'unknown_key');
  });

  test('a template folder missing at start is reported through onError, and keys created later load', async () => {
    const errors: string[] = [];
    const source = open(join(dir, 'later', '${KID}.pem'), { onError: (p, m) => errors.push(`${p}: ${m}`) });
    await eventually(() => errors.length > 0, 5000, 'onError');
    assert.match(errors[0] ?? '', /later: cannot watch the folder \(ENOENT\)/);
    assert.equal(rejectionOf(source.lookup('a', 'ES256')).reason, 'unknown_key');
    mkdirSync(join(dir, 'later'));
    const { pem, publicKey } = ecPem();
    writeFileSync(join(dir, 'later', 'a.pem'), pem);
    await eventually(() => !(source.lookup('a', 'ES256') instanceof Rejection), 5000, 'the new key file');
    assert.ok(onlyKey(source.lookup('a', 'ES256')).key.equals(publicKey));
  });

  test('bounds the cache at 1000 kids, evicting the oldest; unknown kids never enter it', () => {
    const text = hmacText();
    for (let i = 0; i <= 1000; i++) writeFileSync(join(dir, `k${i}.key`), text);
    const source = open(join(dir, '${KID}.key'));
    const k0 = source.lookup('k0', 'HS256');
    const k1 = source.lookup('k1', 'HS256');
    // A flood of unknown kids must not push real keys out.
    for (let i = 0; i < 3000; i++) rejectionOf(source.lookup(`hostile-${i}`, 'HS256'));
    assert.equal(source.lookup('k0', 'HS256'), k0, 'k0 still cached after the flood');
    for (let i = 2; i <= 1000; i++) keysOf(source.lookup(`k${i}`, 'HS256'));
    // 1001 distinct kids were loaded: the oldest (k0) was evicted, k1 is still cached.
    assert.equal(source.lookup('k1', 'HS256'), k1);
    const k0Again = source.lookup('k0', 'HS256');
    assert.notEqual(k0Again, k0, 'k0 was evicted and re-read');
    assert.equal(source.lookup('k1', 'HS256') === k1, false, 're-inserting k0 evicted the next oldest, k1');
  });
});
