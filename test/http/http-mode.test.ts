import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import { MAX_HEADER_BYTES } from '../../src/http/server.js';
import { h2Check, httpCheck, keepAliveAgent, rawExchange } from '../helpers/http-check.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { startCli } from '../helpers/process.js';
import { adminGet, eventually, sample } from '../helpers/scrape.js';
import { capturedLogs, startTestService, tempDir, type TestService } from '../helpers/service.js';

const IDP = 'https://idp.test/';
const good = (extra: JWTPayload = {}): JWTPayload => ({ iss: IDP, aud: 'trino', sub: 'alice@example.com', exp: nowSeconds() + 600, ...extra });
const keys = testKeys();
const signed = (payload: JWTPayload): Promise<string> => sign(payload, keys.rsa.privateKey);
const json = (body: string): Record<string, string> => JSON.parse(body) as Record<string, string>;
const logLines = (t: TestService): Record<string, unknown>[] =>
  t.logs.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

async function service(yaml: string): Promise<TestService> {
  const dir = tempDir();
  writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
  return startTestService(`http-listen: 127.0.0.1:0\n${yaml}`, { dir, watch: false });
}

const PROVIDER = `providers:
  - name: corp
    key-file: rsa.pem
    required-issuer: ${IDP}
    required-audience: trino
    user-mapping:
      pattern: (.*)@example\\.com
`;

