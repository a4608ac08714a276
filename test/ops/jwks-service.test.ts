import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { nowSeconds, sign } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, grpcHealth, sample } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/service.js';

const ISS = 'https://idp.test/';
const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = (kid: string, key: KeyObject) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig' });
const token = (kid: string, key: KeyObject) => sign({ iss: ISS, sub: 'alice', exp: nowSeconds() + 600 }, key, { kid });

const config = (idp: TestServer, extra = '', timeout = '500ms') => `providers:
  - name: corp
    key-file: ${idp.url}/jwks.json
    required-issuer: ${ISS}
    jwks:
      ca-file: ${idp.caFile}
      min-refresh-interval: 300ms
      timeout: ${timeout}
${extra}`;

describe('JWKS providers in the running service', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  async function start(idp: TestServer, extra = '', options: { watch?: boolean; timeout?: string } = {}): Promise<TestService> {
    const { timeout, ...serviceOptions } = options;
    const t = await startTestService(config(idp, extra, timeout), serviceOptions);
    closers.push(() => t.close());
    return t;
  }
  const metric = async (t: TestService, series: string) => sample((await adminGet(t.service.adminAddress ?? '', '/metrics')).body, series);

  it('is not ready until the first fetch, then ready on /readyz and gRPC health', async () => {
    const idp = await startHttpsServer();
    closers.push(() => idp.close());
    const a = pair();
    // The first fetch is answered only when the test says so: a timer would race a loaded machine.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    closers.push(async () => release());
    idp.setHandler(async () => {
      await released;
      return { body: { keys: [jwk('a', a.publicKey)] } };
    });
    // The startup fetch must outlast the test's own steps on a loaded machine, or it times out
    // and a retry (another trigger) loads the keys.
    const t = await start(idp, '', { timeout: '30s' });
    assert.equal((await adminGet(t.service.adminAddress ?? '', '/readyz')).status, 503);
    assert.equal(await grpcHealth(t.service.grpcAddress, ''), 'NOT_SERVING');
    assertDeny(await t.client.check(bearer(await token('a', a.privateKey))), 'keys_unavailable', 503, 14);
    release();
    await eventually(() => t.service.ready(), 3000, 'ready');
    const ready = await adminGet(t.service.adminAddress ?? '', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal((JSON.parse(ready.body) as { providers: Record<string, { source: string }> }).providers['corp']?.source, 'jwks');
    await eventually(async () => (await grpcHealth(t.service.grpcAddress, 'envoy.service.auth.v3.Authorization')) === 'SERVING', 1000, 'SERVING');
    assertAllow(await t.client.check(bearer(await token('a', a.privateKey))));
    assert.equal(await metric(t, 'jwt_ext_authz_key_fetches_total{provider="corp",result="success",trigger="startup"}'), 1);
    assert.equal(await metric(t, 'jwt_ext_authz_keys_loaded{provider="corp"}'), 1);
  });

  it('accepts a rotated key after one unknown-kid refetch, and drops a removed key', async () => {
    const idp = await startHttpsServer();
    closers.push(() => idp.close());
    const a = pair();
    const b = pair();
    let keys = [jwk('a', a.publicKey)];
    idp.setHandler(() => ({ body: { keys } }));
    const t = await start(idp);
    await eventually(() => t.service.ready(), 3000, 'ready');
    await new Promise((r) => setTimeout(r, 350)); // past the refetch cooldown
    keys = [jwk('b', b.publicKey)];
    assertAllow(await t.client.check(bearer(await token('b', b.privateKey))));
    assert.equal(await metric(t, 'jwt_ext_authz_key_fetches_total{provider="corp",result="success",trigger="unknown_kid"}'), 1);
    // The new set replaced the old one whole: "a" is gone.
    assertDeny(await t.client.check(bearer(await token('a', a.privateKey))), 'unknown_key');
  });

  it('limits a flood of random unknown kids to one fetch per min-refresh-interval', async () => {
    const idp = await startHttpsServer();
    closers.push(() => idp.close());
    const a = pair();
    idp.setHandler(() => ({ body: { keys: [jwk('a', a.publicKey)] } }));
    const t = await start(idp);
    await eventually(() => t.service.ready(), 3000, 'ready');
    const tokens = await Promise.all(Array.from({ length: 500 }, (_, i) => token(`random-${i}`, a.privateKey)));
    const before = idp.requests.length;
    const started = Date.now();
    const answers = await Promise.all(tokens.map((tk) => t.client.check(bearer(tk))));
    const elapsed = Date.now() - started;
    for (const res of answers) assertDeny(res, 'unknown_key');
    // min-refresh-interval is 300 ms: one fetch, plus one per further 300 ms the flood lasted.
    const allowed = 1 + Math.floor(elapsed / 300);
    assert.ok(idp.requests.length - before <= allowed, `fetches during a ${elapsed} ms flood: ${idp.requests.length - before}`);
  });

  it('answers unknown_key within the refetch budget while a slow IdP is still answering', async () => {
    const idp = await startHttpsServer();
    closers.push(() => idp.close());
    const a = pair();
    let slow = false;
    idp.setHandler(() => ({ body: { keys: [jwk('a', a.publicKey)] }, ...(slow ? { delayMs: 400 } : {}) }));
    const t = await start(idp);
    await eventually(() => t.service.ready(), 3000, 'ready');
    await new Promise((r) => setTimeout(r, 350)); // past the refetch cooldown
    slow = true;
    const unknown = await token('new-kid', a.privateKey);
    const started = Date.now();
    assertDeny(await t.client.check(bearer(unknown), 200), 'unknown_key');
    assert.ok(Date.now() - started < 190, 'answered inside an Envoy-like 200 ms timeout');
  });

  it('keeps the running key source across a reload that leaves key-file and jwks alone: no new startup fetch', async () => {
    const idp = await startHttpsServer();
    closers.push(() => idp.close());
    const a = pair();
    idp.setHandler(() => ({ body: { keys: [jwk('a', a.publicKey)] } }));
    // Reloads only when the test asks, so each one is counted here.
    const t = await start(idp, '', { watch: false });
    await eventually(() => t.service.ready(), 3000, 'ready');
    const startupFetches = () => metric(t, 'jwt_ext_authz_key_fetches_total{provider="corp",result="success",trigger="startup"}');
    const source = t.service.authorizer.policy.providers[0]?.keys;
    assert.ok(source !== undefined);
    assert.equal(idp.requests.length, 1);

    // Another audience and clock skew: the provider's key settings are untouched.
    const text = readFileSync(t.file, 'utf8');
    writeFileSync(t.file, `clock-skew: 5s\n${text.replace(`required-issuer: ${ISS}`, `required-issuer: ${ISS}\n    required-audience: trino`)}`);
    assert.equal(await t.service.reload(), true);
    assertDeny(await t.client.check(bearer(await token('a', a.privateKey))), 'audience_mismatch');
    assert.equal(t.service.authorizer.policy.providers[0]?.keys, source, 'the same key source serves on');
    assert.ok(t.service.ready(), 'ready at once, without waiting for a fetch');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(idp.requests.length, 1, 'no fetch for the reload');
    assert.equal(await startupFetches(), 1);

    // The counter-check: a changed jwks setting is a new source, with its own startup fetch.
    writeFileSync(t.file, readFileSync(t.file, 'utf8').replace('timeout: 500ms', 'timeout: 600ms'));
    assert.equal(await t.service.reload(), true);
    assert.notEqual(t.service.authorizer.policy.providers[0]?.keys, source);
    assert.equal(idp.requests.length, 2);
    assert.equal(await startupFetches(), 2);
  });

  it('keeps the old keys when the IdP fails, and recovers by itself from an IdP down at startup', async () => {
    const idp = await startHttpsServer();
    closers.push(() => idp.close());
    const a = pair();
    let up = false;
    idp.setHandler(() => (up ? { body: { keys: [jwk('a', a.publicKey)] } } : { status: 500, body: 'down' }));
    const t = await start(idp);
    await eventually(async () => (await metric(t, 'jwt_ext_authz_key_fetches_total{provider="corp",result="failure",trigger="startup"}')) === 1, 3000, 'failed startup fetch');
    assertDeny(await t.client.check(bearer(await token('a', a.privateKey))), 'keys_unavailable', 503, 14);
    up = true;
    await eventually(() => t.service.ready(), 4000, 'recovery');
    assertAllow(await t.client.check(bearer(await token('a', a.privateKey))));
    up = false;
    await t.service.authorizer.policy.providers[0]?.jwks?.refresh('scheduled');
    assertAllow(await t.client.check(bearer(await token('a', a.privateKey))));
    assert.ok(t.logs.join('').includes('key set fetch failed'));
  });
});
