import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import { httpCheck, type HttpResult } from '../helpers/http-check.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { adminGet, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const IDP = 'https://idp.test/';
const keys = testKeys();
const token = (extra: JWTPayload = {}): Promise<string> =>
  sign({ iss: IDP, sub: 'alice', exp: nowSeconds() + 600, ...extra }, keys.rsa.privateKey);
const removed = (res: HttpResult): string[] => (res.headers['x-envoy-auth-headers-to-remove'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
const reason = (res: HttpResult): unknown => (JSON.parse(res.body) as Record<string, unknown>)['reason'];

describe('policy in the HTTP mode (SPEC §12, §14)', () => {
  let t: TestService;
  let http: string;
  const get = (path: string, headers: Record<string, string> = {}) => httpCheck(http, { path, headers });

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    t = await startTestService(`http-listen: 127.0.0.1:0
realm: trino
token:
  sources:
    - { header: authorization, scheme: Bearer }
    - { cookie: access_token }
response:
  principal-header: x-trino-user
  remove-headers: [x-trino-original-user]
routes:
  - name: admin
    match: { path-prefix: /admin }
    require: { scopes: [admin], claims: { groups: [ops] } }
  - name: dry
    match: { path-prefix: /dry }
    require: { scopes: [admin] }
    report-only: true
  - name: public
    match: { path-prefix: /public }
    allow-missing: true
providers:
  - name: corp
    key-file: rsa.pem
    required-issuer: ${IDP}
`, { dir, watch: false });
    http = t.service.httpAddress ?? '';
  });
  after(() => t.close());

  it('allows a token that meets the route\'s scopes and claims', async () => {
    const res = await get('/admin/x', { authorization: `Bearer ${await token({ scp: ['admin'], groups: ['ops'] })}` });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-trino-user'], 'alice');
  });

  it('denies with 403 insufficient_scope and the RFC 6750 §3.1 challenge', async () => {
    const res = await get('/admin/x', { authorization: `Bearer ${await token({ scope: 'read', groups: ['ops'] })}` });
    assert.equal(res.status, 403);
    assert.equal(reason(res), 'insufficient_scope');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="trino", error="insufficient_scope", scope="admin"');
  });

  it('denies with 403 claim_mismatch without a challenge', async () => {
    const res = await get('/admin/x', { authorization: `Bearer ${await token({ scope: 'admin', groups: ['dev'] })}` });
    assert.equal(res.status, 403);
    assert.equal(reason(res), 'claim_mismatch');
    assert.equal(res.headers['www-authenticate'], undefined);
  });

  it('answers a would-be deny on a report-only route with 200, every identity header empty, and counts it', async () => {
    const res = await get('/dry/x', { authorization: `Bearer ${await token({ scope: 'read' })}`, 'x-trino-user': 'mallory' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-trino-user'], '');
    assert.equal(res.headers['x-forwarded-access-token'], '');
    for (const h of ['x-trino-user', 'x-forwarded-access-token', 'authorization', 'x-trino-original-user']) assert.ok(removed(res).includes(h), h);
    const metrics = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    assert.equal(sample(metrics, 'jwt_ext_authz_report_only_denials_total{reason="insufficient_scope",provider="corp"}'), 1);
    assert.equal(sample(metrics, 'jwt_ext_authz_rejections_total{reason="insufficient_scope",provider="corp"}'), 1, 'only the enforced deny above');
  });

  it('lists response.remove-headers, and never the Authorization header that carried the token', async () => {
    const res = await get('/x', { authorization: `Bearer ${await token()}` });
    assert.equal(res.status, 200);
    assert.ok(removed(res).includes('x-trino-original-user'));
    assert.ok(!removed(res).includes('authorization'));
  });

  it('lists a password-less Basic user sent beside a cookie token for removal (the Trino README case)', async () => {
    const basic = `Basic ${Buffer.from('admin:').toString('base64')}`;
    const tk = await token();
    for (let i = 0; i < 2; i++) {
      const res = await get('/v1/statement', { authorization: basic, cookie: `theme=dark; access_token=${tk}` });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-trino-user'], 'alice');
      assert.ok(removed(res).includes('authorization'), `answer ${i}: ${removed(res).join(',')}`);
    }
  });

  it('lists any Authorization header for removal on a tokenless allow-missing allow', async () => {
    const res = await get('/public/x', { authorization: 'Basic YWRtaW46' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-trino-user'], '');
    assert.ok(removed(res).includes('authorization'));
  });
});

describe('report-only with forward-original: false in the HTTP mode (SPEC §6, §12, §14)', () => {
  let t: TestService;
  let http: string;
  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    t = await startTestService(`http-listen: 127.0.0.1:0
token:
  sources:
    - { header: x-token }
    - { cookie: access_token }
response: { forward-original: false }
report-only: true
providers:
  - name: corp
    key-file: rsa.pem
    required-issuer: ${IDP}
`, { dir, watch: false });
    http = t.service.httpAddress ?? '';
  });
  after(() => t.close());

  it('takes the token\'s carrier off a would-be deny as an allow would', async () => {
    const bad = 'e30.e30.sig';
    const header = await httpCheck(http, { path: '/x', headers: { 'x-token': bad } });
    assert.equal(header.status, 200);
    assert.ok(removed(header).includes('x-token'), removed(header).join(','));
    const cookie = await httpCheck(http, { path: '/x', headers: { cookie: `theme=dark; access_token=${bad}` } });
    assert.equal(cookie.status, 200);
    assert.equal(cookie.headers['cookie'], 'theme=dark');
  });
});
