import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import type { DecodedCheckResponse } from '../../src/grpc/client.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { httpCheck } from '../helpers/http-check.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { runCli } from '../helpers/process.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const keys = testKeys();
const claims = (iss: string, extra: JWTPayload = {}): JWTPayload => ({ iss, sub: 'alice', exp: nowSeconds() + 600, ...extra });

const ROUTES = `routes:
  - name: public
    match: { path-prefix: /public/ }
    allow-missing: true
  - name: admin
    match: { path-prefix: /admin }
    providers: [corp]
  - name: health
    match: { path: /healthz }
    allow-missing: true
  - name: internal
    match: { hosts: ["*.internal.test"], methods: [POST] }
    providers: [partner]
  - name: trino
    match: { hosts: [trino.test], path-prefix: /v1/ }
    providers: [corp]
  - name: reports
    match: { path-prefix: /reports, methods: [GET] }
    providers: [corp]
providers:
  - name: corp
    key-file: rsa.pem
    required-issuer: https://corp.test/
  - name: partner
    key-file: ec.pem
    required-issuer: https://partner.test/
`;

interface Req {
  readonly path?: string;
  readonly host?: string;
  readonly method?: string;
  readonly token?: string;
  readonly context?: Record<string, string>;
}

/** A CheckRequest as Envoy sends it for one request. */
function envoy(r: Req): object {
  const path = r.path ?? '/';
  const host = r.host ?? 'app.test';
  const method = r.method ?? 'GET';
  const headers: Record<string, string> = { ':method': method, ':path': path, ':authority': host };
  if (r.token !== undefined) headers['authorization'] = `Bearer ${r.token}`;
  return {
    attributes: {
      request: { http: { method, path, host, headers } },
      ...(r.context === undefined ? {} : { context_extensions: r.context }),
    },
  };
}

const metadata = (res: DecodedCheckResponse): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(res.dynamic_metadata?.fields ?? {}).map(([k, v]) => [k, v.stringValue]));

