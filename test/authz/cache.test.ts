import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createAuthorizer } from '../../src/authz/authorizer.js';
import { entryBytes } from '../../src/authz/cache.js';
import { closePolicy, startPolicy } from '../../src/authz/key-lifecycle.js';
import { buildPolicy } from '../../src/authz/policy.js';
import type { CheckResponse } from '../../src/envoy/check-response.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { startHttpsServer } from '../helpers/https-server.js';
import { sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { startTestService, tempDir } from '../helpers/service.js';
import { adminGet, sample } from '../helpers/scrape.js';

const T0 = 1_800_000_000_000;

/** An in-process authorizer on a config file, with a clock the test moves; closed after the test, pass or fail. */
function harness(t: TestContext, yaml: string, files: (dir: string) => void = () => undefined) {
  const dir = tempDir();
  files(dir);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  const metrics = createMetrics({ defaultMetrics: false });
  const clock = { now: T0 };
  const policy = buildPolicy(loadConfigFile(file));
  const authorizer = createAuthorizer(policy, { metrics, now: () => clock.now });
  t.after(() => closePolicy(authorizer.policy));
  const check = async (token: string) => (await authorizer.check(bearer(token))) as CheckResponse;
  const lookups = async (result: string) => sample(await metrics.registry.metrics(), `jwt_ext_authz_token_cache_lookups_total{result="${result}"}`);
  return { dir, file, clock, authorizer, check, lookups };
}

const reasonOf = (res: CheckResponse) => (res.denied_response === undefined ? 'allow' : (JSON.parse(res.denied_response.body) as { reason: string }).reason);

describe('verified-token cache', () => {
  const keys = testKeys();
  const fileConfig = 'clock-skew: 0s\nproviders:\n  - name: corp\n    key-file: k.pem\n';

  it('answers a repeated token from the cache and counts hits and misses', async (t) => {
    const h = harness(t, fileConfig, (dir) => writeKey(dir, 'k.pem', keys.rsa.publicKey));
    const token = await sign({ sub: 'alice', exp: T0 / 1000 + 60 }, keys.rsa.privateKey);
    assert.equal(reasonOf(await h.check(token)), 'allow');
    assert.equal(reasonOf(await h.check(token)), 'allow');
    assert.equal(await h.lookups('miss'), 1);
    assert.equal(await h.lookups('hit'), 1);
  });

  it('once full, keeps its tokens through a flood of one-use tokens and lets a token in on its second use', async (t) => {
    const h = harness(t, `clock-skew: 0s\ncache: { max-entries: 2 }\nproviders:\n  - name: corp\n    key-file: k.pem\n`, (dir) => writeKey(dir, 'k.pem', keys.rsa.publicKey));
    const tok = (sub: string) => sign({ sub, exp: T0 / 1000 + 60 }, keys.rsa.privateKey);
    const [a, b, c] = await Promise.all([tok('a'), tok('b'), tok('c')]);
    const flood = await Promise.all(Array.from({ length: 20 }, (_, i) => tok(`once-${i}`)));
    for (const token of [a, b, ...flood]) assert.equal(reasonOf(await h.check(token)), 'allow');
    assert.equal(await h.lookups('miss'), 22);
    for (const token of [a, b]) assert.equal(reasonOf(await h.check(token)), 'allow');
    assert.equal(await h.lookups('hit'), 2, 'the first two tokens are still cached');
    assert.equal(reasonOf(await h.check(c)), 'allow');
    assert.equal(reasonOf(await h.check(c)), 'allow');
    assert.equal(await h.lookups('hit'), 2, 'c was verified twice: refused once, then let in');
    assert.equal(reasonOf(await h.check(c)), 'allow');
    assert.equal(await h.lookups('hit'), 3, 'and is now answered from the cache');
    assert.equal(reasonOf(await h.check(a)), 'allow');
    assert.equal(reasonOf(await h.check(b)), 'allow');
    assert.equal(await h.lookups('hit'), 4, 'c took the least recently used slot');
  });

  it('counts a cache full by its byte limit as full: a first-seen token waits for its second use', async (t) => {
    const tok = (sub: string) => sign({ sub, exp: T0 / 1000 + 60 }, keys.rsa.privateKey);
    const [a, b, c] = await Promise.all([tok('a'), tok('b'), tok('c')]);
    // Room for two entries by bytes, for a hundred by count.
    const h = harness(t, `clock-skew: 0s\ncache: { max-entries: 100, max-bytes: ${2 * entryBytes(a) + 100} }\nproviders:\n  - name: corp\n    key-file: k.pem\n`, (dir) => writeKey(dir, 'k.pem', keys.rsa.publicKey));
    for (const token of [a, b, c, c, c, a]) assert.equal(reasonOf(await h.check(token)), 'allow');
    assert.equal(await h.lookups('hit'), 1, 'c was refused, then admitted in place of a (the least recently used), then hit; a missed');
  });

  it('never caches a failure', async (t) => {
    const h = harness(t, fileConfig, (dir) => writeKey(dir, 'k.pem', keys.rsa.publicKey));
    const token = await sign({ sub: 'alice', exp: T0 / 1000 - 10 }, keys.rsa.privateKey);
    assert.equal(reasonOf(await h.check(token)), 'expired');
    assert.equal(reasonOf(await h.check(token)), 'expired');
    assert.equal(await h.lookups('hit'), 0);
  });

  it('stops answering from the cache once the token expires', async (t) => {
    const h = harness(t, fileConfig, (dir) => writeKey(dir, 'k.pem', keys.rsa.publicKey));
    const token = await sign({ sub: 'alice', exp: T0 / 1000 + 60 }, keys.rsa.privateKey);
    assert.equal(reasonOf(await h.check(token)), 'allow');
    h.clock.now = T0 + 61_000;
    assert.equal(reasonOf(await h.check(token)), 'expired');
  });

  it('drops a cached token as soon as its key file is replaced by another key', async (t) => {
    const h = harness(t, fileConfig, (dir) => writeKey(dir, 'k.pem', keys.rsa.publicKey));
    const token = await sign({ sub: 'alice', exp: T0 / 1000 + 60 }, keys.rsa.privateKey);
    assert.equal(reasonOf(await h.check(token)), 'allow');
    writeKey(h.dir, 'k.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    const end = Date.now() + 3000;
    let reason = 'allow';
    while (reason === 'allow' && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 25));
      reason = reasonOf(await h.check(token));
    }
    assert.equal(reason, 'invalid_signature');
  });

  it('drops a cached token when the JWKS no longer holds its key', async (t) => {
    const idp = await startHttpsServer();
    t.after(() => idp.close());
    const a = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const b = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = (kid: string, key: KeyObject) => ({ ...key.export({ format: 'jwk' }), kid });
    let set = [jwk('a', a.publicKey)];
    idp.setHandler(() => ({ body: { keys: set } }));
    const h = harness(t, `providers:\n  - name: corp\n    key-file: ${idp.url}/jwks\n    jwks:\n      ca-file: ${idp.caFile}\n`);
    await startPolicy(h.authorizer.policy);
    const token = await sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 }, a.privateKey, { kid: 'a' });
    h.clock.now = Date.now();
    assert.equal(reasonOf(await h.check(token)), 'allow');
    set = [jwk('b', b.publicKey)];
    await h.authorizer.policy.providers[0]?.jwks?.refresh('scheduled');
    assert.equal(reasonOf(await h.check(token)), 'unknown_key');
  });

  it('starts empty after a config reload', async (t) => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    const svc = await startTestService('providers:\n  - name: corp\n    key-file: k.pem\n', { dir });
    t.after(() => svc.close());
    const token = await sign({ sub: 'alice', aud: 'x', exp: Math.floor(Date.now() / 1000) + 600 }, keys.rsa.privateKey);
    assert.equal(reasonOf((await svc.client.check(bearer(token))) as unknown as CheckResponse), 'allow');
    writeFileSync(svc.file, `${readFileSync(svc.file, 'utf8')}    required-audience: y\n`);
    assert.equal(await svc.service.reload(), true);
    assert.equal(reasonOf((await svc.client.check(bearer(token))) as unknown as CheckResponse), 'audience_mismatch');
    const m = (await adminGet(svc.service.adminAddress ?? '', '/metrics')).body;
    assert.equal(sample(m, 'jwt_ext_authz_token_cache_lookups_total{result="hit"}'), 0);
  });
});
