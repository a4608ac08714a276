import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { createCheckClient } from '../../src/grpc/client.js';
import { TLS_REFRESH_MS } from '../../src/grpc/credentials.js';
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

/** SHA-256 fingerprint of the certificate a fresh TLS handshake with `address` presents. */
function servedFingerprint(address: string, ca: Buffer): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, servername: 'localhost', ca, ALPNProtocols: ['h2'] }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('TLS certificate rotation', () => {
  it(`presents a certificate rotated in place to new handshakes within the ${TLS_REFRESH_MS / 1000} s refresh, without a restart`, async (t) => {
    const { dir, pki } = setup();
    const live = pki.issue('live', 'server');
    const next = pki.issue('next', 'server');
    const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;
    const [oldCert, newCert] = [fingerprint(live.certFile), fingerprint(next.certFile)];
    assert.notEqual(oldCert, newCert);
    const svc = await startTestService(`tls:\n  cert-file: ${live.certFile}\n  key-file: ${live.keyFile}\n${provider}`, { dir });
    t.after(() => svc.close());
    const ca = readFileSync(pki.caFile);
    assert.equal(await servedFingerprint(svc.service.grpcAddress, ca), oldCert);

    // As cert-manager does: new files under the same names (each replaced whole by a rename).
    copyFileSync(next.keyFile, `${live.keyFile}.new`);
    copyFileSync(next.certFile, `${live.certFile}.new`);
    renameSync(`${live.keyFile}.new`, live.keyFile);
    renameSync(`${live.certFile}.new`, live.certFile);
    const rotatedAt = Date.now();
    let served = oldCert;
    // A handshake every 200 ms until the new certificate shows, for at most one refresh and some slack.
    while (served !== newCert && Date.now() - rotatedAt < TLS_REFRESH_MS + 3000) {
      await sleep(200);
      served = await servedFingerprint(svc.service.grpcAddress, ca);
    }
    assert.equal(served, newCert, `still the old certificate ${Date.now() - rotatedAt} ms after the rotation`);
    t.diagnostic(`the new certificate served ${Date.now() - rotatedAt} ms after the rotation`);
    // And gRPC over the new certificate works end to end.
    const c = createCheckClient(svc.service.grpcAddress.replace('127.0.0.1', 'localhost'), credentials.createSsl(ca));
    t.after(() => c.close());
    assertAllow(await c.check(bearer(await goodToken())));
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
    assert.equal(sample(m.body, 'jwt_ext_authz_checks_total{decision="allow",transport="grpc"}'), 1);
    assert.equal(sample(m.body, 'jwt_ext_authz_checks_total{decision="deny",transport="grpc"}'), 1);
    assert.equal(sample(m.body, 'jwt_ext_authz_rejections_total{reason="malformed_token",provider=""}'), 1);
    assert.equal(sample(m.body, 'jwt_ext_authz_rejections_total{reason="expired",provider=""}'), 0);
    assert.match(m.body, /^process_resident_memory_bytes /m);
  });
});
