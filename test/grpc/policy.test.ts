import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import type { DecodedCheckResponse } from '../../src/grpc/client.js';
import { assertAllow, assertDeny, headerMap } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { checkRequest } from '../helpers/requests.js';
import { adminGet, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const IDP = 'https://idp.test/';
const keys = testKeys();
const token = (extra: JWTPayload = {}): Promise<string> =>
  sign({ iss: IDP, sub: 'alice', exp: nowSeconds() + 600, ...extra }, keys.rsa.privateKey);
/** What the admin route wants: scopes admin and write, a group of ops/sre, and org.team data. */
const ADMIN_CLAIMS: JWTPayload = { scope: 'read admin write', groups: ['dev', 'sre'], org: { team: 'data' } };

const meta = (res: DecodedCheckResponse): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(res.dynamic_metadata?.fields ?? {}).map(([k, v]) => [k, v.stringValue]));
const challenge = (res: DecodedCheckResponse): string | undefined => headerMap(res.denied_response?.headers)['www-authenticate'];

const PROVIDER = `providers:
  - name: corp
    key-file: rsa.pem
    required-issuer: ${IDP}
`;

async function service(yaml: string): Promise<TestService> {
  const dir = tempDir();
  writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
  return startTestService(`${yaml}${PROVIDER}`, { dir, watch: false });
}

async function metric(t: TestService, series: string): Promise<number | undefined> {
  return sample((await adminGet(t.service.adminAddress ?? '', '/metrics')).body, series);
}