describe('routes (SPEC §11)', () => {
  let t: TestService;
  let corp: string;
  let partner: string;
  const grpc = (r: Req) => t.client.check(envoy(r));
  const http = (r: Req) =>
    httpCheck(t.service.httpAddress ?? '', {
      method: r.method ?? 'GET',
      path: r.path ?? '/',
      headers: { host: r.host ?? 'app.test', ...(r.token === undefined ? {} : { authorization: `Bearer ${r.token}` }) },
    });

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    writeKey(dir, 'ec.pem', keys.ec.publicKey);
    corp = await sign(claims('https://corp.test/'), keys.rsa.privateKey);
    partner = await sign(claims('https://partner.test/'), keys.ec.privateKey);
    t = await startTestService(`http-listen: 127.0.0.1:0\n${ROUTES}`, { dir, watch: false });
  });
  after(() => t.close());

  it('applies the first route that matches; with none, every provider and a token required', async () => {
    const open = assertAllow(await grpc({ path: '/public/page' }));
    assert.equal(open['x-jwt-principal'], undefined, 'a tokenless allow sets no identity');
    assertDeny(await grpc({ path: '/elsewhere' }), 'missing_token');
    assertAllow(await grpc({ path: '/elsewhere', token: partner }));
    assertDeny(await grpc({ path: '/admin/users', token: partner }), 'issuer_mismatch');
    assertAllow(await grpc({ path: '/admin/users', token: corp }));
  });

  it('matches path-prefix on whole segments and path exactly, the query cut off', async () => {
    assertAllow(await grpc({ path: '/public' }));
    assertAllow(await grpc({ path: '/public/a/b?x=1' }));
    assertDeny(await grpc({ path: '/publicity' }), 'missing_token');
    assertDeny(await grpc({ path: '/admin', token: partner }), 'issuer_mismatch');
    assertAllow(await grpc({ path: '/administrator', token: partner }));
    assertAllow(await grpc({ path: '/healthz?probe=1' }));
    assertDeny(await grpc({ path: '/healthz/deep' }), 'missing_token');
  });

  it('matches hosts without port and case, "*." as one or more labels, and methods (GET also HEAD)', async () => {
    assertDeny(await grpc({ method: 'POST', host: 'a.internal.test:8443', token: corp }), 'issuer_mismatch');
    assertAllow(await grpc({ method: 'POST', host: 'A.B.Internal.TEST', token: partner }));
    // The bare domain is no "*." match; another method is no match.
    assertAllow(await grpc({ method: 'POST', host: 'internal.test', token: corp }));
    assertAllow(await grpc({ method: 'GET', host: 'a.internal.test', token: corp }));
    assertDeny(await grpc({ host: 'trino.test.', path: '/v1/statement', token: partner }), 'issuer_mismatch');
    assertAllow(await grpc({ host: 'trino.test', path: '/v1/statement', token: corp }));
    assertDeny(await grpc({ method: 'HEAD', path: '/reports/q1', token: partner }), 'issuer_mismatch');
    assertDeny(await grpc({ method: 'get', path: '/reports/q1', token: partner }), 'issuer_mismatch');
    assertAllow(await grpc({ method: 'POST', path: '/reports/q1', token: partner }));
  });

  it('lets context_extensions, when Envoy sends them, override the matched route', async () => {
    assertDeny(await grpc({ path: '/public/page', context: { 'jwt.allow-missing': 'false' } }), 'missing_token');
    assertAllow(await grpc({ path: '/admin/users', token: partner, context: { 'jwt.providers': 'partner' } }));
    assertAllow(await grpc({ path: '/elsewhere', context: { 'jwt.allow-missing': 'true' } }));
  });

  // Each reads as /admin... to some upstream: none may get less checking than /admin itself.
  const SPELLINGS = [
    '/public/../admin/x',
    '/public/%2e%2e/admin/x',
    '/public/./../admin',
    '//admin/x',
    '/admin;x',
    '/admin;jsessionid=1/x',
    '/ADMIN/x',
    '/Admin',
    '/admin%2Fx',
    '/admin%2fx',
    '/public/..;/admin/x',
    '/public%2F..%2Fadmin/x',
    '/%61dmin/x',
    // Envoy reads `admin;x`, the liberal reading `/public`; an upstream that drops `;x` but
    // keeps %2F inside a segment (Tomcat passthrough) serves /admin/users/...
    '/admin;x/users/bob%2F..%2F..%2F..%2Fpublic',
    '/ADMIN/users/bob%2F..%2F..%2F..%2Fpublic',
  ];

  it('can not be bypassed by spelling the path differently, over gRPC', async () => {
    for (const path of SPELLINGS) {
      assertDeny(await grpc({ path }), 'missing_token');
      assertDeny(await grpc({ path, token: partner }), 'issuer_mismatch');
      assertAllow(await grpc({ path, token: corp }));
    }
    assertDeny(await grpc({ path: '/public\\..\\admin', token: partner }), 'issuer_mismatch');
    // A spelling of an allow-missing route that some upstream reads elsewhere still needs a token.
    for (const path of ['/healthz/', '/HEALTHZ', '/healthz;x', '/public;x/page']) assertDeny(await grpc({ path }), 'missing_token');
  });

  it('can not be bypassed by spelling the path differently, over HTTP', async () => {
    for (const path of SPELLINGS) {
      const none = await http({ path });
      assert.equal(none.status, 401, path);
      assert.equal((JSON.parse(none.body) as Record<string, string>)['reason'], 'missing_token', path);
      const wrong = await http({ path, token: partner });
      assert.equal((JSON.parse(wrong.body) as Record<string, string>)['reason'], 'issuer_mismatch', path);
      assert.equal((await http({ path, token: corp })).status, 200, path);
    }
    for (const path of ['/healthz/', '/HEALTHZ', '/healthz;x']) assert.equal((await http({ path })).status, 401, path);
    assert.equal((await http({ path: '/public\\..\\admin', token: partner })).status, 401);
  });

  it('names the route in dynamic metadata, both routes when the readings disagree', async () => {
    assert.equal(metadata(await grpc({ path: '/admin/x', token: corp }))['route'], 'admin');
    assert.deepEqual(metadata(await grpc({ path: '/admin/x', token: partner })), { reason: 'issuer_mismatch', route: 'admin' });
    assert.equal(metadata(await grpc({ path: '/ADMIN/x', token: partner }))['route'], '(default)+admin');
    assert.equal(metadata(await grpc({ path: '/public/x' }))['route'], 'public');
    assert.equal(metadata(await grpc({ path: '/elsewhere', token: corp }))['route'], undefined);
  });

  it('names the route in the deny log', async () => {
    const id = 'route-log-1';
    await t.client.check({ attributes: { request: { http: { path: '/admin/x', headers: { authorization: `Bearer ${partner}`, 'x-request-id': id } } } } });
    const line = t.logs.join('').split('\n').filter((l) => l.includes(id)).map((l) => JSON.parse(l) as Record<string, unknown>)[0];
    assert.equal(line?.['route'], 'admin');
    assert.equal(line?.['reason'], 'issuer_mismatch');
  });

  it('names the route in check and verify output', async () => {
    const checked = await runCli(['check', '--target', t.service.grpcAddress, '--token', partner, '--path', '/admin/x']);
    assert.equal(checked.code, 1, checked.stderr);
    assert.equal((JSON.parse(checked.stdout) as Record<string, unknown>)['route'], 'admin');
    const allowed = await runCli(['check', '--target', t.service.grpcAddress, '--token', partner, '--path', '/x', '--method', 'POST', '--host', 'a.internal.test']);
    assert.equal(allowed.code, 0, allowed.stdout);
    assert.equal((JSON.parse(allowed.stdout) as Record<string, unknown>)['route'], 'internal');

    const config = join(t.dir, 'verify.yaml');
    writeFileSync(config, ROUTES);
    const verified = await runCli(['verify', '--config', config, '--token', partner, '--path', '/ADMIN/x']);
    assert.equal(verified.code, 1, verified.stderr);
    const out = JSON.parse(verified.stdout) as Record<string, unknown>;
    assert.equal(out['reason'], 'issuer_mismatch');
    assert.equal(out['route'], '(default)+admin');
    const elsewhere = JSON.parse((await runCli(['verify', '--config', config, '--token', partner, '--path', '/x'])).stdout) as Record<string, unknown>;
    assert.equal(elsewhere['route'], '(default)');
  });
});
