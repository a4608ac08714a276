import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { createCheckClient } from '../../src/grpc/client.js';
import { assertAllow } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, grpcHealth, promtoolCheck, sample } from '../helpers/scrape.js';
import { startTestService, tempDir } from '../helpers/service.js';

const keys = testKeys();
const provider = 'providers:\n  - name: corp\n    key-file: k.pem\n';
const goodToken = () => sign({ sub: 'alice', exp: nowSeconds() + 600 }, keys.rsa.privateKey);

function setup(): { dir: string; pki: TestPki } {
  const dir = tempDir();
  writeKey(dir, 'k.pem', keys.rsa.publicKey);
  return { dir, pki: makeTestPki(dir) };
}

describe('TLS and mTLS on the gRPC listener', () => {
  const { dir, pki } = setup();
  const server = pki.issue('server', 'server');
  const client = pki.issue('client', 'client');

  it('serves a TLS client that trusts the test CA', async () => {
    const t = await startTestService(`tls:\n  cert-file: ${server.certFile}\n  key-file: ${server.keyFile}\n${provider}`, { dir });
    const c = createCheckClient(t.service.grpcAddress.replace('127.0.0.1', 'localhost'), credentials.createSsl(readFileSync(pki.caFile)));
    try {
      assertAllow(await c.check(bearer(await goodToken())));
    } finally {
      c.close();
      await t.close();
    }
  });

  it('with client-ca-file, refuses a client without a certificate and serves one with', async () => {
    const t = await startTestService(
      `tls:\n  cert-file: ${server.certFile}\n  key-file: ${server.keyFile}\n  client-ca-file: ${pki.caFile}\n${provider}`,
      { dir },
    );
    const address = t.service.grpcAddress.replace('127.0.0.1', 'localhost');
    const anonymous = createCheckClient(address, credentials.createSsl(readFileSync(pki.caFile)));
    const withCert = createCheckClient(address, credentials.createSsl(readFileSync(pki.caFile), readFileSync(client.keyFile), readFileSync(client.certFile)));
    try {
      await assert.rejects(anonymous.check(bearer(await goodToken()), 2000));
      assertAllow(await withCert.check(bearer(await goodToken())));
    } finally {
      anonymous.close();
      withCert.close();
      await t.close();
    }
  });
});

describe('Unix socket listener', () => {
  it('answers checks on a 0660 socket and removes it on exit', async () => {
    const { dir } = setup();
    const socket = join(dir, 'authz.sock');
    const t = await startTestService(`listen: unix:${socket}\n${provider}`, { dir });
    assert.equal(statSync(socket).mode & 0o777, 0o660);
    const c = createCheckClient(`unix:${socket}`);
    try {
      assertAllow(await c.check(bearer(await goodToken())));
    } finally {
      c.close();
      await t.close();
    }
    assert.equal(existsSync(socket), false);
  });
});

describe('health and metrics', () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  before(async () => {
    t = await startTestService(provider, { dir: setup().dir });
  });
  after(() => t.close());

  it('answers /healthz and /readyz with per-provider detail', async () => {
    assert.equal((await adminGet(t.service.adminAddress ?? '', '/healthz')).status, 200);
    const ready = await adminGet(t.service.adminAddress ?? '', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { ready: true, providers: { corp: { ready: true, source: 'file' } } });
  });

  it('reports SERVING on grpc.health.v1 for "" and the Authorization service', async () => {
    assert.equal(await grpcHealth(t.service.grpcAddress, ''), 'SERVING');
    assert.equal(await grpcHealth(t.service.grpcAddress, 'envoy.service.auth.v3.Authorization'), 'SERVING');
  });

  it('exposes valid Prometheus text with every SPEC family, counting allows and denies', async () => {
    await t.client.check(bearer(await goodToken()));
    await t.client.check(bearer('nope'));
    const m = await adminGet(t.service.adminAddress ?? '', '/metrics');
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
    // prom-client's own nodejs_active_*_total gauges draw lint remarks; ours must draw none.
    assert.deepEqual(promtoolCheck(m.body).filter((l) => l.startsWith('jwt_ext_authz')), []);
    for (const family of ['checks_total', 'rejections_total', 'check_duration_seconds', 'key_fetches_total', 'key_fetch_duration_seconds',
      'keys_loaded', 'key_fetch_last_success_timestamp_seconds', 'token_cache_lookups_total', 'config_reloads_total']) {
      assert.match(m.body, new RegExp(`^# TYPE jwt_ext_authz_${family} `, 'm'));
    }
    assert.equal(sample(m.body, 'jwt_ext_authz_checks_total{decision="allow"}'), 1);
    assert.equal(sample(m.body, 'jwt_ext_authz_checks_total{decision="deny"}'), 1);
    assert.equal(sample(m.body, 'jwt_ext_authz_rejections_total{reason="malformed_token",provider=""}'), 1);
    assert.equal(sample(m.body, 'jwt_ext_authz_rejections_total{reason="expired",provider=""}'), 0);
    assert.match(m.body, /^process_resident_memory_bytes /m);
  });
});