describe('scope and claim requirements over gRPC (SPEC §14)', () => {
  let t: TestService;
  const check = (path: string, headers: Record<string, string>, context?: Record<string, string>) =>
    t.client.check(checkRequest(headers, context === undefined ? { path } : { path, context }));
  const bearer = async (path: string, claims: JWTPayload, context?: Record<string, string>) =>
    check(path, { authorization: `Bearer ${await token(claims)}` }, context);

  before(async () => {
    t = await service(`realm: trino
routes:
  - name: admin
    match: { path-prefix: /admin }
    require: { scopes: [admin, write], claims: { groups: [ops, sre], org.team: [data] } }
  - name: scoped
    match: { path-prefix: /scoped }
    require: { scopes: [read] }
`);
  });
  after(() => t.close());

  it('allows a token whose scope string, group list and nested claim meet every requirement', async () => {
    assert.equal(assertAllow(await bearer('/admin/x', ADMIN_CLAIMS))['x-jwt-principal'], 'alice');
  });

  it('reads scopes from scp as a list and as a space-separated string', async () => {
    const claims = { groups: 'ops', org: { team: 'data' } };
    assertAllow(await bearer('/admin/x', { ...claims, scp: ['write', 'admin'] }));
    assertAllow(await bearer('/admin/x', { ...claims, scp: 'write admin' }));
    // scope and scp together: each required scope may come from either.
    assertAllow(await bearer('/admin/x', { ...claims, scope: 'admin', scp: ['write'] }));
  });

  it('denies with 403 insufficient_scope and the RFC 6750 challenge naming every required scope', async () => {
    const res = await bearer('/admin/x', { ...ADMIN_CLAIMS, scope: 'read admin' });
    const body = assertDeny(res, 'insufficient_scope', 403, 7);
    assert.equal(body['error'], 'forbidden');
    assert.equal(body['message'], 'the token lacks the scope "write"');
    assert.equal(challenge(res), 'Bearer realm="trino", error="insufficient_scope", scope="admin write"');
  });

  it('matches whole scopes only: "administrator" is not "admin", and an scp number is no scope', async () => {
    assertDeny(await bearer('/admin/x', { ...ADMIN_CLAIMS, scope: 'administrator write' }), 'insufficient_scope', 403, 7);
    assertDeny(await bearer('/admin/x', { ...ADMIN_CLAIMS, scope: undefined, scp: [1, 'write'] }), 'insufficient_scope', 403, 7);
    assertDeny(await bearer('/admin/x', { ...ADMIN_CLAIMS, scope: undefined }), 'insufficient_scope', 403, 7);
  });

  it('denies with 403 claim_mismatch and no challenge when a claim holds none of the values (any-of within a claim)', async () => {
    const res = await bearer('/admin/x', { ...ADMIN_CLAIMS, groups: ['dev', 'qa'] });
    const body = assertDeny(res, 'claim_mismatch', 403, 7);
    assert.equal(body['message'], 'the claim "groups" holds none of: ops, sre');
    assert.equal(challenge(res), undefined);
    assertDeny(await bearer('/admin/x', { ...ADMIN_CLAIMS, groups: 'admins' }), 'claim_mismatch', 403, 7);
    assertDeny(await bearer('/admin/x', { ...ADMIN_CLAIMS, groups: undefined }), 'claim_mismatch', 403, 7);
  });

  it('needs every listed claim (all-of across claims), walking dots into objects', async () => {
    assertAllow(await bearer('/admin/x', { ...ADMIN_CLAIMS, groups: 'ops' }));
    const wrongTeam = await bearer('/admin/x', { ...ADMIN_CLAIMS, org: { team: 'web' } });
    assert.equal(assertDeny(wrongTeam, 'claim_mismatch', 403, 7)['message'], 'the claim "org.team" holds none of: data');
    assertDeny(await bearer('/admin/x', { ...ADMIN_CLAIMS, org: ['data'] }), 'claim_mismatch', 403, 7);
    assertDeny(await bearer('/admin/x', { ...ADMIN_CLAIMS, org: undefined, 'org.team': undefined }), 'claim_mismatch', 403, 7);
    // A literal top-level name with dots wins, as for claim headers.
    assertAllow(await bearer('/admin/x', { ...ADMIN_CLAIMS, org: undefined, 'org.team': ['data'] }));
  });

  it('asks the requirements of a cached identity on every check', async () => {
    const tk = await token({ scope: 'read' });
    const hitsBefore = (await metric(t, 'jwt_ext_authz_token_cache_lookups_total{result="hit"}')) ?? 0;
    assertAllow(await check('/scoped/x', { authorization: `Bearer ${tk}` }));
    assertAllow(await check('/scoped/y', { authorization: `Bearer ${tk}` }));
    const res = await check('/admin/x', { authorization: `Bearer ${tk}` });
    assertDeny(res, 'insufficient_scope', 403, 7);
    assert.equal(challenge(res), 'Bearer realm="trino", error="insufficient_scope", scope="admin write"');
    const hitsAfter = (await metric(t, 'jwt_ext_authz_token_cache_lookups_total{result="hit"}')) ?? 0;
    assert.equal(hitsAfter - hitsBefore, 2, 'the second and third checks were cache hits');
  });

  it('lets jwt.require-scopes and jwt.require-claims each replace the route\'s value of that setting', async () => {
    const readOnly = { scope: 'read', groups: ['ops'], org: { team: 'data' } };
    assertDeny(await bearer('/admin/x', readOnly), 'insufficient_scope', 403, 7);
    assertAllow(await bearer('/admin/x', readOnly, { 'jwt.require-scopes': 'read' }));
    // The route's claims still hold when only the scopes are replaced.
    assertDeny(await bearer('/admin/x', { ...readOnly, groups: ['dev'] }, { 'jwt.require-scopes': 'read' }), 'claim_mismatch', 403, 7);
    assertAllow(await bearer('/admin/x', { ...ADMIN_CLAIMS, groups: ['dev'] }, { 'jwt.require-claims': '{"groups": ["dev"]}' }));
    // An empty value replaces the route's with nothing.
    assertAllow(await bearer('/admin/x', { groups: ['ops'], org: { team: 'data' } }, { 'jwt.require-scopes': '' }));
    // On a route without requirements, per check only.
    const res = await bearer('/other', { scope: 'read' }, { 'jwt.require-scopes': 'read  admin' });
    assertDeny(res, 'insufficient_scope', 403, 7);
    assert.equal(challenge(res), 'Bearer realm="trino", error="insufficient_scope", scope="read admin"');
    assertDeny(await bearer('/other', { groups: 'ops' }, { 'jwt.require-claims': '{"org.team": "data"}' }), 'claim_mismatch', 403, 7);
  });

  it('denies with 503 internal_error a jwt.require-claims that is not JSON or not shaped as a map of lists of strings, and keeps serving', async () => {
    for (const bad of ['groups=ops', '{"groups": [1]}', '["ops"]', '{"groups": []}', '{"groups": {"a": "b"}}', 'null', `{"g": ["${'x'.repeat(5000)}"]}`]) {
      const res = await bearer('/other', ADMIN_CLAIMS, { 'jwt.require-claims': bad });
      const body = assertDeny(res, 'internal_error', 503, 14);
      assert.match(body['message'] ?? '', /^context_extensions jwt\.require-claims .*; the proxy configuration must be fixed$/, bad.slice(0, 40));
    }
    assertDeny(await bearer('/other', ADMIN_CLAIMS, { 'jwt.require-scopes': 'a "b"' }), 'internal_error', 503, 14);
    assertAllow(await bearer('/other', ADMIN_CLAIMS, { 'jwt.require-claims': '{"groups": ["sre"]}' }));
  });

  it('carries reason, provider and route in the deny metadata', async () => {
    const res = await bearer('/admin/x', { scope: 'read' });
    assertDeny(res, 'insufficient_scope', 403, 7);
    assert.deepEqual(meta(res), { reason: 'insufficient_scope', provider: 'corp', route: 'admin' });
    const missing = await check('/admin/x', {});
    assertDeny(missing, 'missing_token');
    assert.deepEqual(meta(missing), { reason: 'missing_token', route: 'admin' });
  });

  it('counts requirement denies as rejections by reason and provider, every series present from startup', async () => {
    const text = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    assert.ok((sample(text, 'jwt_ext_authz_rejections_total{reason="insufficient_scope",provider="corp"}') ?? 0) >= 1);
    assert.ok((sample(text, 'jwt_ext_authz_rejections_total{reason="claim_mismatch",provider="corp"}') ?? 0) >= 1);
    for (const reason of ['insufficient_scope', 'claim_mismatch']) {
      assert.equal(sample(text, `jwt_ext_authz_report_only_denials_total{reason="${reason}",provider=""}`), 0);
    }
  });
});

