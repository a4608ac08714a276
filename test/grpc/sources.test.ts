import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertAllow, assertDeny, headerMap } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { checkRequest } from '../helpers/requests.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

describe('token sources, response shaping and several issuers', () => {
  let t: TestService;
  const keys = testKeys();
  const token = (claims: Record<string, unknown> = {}) =>
    sign({ iss: 'https://a.test/', aud: 'app-a', sub: 'alice', exp: nowSeconds() + 600, ...claims }, keys.rsa.privateKey);

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    writeKey(dir, 'ec.pem', keys.ec.publicKey);
    t = await startTestService(
      `token:
  sources:
    - { header: authorization, scheme: Bearer }
    - { header: x-access-token }
    - { cookie: access_token }
    - { query: access_token }
response:
  forward-original: false
  claim-headers: { x-jwt-email: email, x-jwt-groups: groups, x-jwt-team: org.team }
providers:
  - name: a
    key-file: rsa.pem
    required-issuer: https://a.test/
    required-audience: app-a
  - name: b
    key-file: ec.pem
    required-issuer: https://b.test/
    required-audience: app-b
`,
      { dir },
    );
  });
  after(() => t.close());

  it('verifies two issuers, each against its own key and audience', async () => {
    assertAllow(await t.client.check(checkRequest({ authorization: `Bearer ${await token()}` })));
    const b = await sign({ iss: 'https://b.test/', aud: 'app-b', sub: 'bob' }, keys.ec.privateKey);
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${b}` }));
    assert.equal(assertAllow(res)['x-jwt-principal'], 'bob');
    assert.equal(res.dynamic_metadata?.fields?.['provider']?.stringValue, 'b');
    // b's audience is not a's.
    assertDeny(await t.client.check(checkRequest({ authorization: `Bearer ${await token({ aud: 'app-b' })}` })), 'audience_mismatch');
  });

  it('sets claim headers (arrays joined with ",", dotted paths) and removes absent ones', async () => {
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${await token({ email: 'a@x.test', groups: ['dev', 'ops'] })}` }));
    const set = assertAllow(res);
    assert.equal(set['x-jwt-email'], 'a@x.test');
    assert.equal(set['x-jwt-groups'], 'dev,ops');
    assert.ok(res.ok_response?.headers_to_remove?.includes('x-jwt-team'));
    const nested = assertAllow(await t.client.check(checkRequest({ authorization: `Bearer ${await token({ org: { team: 'data' } })}` })));
    assert.equal(nested['x-jwt-team'], 'data');
  });

  it('puts principal, user, provider, iss and sub in dynamic metadata', async () => {
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${await token()}` }));
    const fields = Object.fromEntries(Object.entries(res.dynamic_metadata?.fields ?? {}).map(([k, v]) => [k, v.stringValue]));
    assert.deepEqual(fields, { principal: 'alice', user: 'alice', provider: 'a', iss: 'https://a.test/', sub: 'alice' });
  });

  it('with forward-original false removes the authorization header', async () => {
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${await token()}` }));
    assertAllow(res);
    assert.ok(res.ok_response?.headers_to_remove?.includes('authorization'));
  });

  it('reads a whole-value header source', async () => {
    assertAllow(await t.client.check(checkRequest({ 'x-access-token': await token() })));
  });

  it('reads the cookie source and keeps the other cookies upstream', async () => {
    const res = await t.client.check(checkRequest({ cookie: `theme=dark; access_token=${await token()}; lang=en` }));
    assert.equal(assertAllow(res)['cookie'], 'theme=dark; lang=en');
  });

  it('keeps a quoted cookie value holding "," and ";" whole when it removes the token cookie', async () => {
    const res = await t.client.check(checkRequest({ cookie: `prefs="a,b;c"; access_token=${await token()}, lang=en` }));
    assert.equal(assertAllow(res)['cookie'], 'prefs="a,b;c"; lang=en');
  });

  it('denies two access_token cookies as malformed_token', async () => {
    const tk = await token();
    assertDeny(await t.client.check(checkRequest({ cookie: `access_token=${tk}, access_token=${tk}` })), 'malformed_token');
  });

  it('reads the query source and asks Envoy to remove that parameter', async () => {
    const res = await t.client.check(checkRequest({}, { path: `/data?x=1&access_token=${await token()}` }));
    assertAllow(res);
    assert.deepEqual(res.ok_response?.query_parameters_to_remove, ['access_token']);
  });

  it('ignores a percent-encoded parameter name that Envoy would not remove', async () => {
    const res = await t.client.check(checkRequest({}, { path: `/data?access%5Ftoken=${await token()}` }));
    assertDeny(res, 'missing_token');
    assert.equal(headerMap(res.denied_response?.headers)['www-authenticate'], 'Bearer realm="jwt-ext-authz"');
  });
});

describe('response shaping switched off: dynamic-metadata false, pass-through-header ""', () => {
  let t: TestService;
  const keys = testKeys();
  const token = () => sign({ iss: 'https://a.test/', sub: 'alice', exp: nowSeconds() + 600 }, keys.rsa.privateKey);

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    t = await startTestService(
      `response:
  pass-through-header: ""
  dynamic-metadata: false
providers:
  - name: a
    key-file: rsa.pem
    required-issuer: https://a.test/
`,
      { dir },
    );
  });
  after(() => t.close());

  it('answers an allow without dynamic_metadata', async () => {
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${await token()}` }));
    assert.equal(assertAllow(res)['x-jwt-principal'], 'alice');
    assert.equal(res.dynamic_metadata ?? undefined, undefined, `dynamic_metadata: ${JSON.stringify(res.dynamic_metadata)}`);
  });

  it('sets no pass-through header and lists none in headers_to_remove', async () => {
    const tk = await token();
    const res = await t.client.check(checkRequest({ authorization: `Bearer ${tk}` }));
    const set = assertAllow(res);
    // The principal header is the only one set: no token copy under any name.
    assert.deepEqual(Object.keys(set), ['x-jwt-principal']);
    assert.ok(!Object.values(set).includes(tk), 'the token is not passed upstream');
    assert.deepEqual(res.ok_response?.headers_to_remove, ['x_jwt_principal']);
    // Nor on an allow-missing route, which removes every identity header.
    const anonymous = await t.client.check(checkRequest({}, { context: { 'jwt.allow-missing': 'true' } }));
    assertAllow(anonymous);
    assert.deepEqual(anonymous.ok_response?.headers_to_remove, ['x-jwt-principal', 'x_jwt_principal', 'authorization']);
  });
});