describe('HTTP mode, original-request: path (Envoy http_service, Istio)', () => {
  let t: TestService;
  let http: string;
  before(async () => {
    t = await service(`http:
  path-prefix: /authz
response:
  claim-headers: { x-jwt-email: email, x-jwt-groups: groups }
${PROVIDER}`);
    http = t.service.httpAddress ?? '';
  });
  after(() => t.close());

  it('allows a valid token with 200, an empty body and every identity header, empty where the token has no value', async () => {
    const token = await signed(good({ email: 'alice@example.com' }));
    const res = await httpCheck(http, { path: '/authz/v1/statement', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.body, '');
    assert.equal(res.headers['x-jwt-principal'], 'alice');
    assert.equal(res.headers['x-forwarded-access-token'], token);
    assert.equal(res.headers['x-jwt-email'], 'alice@example.com');
    assert.ok(res.names.includes('x-jwt-groups'), 'a claim header without a value is still sent, empty');
    assert.equal(res.headers['x-jwt-groups'], '');
    const removed = (res.headers['x-envoy-auth-headers-to-remove'] ?? '').split(',').map((s) => s.trim());
    assert.deepEqual(removed.sort(), ['x-jwt-groups', 'x_forwarded_access_token', 'x_jwt_email', 'x_jwt_groups', 'x_jwt_principal']);
  });

  it('denies a request without a token with 401, a JSON body and a bare Bearer challenge', async () => {
    const res = await httpCheck(http, { path: '/authz/v1/statement' });
    assert.equal(res.status, 401);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(json(res.body), { error: 'unauthorized', reason: 'missing_token', message: 'no token in the request' });
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="jwt-ext-authz"');
    assert.equal(res.headers['x-jwt-principal'], undefined);
  });

  it('denies a token with a bad signature with the RFC 6750 invalid_token challenge', async () => {
    const token = await signed(good());
    const res = await httpCheck(http, { path: '/authz/', headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
    assert.equal(res.status, 401);
    assert.equal(json(res.body)['reason'], 'invalid_signature');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="jwt-ext-authz", error="invalid_token", error_description="invalid_signature"');
  });

  it('denies a principal the user mapping does not map with 403 and no challenge', async () => {
    const res = await httpCheck(http, { path: '/authz/', headers: { authorization: `Bearer ${await signed(good({ sub: 'mallory@elsewhere.test' }))}` } });
    assert.equal(res.status, 403);
    assert.equal(json(res.body)['reason'], 'user_mapping_failed');
    assert.equal(res.headers['www-authenticate'], undefined);
  });

  it('reads two Authorization lines as two tokens (malformed_token), never picking one', async () => {
    const token = await signed(good());
    const res = await httpCheck(http, { path: '/authz/', headers: { Authorization: [`Bearer ${token}`, `Bearer ${token}`] } });
    assert.equal(res.status, 401);
    assert.equal(json(res.body)['reason'], 'malformed_token');
  });

  it('answers every method, HEAD included, the same way', async () => {
    const token = await signed(good());
    for (const method of ['POST', 'DELETE', 'OPTIONS', 'PATCH']) {
      const res = await httpCheck(http, { method, path: '/authz/x', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, method);
    }
    const head = await httpCheck(http, { method: 'HEAD', path: '/authz/x' });
    assert.equal(head.status, 401);
  });

  it('denies a request outside http.path-prefix as a proxy configuration problem (503 internal_error)', async () => {
    const token = await signed(good());
    for (const path of ['/other/v1', '/authzx/v1']) {
      const res = await httpCheck(http, { path, headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 503, path);
      assert.equal(json(res.body)['reason'], 'internal_error');
    }
    assert.ok(logLines(t).some((l) => l['msg'] === 'HTTP check denied: proxy configuration problem' && l['level'] === 40));
  });

  it('keeps one HTTP/1.1 connection alive across checks', async () => {
    const agent = keepAliveAgent();
    const token = await signed(good());
    const ports = new Set<number | undefined>();
    for (let i = 0; i < 5; i++) {
      const res = await httpCheck(http, { path: '/authz/', agent, headers: { authorization: `Bearer ${i % 2 === 0 ? token : 'x'}` } });
      ports.add(res.localPort);
      assert.equal(res.headers['connection'], 'keep-alive');
    }
    agent.destroy();
    assert.equal(ports.size, 1, 'allows and denies alike kept the connection');
  });

  it('accepts 64 KiB of request headers (large cookies)', async () => {
    const token = await signed(good());
    const cookie = `big=${'c'.repeat(64 * 1024)}`;
    const res = await httpCheck(http, { path: '/authz/', headers: { authorization: `Bearer ${token}`, cookie } });
    assert.equal(res.status, 200);
  });

  it('answers headers past the limit with a JSON 401 token_too_large, never a dropped connection', async () => {
    const before = sample((await adminGet(t.service.adminAddress ?? '', '/metrics')).body, 'jwt_ext_authz_rejections_total{reason="token_too_large",provider=""}') ?? 0;
    for (const size of [MAX_HEADER_BYTES + 1024, 1024 * 1024]) {
      const { text, error } = await rawExchange(http, `GET /authz/ HTTP/1.1\r\nhost: app.test\r\ncookie: ${'c'.repeat(size)}\r\n\r\n`);
      assert.equal(error, undefined, `connection error ${error ?? ''}`);
      assert.match(text, /^HTTP\/1\.1 401 Unauthorized\r\n/);
      assert.match(text, /\r\ncontent-type: application\/json\r\n/);
      assert.match(text, /\r\nwww-authenticate: Bearer realm="jwt-ext-authz", error="invalid_token", error_description="token_too_large"\r\n/);
      const body = json(text.slice(text.indexOf('\r\n\r\n') + 4));
      assert.equal(body['reason'], 'token_too_large');
    }
    const metrics = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    assert.equal(sample(metrics, 'jwt_ext_authz_rejections_total{reason="token_too_large",provider=""}'), before + 2);
  });

  it('answers without reading a large body, and ends that connection after the answer', async () => {
    const token = await signed(good());
    const head = `POST /authz/upload HTTP/1.1\r\nhost: app.test\r\nauthorization: Bearer ${token}\r\ncontent-length: ${100 * 1024 * 1024}\r\n\r\n`;
    const { text, error } = await rawExchange(http, Buffer.concat([Buffer.from(head), Buffer.alloc(4096, 'b')]));
    assert.equal(error, undefined);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /\r\nconnection: close\r\n/i);
  });

  it('answers a client that expects 100-continue without asking for its body', async () => {
    const token = await signed(good());
    const head = `PUT /authz/x HTTP/1.1\r\nhost: app.test\r\nauthorization: Bearer ${token}\r\nexpect: 100-continue\r\ncontent-length: 10\r\nconnection: close\r\n\r\n`;
    const { text } = await rawExchange(http, head);
    assert.doesNotMatch(text, /100 Continue/);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  });

  it('answers a CONNECT request too, rather than dropping the connection as node would', async () => {
    const { text, error } = await rawExchange(http, 'CONNECT /authz/db:5432 HTTP/1.1\r\nhost: db:5432\r\n\r\n');
    assert.equal(error, undefined);
    assert.match(text, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.equal(json(text.slice(text.indexOf('\r\n\r\n') + 4))['reason'], 'missing_token');
  });

  it('answers HTTP/2 over cleartext (h2c) on the same port', async () => {
    const token = await signed(good());
    const allow = await h2Check(http, { ':path': '/authz/v1/statement', ':authority': 'app.test', authorization: `Bearer ${token}` });
    assert.equal(allow.status, 200);
    assert.equal(allow.headers['x-jwt-principal'], 'alice');
    const deny = await h2Check(http, { ':path': '/authz/v1/statement' });
    assert.equal(deny.status, 401);
    assert.equal(json(deny.body)['reason'], 'missing_token');
  });

  it('counts checks of each transport apart, every series there from startup', async () => {
    const fresh = await service(PROVIDER);
    try {
      const before = (await adminGet(fresh.service.adminAddress ?? '', '/metrics')).body;
      for (const d of ['allow', 'deny']) for (const tr of ['grpc', 'http']) assert.equal(sample(before, `jwt_ext_authz_checks_total{decision="${d}",transport="${tr}"}`), 0);
      const token = await signed(good());
      await httpCheck(fresh.service.httpAddress ?? '', { headers: { authorization: `Bearer ${token}` } });
      await httpCheck(fresh.service.httpAddress ?? '', {});
      await httpCheck(fresh.service.httpAddress ?? '', {});
      await fresh.client.check({ attributes: { request: { http: { path: '/', headers: { authorization: `Bearer ${token}` } } } } });
      const m = (await adminGet(fresh.service.adminAddress ?? '', '/metrics')).body;
      assert.equal(sample(m, 'jwt_ext_authz_checks_total{decision="allow",transport="http"}'), 1);
      assert.equal(sample(m, 'jwt_ext_authz_checks_total{decision="deny",transport="http"}'), 2);
      assert.equal(sample(m, 'jwt_ext_authz_checks_total{decision="allow",transport="grpc"}'), 1);
      assert.equal(sample(m, 'jwt_ext_authz_check_duration_seconds_count{decision="deny",transport="http"}'), 2);
      assert.equal(sample(m, 'jwt_ext_authz_rejections_total{reason="missing_token",provider=""}'), 2);
    } finally {
      await fresh.close();
    }
  });

  it('writes a deny log line naming the transport, and never the token', async () => {
    const token = await signed(good({ aud: 'nobody' }));
    await httpCheck(http, { path: '/authz/', headers: { authorization: `Bearer ${token}`, 'x-request-id': 'http-req-1' } });
    const line = logLines(t).find((l) => l['requestId'] === 'http-req-1');
    assert.equal(line?.['reason'], 'audience_mismatch');
    assert.equal(line?.['transport'], 'http');
    assert.ok(!capturedLogs.join('').includes(token));
  });
});

describe('HTTP mode, original-request: x-original (nginx auth_request)', () => {
  let t: TestService;
  let http: string;
  before(async () => {
    t = await service(`http:
  original-request: x-original
routes:
  - name: public
    match: { path-prefix: /public/ }
    allow-missing: true
  - name: posts
    match: { path-prefix: /forms/, methods: [POST] }
    allow-missing: true
${PROVIDER}`);
    http = t.service.httpAddress ?? '';
  });
  after(() => t.close());

  it('checks the path of X-Original-URI, not the path the proxy asked on', async () => {
    const res = await httpCheck(http, { path: '/_authz', headers: { 'x-original-uri': '/public/page?x=1' } });
    assert.equal(res.status, 200);
    assert.equal((await httpCheck(http, { path: '/public/page', headers: { 'x-original-uri': '/private' } })).status, 401);
  });

  it('ignores the X-Forwarded family, which a client may send through nginx', async () => {
    const res = await httpCheck(http, { path: '/_authz', headers: { 'x-original-uri': '/private', 'x-forwarded-uri': '/public/page' } });
    assert.equal(res.status, 401);
    assert.equal(json(res.body)['reason'], 'missing_token');
  });

  it('takes the method from X-Original-Method, else from the request itself', async () => {
    assert.equal((await httpCheck(http, { path: '/_authz', headers: { 'x-original-uri': '/forms/a', 'x-original-method': 'POST' } })).status, 200);
    assert.equal((await httpCheck(http, { path: '/_authz', headers: { 'x-original-uri': '/forms/a', 'x-original-method': 'GET' } })).status, 401);
    assert.equal((await httpCheck(http, { method: 'POST', path: '/_authz', headers: { 'x-original-uri': '/forms/a' } })).status, 200);
  });

  it('denies with 503 internal_error, logged as a proxy configuration problem, when X-Original-URI is missing or repeated', async () => {
    const token = await signed(good());
    const missing = await httpCheck(http, { path: '/public/page', headers: { authorization: `Bearer ${token}`, 'x-forwarded-uri': '/public/page' } });
    assert.equal(missing.status, 503);
    assert.equal(json(missing.body)['reason'], 'internal_error');
    assert.match(json(missing.body)['message'] ?? '', /X-Original-URI/);
    const twice = await httpCheck(http, { path: '/_authz', headers: { 'x-original-uri': ['/public/a', '/private'] } });
    assert.equal(twice.status, 503);
    const warn = logLines(t).find((l) => l['msg'] === 'HTTP check denied: proxy configuration problem');
    assert.match(String(warn?.['problem']), /X-Original-URI/);
  });
});

describe('HTTP mode, original-request: x-forwarded (Traefik, Caddy)', () => {
  let t: TestService;
  let http: string;
  before(async () => {
    t = await service(`http:
  original-request: x-forwarded
routes:
  - name: docs
    match: { hosts: [docs.example.com], path-prefix: / }
    allow-missing: true
${PROVIDER}`);
    http = t.service.httpAddress ?? '';
  });
  after(() => t.close());

  it('reads X-Forwarded-Host, else Host, with X-Forwarded-Uri', async () => {
    assert.equal((await httpCheck(http, { path: '/authz', headers: { 'x-forwarded-uri': '/a', 'x-forwarded-host': 'DOCS.example.com:8443' } })).status, 200);
    assert.equal((await httpCheck(http, { path: '/authz', headers: { 'x-forwarded-uri': '/a', host: 'docs.example.com' } })).status, 200);
    assert.equal((await httpCheck(http, { path: '/authz', headers: { 'x-forwarded-uri': '/a', 'x-forwarded-host': 'app.example.com', host: 'docs.example.com' } })).status, 401);
  });

  it('ignores X-Original-URI, which a client may send through Caddy, and needs X-Forwarded-Uri', async () => {
    const res = await httpCheck(http, { path: '/authz', headers: { 'x-original-uri': '/a', host: 'docs.example.com' } });
    assert.equal(res.status, 503);
    assert.match(json(res.body)['message'] ?? '', /X-Forwarded-Uri/);
  });
});

describe('HTTP mode before the keys are there', () => {
  let jwks: Server;
  let t: TestService;
  before(async () => {
    jwks = createServer((_req, res) => res.writeHead(500).end());
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const port = (jwks.address() as AddressInfo).port;
    t = await startTestService(`http-listen: 127.0.0.1:0
providers:
  - name: corp
    key-file: http://127.0.0.1:${port}/jwks.json
    required-issuer: ${IDP}
`, { dir: tempDir(), watch: false });
  });
  after(async () => {
    await t.close();
    jwks.close();
  });

  it('answers like the gRPC listener: 503 keys_unavailable', async () => {
    const token = await signed(good());
    const res = await httpCheck(t.service.httpAddress ?? '', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 503);
    assert.equal(json(res.body)['reason'], 'keys_unavailable');
    assert.equal(json(res.body)['error'], 'unavailable');
  });
});

describe('HTTP mode on a Unix socket', () => {
  it('listens on unix:/path with mode 0660 and answers there', async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    const socket = join(dir, 'authz.sock');
    const t = await startTestService(`http-listen: unix:${socket}\n${PROVIDER}`, { dir, watch: false });
    try {
      assert.equal(t.service.httpAddress, `unix:${socket}`);
      assert.equal(statSync(socket).mode & 0o777, 0o660);
      const res = await httpCheck(`unix:${socket}`, { headers: { authorization: `Bearer ${await signed(good())}` } });
      assert.equal(res.status, 200);
    } finally {
      await t.close();
    }
  });
});

describe('HTTP mode with workers: 2', () => {
  it('serves from both processes and sums their transport="http" counters on /metrics', async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\nadmin-listen: 127.0.0.1:0\nhttp-listen: 127.0.0.1:0\nworkers: 2\n${PROVIDER}`);
    const proc = await startCli(['serve', '--config', file, '--log-level', 'debug'], /"msg":"admin listening[\s\S]*"msg":"listening"[\s\S]*"msg":"listening"/);
    try {
      const admin = /"admin":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
      const http = /"http":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
      await eventually(async () => (await adminGet(admin, '/readyz')).status === 200, 5000, 'both workers ready');
      const token = await signed(good());
      // A new connection each (no agent), so the cluster's round-robin reaches both workers.
      for (let i = 0; i < 8; i++) assert.equal((await httpCheck(http, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      const workers = new Set([...proc.output().matchAll(/"worker":(\d+)[^\n]*"msg":"check allowed"/g)].map((m) => m[1]));
      assert.equal(workers.size, 2, 'allows logged by both workers');
      const metrics = (await adminGet(admin, '/metrics')).body;
      assert.equal(sample(metrics, 'jwt_ext_authz_checks_total{decision="allow",transport="http"}'), 8);
    } finally {
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0);
    }
  });
});

describe('HTTP mode on shutdown', () => {
  it('stops promptly with an idle keep-alive connection open, then refuses connections', async () => {
    const t = await service(PROVIDER);
    const http = t.service.httpAddress ?? '';
    const agent = keepAliveAgent();
    try {
      assert.equal((await httpCheck(http, { agent, headers: { authorization: `Bearer ${await signed(good())}` } })).status, 200);
      const started = Date.now();
      await t.close();
      assert.ok(Date.now() - started < 1000, `stopped after ${Date.now() - started} ms`);
      await assert.rejects(httpCheck(http, {}), /ECONNREFUSED/);
    } finally {
      agent.destroy();
    }
  });
});