describe('report-only over gRPC (SPEC §14)', () => {
  let t: TestService;
  const check = (path: string, headers: Record<string, string>) => t.client.check(checkRequest(headers, { path }));

  before(async () => {
    t = await service(`routes:
  - name: dry
    match: { path-prefix: /dry }
    require: { scopes: [admin] }
    report-only: true
  - name: enforced
    match: { path-prefix: /enforced }
    require: { scopes: [admin] }
`);
  });
  after(() => t.close());

  it('answers a would-be deny on a report-only route as an allow without identity, with the reason in the metadata', async () => {
    const res = await check('/dry/x', { authorization: `Bearer ${await token({ scope: 'read' })}`, 'x-jwt-principal': 'mallory' });
    assert.deepEqual(assertAllow(res), {});
    const removed = res.ok_response?.headers_to_remove ?? [];
    for (const h of ['x-jwt-principal', 'x-forwarded-access-token', 'x_jwt_principal', 'authorization']) assert.ok(removed.includes(h), h);
    assert.deepEqual(meta(res), { reason: 'insufficient_scope', provider: 'corp', route: 'dry', report_only: 'true' });
  });

  it('counts it in report_only_denials_total and as an allow, never in rejections_total', async () => {
    const before = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    assertAllow(await check('/dry/x', { authorization: `Bearer ${await token({ scope: 'read' })}` }));
    assertAllow(await check('/dry/x', {}));
    assertDeny(await check('/enforced/x', { authorization: `Bearer ${await token({ scope: 'read' })}` }), 'insufficient_scope', 403, 7);
    const afterText = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    const delta = (series: string) => (sample(afterText, series) ?? 0) - (sample(before, series) ?? 0);
    assert.equal(delta('jwt_ext_authz_report_only_denials_total{reason="insufficient_scope",provider="corp"}'), 1);
    assert.equal(delta('jwt_ext_authz_report_only_denials_total{reason="missing_token",provider=""}'), 1);
    assert.equal(delta('jwt_ext_authz_rejections_total{reason="missing_token",provider=""}'), 0);
    assert.equal(delta('jwt_ext_authz_rejections_total{reason="insufficient_scope",provider="corp"}'), 1, 'the enforced route only');
    assert.equal(delta('jwt_ext_authz_checks_total{decision="allow",transport="grpc"}'), 2);
    assert.equal(delta('jwt_ext_authz_checks_total{decision="deny",transport="grpc"}'), 1);
  });

  it('logs the would-be deny', async () => {
    await check('/dry/logged', {});
    const line = t.logs.join('').split('\n').filter((l) => l.includes('report-only')).map((l) => JSON.parse(l) as Record<string, unknown>).pop();
    assert.equal(line?.['reason'], 'missing_token');
    assert.equal(line?.['route'], 'dry');
    assert.equal(line?.['reportOnly'], true);
  });

  it('enforces outside the report-only route', async () => {
    assertDeny(await check('/other', {}), 'missing_token');
  });

  it('still denies with 503 internal_error on a report-only route: fail closed is not a decision a dry run may skip', async () => {
    const tk = await token({ scope: 'admin' });
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${tk}` }, { path: '/dry/x', context: { 'jwt.require-claims': 'not json' } }));
    assertDeny(res, 'internal_error', 503, 14);
    assert.equal(meta(res)['report_only'], undefined);
  });
});

describe('global report-only, and deny metadata with dynamic-metadata off', () => {
  let t: TestService;
  before(async () => {
    t = await service(`report-only: true
response: { dynamic-metadata: false }
routes:
  - name: strict
    match: { path-prefix: /strict }
    report-only: false
`);
  });
  after(() => t.close());

  it('passes every would-be deny of a route without its own setting, a bad token included', async () => {
    const res = await t.client.check(checkRequest({ authorization: 'Bearer not.a.jwt' }, { path: '/x' }));
    assert.deepEqual(assertAllow(res), {});
    assert.deepEqual(meta(res), { reason: 'malformed_token', report_only: 'true' });
    assert.ok(res.ok_response?.headers_to_remove?.includes('authorization'));
  });

  it('lets a route turn it off, and a deny then carries reason and route although dynamic-metadata is false', async () => {
    const res = await t.client.check(checkRequest({}, { path: '/strict/x' }));
    assertDeny(res, 'missing_token');
    assert.deepEqual(meta(res), { reason: 'missing_token', route: 'strict' });
    const allowed = await t.client.check(checkRequest({ authorization: `Bearer ${await token()}` }, { path: '/strict/x' }));
    assertAllow(allowed);
    assert.equal(allowed.dynamic_metadata ?? undefined, undefined, 'no identity in the metadata');
  });
});

describe('header hygiene over gRPC (SPEC §14)', () => {
  let t: TestService;
  before(async () => {
    t = await service(`token:
  sources:
    - { header: authorization, scheme: Bearer }
    - { cookie: access_token }
response:
  principal-header: x-trino-user
  remove-headers: [X-Trino-Original-User, x-trino-extra-credential]
routes:
  - name: public
    match: { path-prefix: /public }
    allow-missing: true
`);
  });
  after(() => t.close());

  it('removes response.remove-headers on every allow, and keeps the Authorization header that carried the token', async () => {
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${await token()}`, 'x-trino-original-user': 'admin' }));
    assert.equal(assertAllow(res)['x-trino-user'], 'alice');
    const removed = res.ok_response?.headers_to_remove ?? [];
    assert.ok(removed.includes('x-trino-original-user') && removed.includes('x-trino-extra-credential'), String(removed));
    assert.ok(!removed.includes('authorization'), 'the checked Authorization header stays (forward-original: true)');
  });

  it('strips a password-less Basic user sent beside a cookie token (the Trino README case)', async () => {
    const basic = `Basic ${Buffer.from('admin:').toString('base64')}`;
    for (let i = 0; i < 2; i++) {
      // Twice: the second answer is the one reused for the cached identity.
      const res = await t.client.check(checkRequest({ authorization: basic, cookie: `access_token=${await token()}` }));
      assert.equal(assertAllow(res)['x-trino-user'], 'alice');
      assert.ok(res.ok_response?.headers_to_remove?.includes('authorization'), 'Basic beside a cookie token is removed');
    }
  });

  it('strips any Authorization header on a tokenless allow-missing allow', async () => {
    const res = await t.client.check(checkRequest({ authorization: 'Basic YWRtaW46' }, { path: '/public/x' }));
    assert.deepEqual(assertAllow(res), {});
    const removed = res.ok_response?.headers_to_remove ?? [];
    for (const h of ['x-trino-user', 'authorization', 'x-trino-original-user']) assert.ok(removed.includes(h), h);
  });
});

describe('report-only with forward-original: false (SPEC §6, §14)', () => {
  let t: TestService;
  before(async () => {
    t = await service(`token:
  sources:
    - { header: x-token }
    - { cookie: access_token }
    - { query: access_token }
response: { forward-original: false }
routes:
  - name: dry
    match: { path-prefix: /dry }
    require: { scopes: [admin] }
    report-only: true
`);
  });
  after(() => t.close());

  it('takes the token\'s carrier off a would-be deny too: a dry run must not hand the upstream a token it never gets when enforcing', async () => {
    const tk = await token({ scope: 'read' });
    const header = await t.client.check(checkRequest({ 'x-token': tk }, { path: '/dry/x' }));
    assert.deepEqual(assertAllow(header), {});
    assert.ok(header.ok_response?.headers_to_remove?.includes('x-token'), String(header.ok_response?.headers_to_remove));

    const cookie = await t.client.check(checkRequest({ cookie: `theme=dark; access_token=${tk}` }, { path: '/dry/x' }));
    assert.deepEqual(assertAllow(cookie), { cookie: 'theme=dark' });

    const query = await t.client.check(checkRequest({}, { path: `/dry/x?access_token=${tk}` }));
    assertAllow(query);
    assert.deepEqual(query.ok_response?.query_parameters_to_remove, ['access_token']);
    assert.equal(meta(query)['report_only'], 'true');
  });
});
