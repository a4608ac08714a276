/**
 * What must hold through every real proxy in front of the HTTP mode (SPEC §12, issue 11): the
 * mapped user upstream on allow, 401/403 to the client on deny, no client-sent identity or
 * claim header upstream, allow-missing routes, and a route that a client cannot choose with
 * X-Original-* / X-Forwarded-* headers or by spelling the path differently.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestService } from '../helpers/service.js';
import {
  IDENTITY_HEADERS, SCOPED_SCOPES, TOKEN_COOKIE, type Echo, type ProxyProcess, type Through, rawThrough, removeHeadersOf, startAuthz, startEcho,
  through, token, valuesOf,
} from './support.js';

export interface ProxyUnderTest {
  readonly name: string;
  /** deploy/<folder>/jwt-ext-authz.yaml. */
  readonly config: string;
  readonly start: (authz: string, upstream: string) => Promise<ProxyProcess>;
  /** Whether a deny's JSON body reaches the client (Caddy), or the proxy's own page (nginx). */
  readonly denyBodyPassed: boolean;
}

/** A client's own copies of every identity header, and of their underscore look-alikes. */
export const FORGED: Readonly<Record<string, string>> = {
  'X-Jwt-Principal': 'root',
  'X-Forwarded-Access-Token': 'forged-token',
  'X-Jwt-Email': 'root@evil.test',
  'X-Jwt-Groups': 'admin',
  'X_Jwt_Principal': 'root',
  'X_Forwarded_Access_Token': 'forged-token',
  'X_Jwt_Email': 'root@evil.test',
  'X_Jwt_Groups': 'admin',
};

/** No forged value reached the upstream: each identity header is jwt-ext-authz's (`expected`), or absent or empty where it has none. */
export function assertIdentity(seen: Through['upstream'], expected: Readonly<Record<string, string>>): void {
  assert.ok(seen, 'the request reached the upstream');
  for (const name of IDENTITY_HEADERS) {
    const values = valuesOf(seen, name);
    const want = expected[name];
    if (want === undefined) assert.ok(values.every((v) => v === ''), `${name} reached the upstream as ${JSON.stringify(values)}`);
    else assert.deepEqual(values, [want], name);
    assert.deepEqual(valuesOf(seen, name.replace(/-/g, '_')), [], `${name.replace(/-/g, '_')} reached the upstream`);
  }
}

/** What the upstream received; fails when the request did not reach it. */
export function upstreamOf(res: Through): NonNullable<Through['upstream']> {
  assert.ok(res.upstream, `the request reached the upstream (${res.status} ${res.body})`);
  return res.upstream;
}

export const assertNotForwarded = (res: Through, what: string): void => assert.equal(res.upstream, undefined, `${what} reached the upstream`);

const reasonOf = (res: Through): unknown => (JSON.parse(res.body) as Record<string, unknown>)['reason'];

/** Paths that look like /public (allow-missing) but name /admin, or name /admin oddly (SPEC §11). */
export const BYPASS_SPELLINGS = [
  '/public/../admin', '/public/%2e%2e/admin', '/public/%2E%2E/admin', '/public/./../admin', '/public/..%2fadmin', '/public/..%2Fadmin',
  '/public%2f..%2fadmin', '/public/..;/admin', '/public/%2e%2e;/admin', '/public;x/../admin', '/public/..%5cadmin', '/PUBLIC/../admin',
  '//public/../admin', '/public//../admin', '/public/x/../../admin', '//admin', '/admin;x', '/ADMIN', '/admin%2Fx', '/admin/.', '/public/..',
];

export function proxyTests(p: ProxyUnderTest): void {
  describe(`${p.name} in front of the HTTP mode, with the shipped configs`, () => {
    let authz: TestService;
    let echo: Echo;
    let proxy: ProxyProcess;
    before(async () => {
      authz = await startAuthz(p.config);
      echo = await startEcho();
      proxy = await p.start(authz.service.httpAddress ?? '', echo.address);
    });
    after(async () => {
      await proxy?.close();
      await echo?.close();
      await authz?.close();
    });

    const assertDenied = (res: Through, status: number, reason: string, challenge: string | undefined): void => {
      assert.equal(res.status, status, `${res.status} ${res.body}`);
      assertNotForwarded(res, reason);
      assert.equal(res.headers['www-authenticate'], challenge);
      if (p.denyBodyPassed) assert.equal(reasonOf(res), reason);
    };

    it('sends the mapped user, the verified token and the claim headers upstream on allow, with the client\'s method, path and body', async () => {
      const t = await token('alice', { email: 'alice@example.com', groups: ['ops', 'sre'] });
      const res = await through(proxy, { method: 'POST', path: '/v1/statement?x=1', headers: { authorization: `Bearer ${t}` }, body: 'SELECT 1' });
      assert.equal(res.status, 200);
      assertIdentity(res.upstream, { 'x-jwt-principal': 'alice', 'x-forwarded-access-token': t, 'x-jwt-email': 'alice@example.com', 'x-jwt-groups': 'ops,sre' });
      assert.equal(res.upstream?.method, 'POST');
      assert.equal(res.upstream?.url, '/v1/statement?x=1');
      assert.equal(res.upstream?.body, 'SELECT 1');
    });

    it('passes a large body and a chunked body to the upstream whole; the check never reads them', async () => {
      const t = await token('alice');
      const big = 'x'.repeat(200_000);
      const a = await through(proxy, { method: 'POST', path: '/v1/big', headers: { authorization: `Bearer ${t}` }, body: big });
      assert.equal(a.status, 200);
      assert.equal((JSON.parse(a.body) as { body: string }).body, big);
      const b = await through(proxy, { method: 'PUT', path: '/v1/chunked', headers: { authorization: `Bearer ${t}`, 'transfer-encoding': 'chunked' }, body: 'chunked body' });
      assert.equal(b.status, 200);
      assert.equal(b.upstream?.body, 'chunked body');
      assertIdentity(b.upstream, { 'x-jwt-principal': 'alice', 'x-forwarded-access-token': t });
      // And the next check still works (the proxy's connection to jwt-ext-authz, if it was closed, is reopened).
      assert.equal((await through(proxy, { path: '/v1/next', headers: { authorization: `Bearer ${t}` } })).status, 200);
    });

    it('denies a request without a token with 401 and the Bearer challenge, and never reaches the upstream', async () => {
      assertDenied(await through(proxy, { path: '/admin' }), 401, 'missing_token', 'Bearer realm="jwt-ext-authz"');
    });

    it('denies a token with a bad signature with 401 and the invalid_token challenge', async () => {
      const t = await token('alice');
      assertDenied(await through(proxy, { path: '/admin', headers: { authorization: `Bearer ${t.slice(0, -4)}AAAA` } }), 401, 'invalid_signature',
        'Bearer realm="jwt-ext-authz", error="invalid_token", error_description="invalid_signature"');
    });

    it('denies a user the mapping refuses with 403 user_not_allowed', async () => {
      assertDenied(await through(proxy, { path: '/admin', headers: { authorization: `Bearer ${await token('mallory')}` } }), 403, 'user_not_allowed', undefined);
    });

    it('never passes a client\'s own identity headers upstream when the token has every claim', async () => {
      const t = await token('alice', { email: 'alice@example.com', groups: ['ops'] });
      const res = await through(proxy, { path: '/v1/x', headers: { ...FORGED, authorization: `Bearer ${t}` } });
      assert.equal(res.status, 200);
      assertIdentity(res.upstream, { 'x-jwt-principal': 'alice', 'x-forwarded-access-token': t, 'x-jwt-email': 'alice@example.com', 'x-jwt-groups': 'ops' });
    });

    it('never passes a client\'s own claim headers upstream when the token lacks those claims', async () => {
      const t = await token('alice');
      const res = await through(proxy, { path: '/v1/x', headers: { ...FORGED, authorization: `Bearer ${t}` } });
      assert.equal(res.status, 200);
      assertIdentity(res.upstream, { 'x-jwt-principal': 'alice', 'x-forwarded-access-token': t });
    });

    it('lets a request without a token through on the allow-missing route, with no identity header at all', async () => {
      const res = await through(proxy, { path: '/public/page', headers: FORGED });
      assert.equal(res.status, 200);
      assertIdentity(res.upstream, {});
      assert.equal(res.upstream?.url, '/public/page');
    });

    it('still checks a token sent on the allow-missing route', async () => {
      const t = await token('alice');
      assertDenied(await through(proxy, { path: '/public/page', headers: { ...FORGED, authorization: `Bearer ${t.slice(0, -4)}AAAA` } }), 401,
        'invalid_signature', 'Bearer realm="jwt-ext-authz", error="invalid_token", error_description="invalid_signature"');
    });

    // SPEC §14 header hygiene: what an allow removes besides the identity headers. The proxy
    // config must do it (only Envoy honours x-envoy-auth-headers-to-remove).
    const BASIC = `Basic ${Buffer.from('admin:').toString('base64')}`;
    const authorizationOf = (res: Through): string[] => valuesOf(upstreamOf(res), 'authorization');
    /** A client's own copy of each header in response.remove-headers. */
    const sentRemoved = (): Record<string, string> => Object.fromEntries(removeHeadersOf(p.config).map((h) => [h, 'root']));
    const assertRemoved = (res: Through, what: string): void => {
      for (const h of removeHeadersOf(p.config)) {
        assert.deepEqual(valuesOf(upstreamOf(res), h).filter((v) => v !== ''), [], `${what}: ${h} reached the upstream`);
      }
    };

    it('keeps an Authorization header from the upstream when the token came from a cookie (a password-less Basic user beside it)', async () => {
      const t = await token('alice', { email: 'alice@example.com' });
      // Twice: the second answer comes from the verified-token cache.
      for (const i of [1, 2]) {
        const res = await through(proxy, { path: '/v1/statement', headers: { authorization: BASIC, cookie: `theme=dark; ${TOKEN_COOKIE}=${t}` } });
        assert.equal(res.status, 200, `request ${i}: ${res.status} ${res.body}`);
        assertIdentity(res.upstream, { 'x-jwt-principal': 'alice', 'x-forwarded-access-token': t, 'x-jwt-email': 'alice@example.com' });
        assert.deepEqual(authorizationOf(res), [], `request ${i}`);
        assert.deepEqual(valuesOf(upstreamOf(res), 'cookie'), [`theme=dark; ${TOKEN_COOKIE}=${t}`], 'the cookies go on (forward-original)');
      }
    });

    it('passes the Authorization header that carried the verified token on to the upstream', async () => {
      const t = await token('alice');
      for (const i of [1, 2]) {
        const res = await through(proxy, { path: '/v1/statement', headers: { authorization: `Bearer ${t}`, cookie: 'theme=dark' } });
        assert.equal(res.status, 200);
        assert.deepEqual(authorizationOf(res), [`Bearer ${t}`], `request ${i}`);
      }
    });

    it('never passes a Basic Authorization line sent beside a valid Bearer line: the proxy refuses it (400) or the check denies it', async () => {
      const headers: Record<string, string[]> = { authorization: [`Bearer ${await token('alice')}`, BASIC] };
      const res = await through(proxy, { path: '/v1/statement', headers });
      assertNotForwarded(res, 'two Authorization lines');
      if (res.status !== 400) {
        assertDenied(res, 401, 'malformed_token', 'Bearer realm="jwt-ext-authz", error="invalid_token", error_description="malformed_token"');
      }
    });

    it('keeps an Authorization header from the upstream on a tokenless allow-missing allow', async () => {
      for (const path of ['/public/page', '/docs/a']) {
        const res = await through(proxy, { path, headers: { ...FORGED, authorization: BASIC } });
        assert.equal(res.status, 200, path);
        assertIdentity(res.upstream, {});
        assert.deepEqual(authorizationOf(res), [], path);
      }
    });

    it('never passes the headers of response.remove-headers upstream, on a token allow and a tokenless one', async () => {
      assert.ok(removeHeadersOf(p.config).length > 0, `${p.config} lists response.remove-headers`);
      const t = await token('alice');
      const cases = { bearer: { authorization: `Bearer ${t}` }, cookie: { cookie: `${TOKEN_COOKIE}=${t}` }, tokenless: {} };
      for (const [what, headers] of Object.entries(cases)) {
        const res = await through(proxy, { path: what === 'tokenless' ? '/public/x' : '/v1/x', headers: { ...sentRemoved(), ...headers } });
        assert.equal(res.status, 200, what);
        assertRemoved(res, what);
      }
    });

    it('denies a token without every scope the route requires with 403 and exactly one RFC 6750 insufficient_scope challenge', async () => {
      const res = await through(proxy, { path: '/scoped/x', headers: { authorization: `Bearer ${await token('alice', { scope: 'admin read' })}` } });
      assertDenied(res, 403, 'insufficient_scope', `Bearer realm="jwt-ext-authz", error="insufficient_scope", scope="${SCOPED_SCOPES.join(' ')}"`);
      assert.equal(res.names.filter((n) => n === 'www-authenticate').length, 1);
      const t = await token('alice', { scp: [...SCOPED_SCOPES] });
      const ok = await through(proxy, { path: '/scoped/x', headers: { authorization: `Bearer ${t}` } });
      assert.equal(ok.status, 200, 'every scope (from scp)');
      assertIdentity(ok.upstream, { 'x-jwt-principal': 'alice', 'x-forwarded-access-token': t });
    });

    it('sends exactly one challenge with a 401', async () => {
      const res = await through(proxy, { path: '/scoped/x' });
      assertDenied(res, 401, 'missing_token', 'Bearer realm="jwt-ext-authz"');
      assert.equal(res.names.filter((n) => n === 'www-authenticate').length, 1);
    });

    it('lets a would-be deny on a report-only route through with no identity from the client: no identity header value, no Authorization', async () => {
      const t = await token('alice', { scope: 'read', email: 'alice@example.com' });
      const cases = { 'insufficient scope': `Bearer ${t}`, 'bad signature': `Bearer ${t.slice(0, -4)}AAAA`, 'Basic, no token': BASIC };
      for (const [what, authorization] of Object.entries(cases)) {
        const res = await through(proxy, { path: '/dry/x', headers: { ...FORGED, ...sentRemoved(), authorization } });
        assert.equal(res.status, 200, `${what}: ${res.status} ${res.body}`);
        assertIdentity(res.upstream, {});
        assert.deepEqual(authorizationOf(res), [], what);
        assertRemoved(res, what);
      }
    });

    it('checks the client\'s method, not the proxy\'s: GET (and HEAD) /docs need no token, POST /docs does', async () => {
      const get = await through(proxy, { path: '/docs/a', headers: FORGED });
      assert.equal(get.status, 200);
      assertIdentity(get.upstream, {});
      const head = await through(proxy, { method: 'HEAD', path: '/docs/a' });
      assert.equal(head.status, 200);
      assert.equal(head.upstream?.method, 'HEAD');
      assertDenied(await through(proxy, { method: 'POST', path: '/docs/a', body: 'x' }), 401, 'missing_token', 'Bearer realm="jwt-ext-authz"');
    });

    it('checks the client\'s host, with or without a port', async () => {
      for (const host of ['open.example.test', 'open.example.test:8080', 'OPEN.example.test']) {
        const res = await through(proxy, { path: '/anything', headers: { host } });
        assert.equal(res.status, 200, host);
        assertIdentity(res.upstream, {});
      }
      assertDenied(await through(proxy, { path: '/anything', headers: { host: 'closed.example.test' } }), 401, 'missing_token', 'Bearer realm="jwt-ext-authz"');
    });

    it('cannot be made to check another route, method or host by client-sent X-Original-* or X-Forwarded-* headers', async () => {
      const spoofs: Record<string, string | string[]>[] = [
        { 'X-Original-URI': '/public/page' },
        { 'X-Forwarded-Uri': '/public/page' },
        { 'X-Original-URI': ['/public/page', '/public/page'] },
        { 'X-Forwarded-Uri': ['/public/page', '/public/page'] },
        { 'X-Original-URI': '/public/page', 'X-Original-Method': 'GET', 'X-Forwarded-Uri': '/public/page', 'X-Forwarded-Method': 'GET' },
        { 'X-Forwarded-Host': 'open.example.test' },
        { 'X-Forwarded-Host': 'open.example.test', 'X-Forwarded-Uri': '/docs/a', 'X-Original-URI': '/docs/a' },
      ];
      for (const spoof of spoofs) {
        const res = await through(proxy, { path: '/admin', headers: { ...spoof, host: 'closed.example.test' } });
        assertDenied(res, 401, 'missing_token', 'Bearer realm="jwt-ext-authz"');
      }
      for (const spoof of [{ 'X-Original-Method': 'GET' }, { 'X-Forwarded-Method': 'GET' }, { 'X-Original-Method': 'GET', 'X-Forwarded-Method': 'GET' }]) {
        assertDenied(await through(proxy, { method: 'POST', path: '/docs/a', headers: spoof, body: 'x' }), 401, 'missing_token', 'Bearer realm="jwt-ext-authz"');
      }
    });

    it('is not got around by spelling the path differently: every SPEC §11 spelling, sent raw, is denied without a token', async () => {
      for (const path of BYPASS_SPELLINGS) {
        const res = await through(proxy, { path });
        // The proxy may refuse a spelling itself (400); it must never reach the upstream.
        assertNotForwarded(res, path);
        assert.ok(res.status === 401 || res.status === 400, `${path}: ${res.status} ${res.body}`);
      }
      // The allow-missing route itself, spelt plainly, still works.
      assert.equal((await through(proxy, { path: '/public/x/../page' })).status, 200);
    });

    it('checks an absolute-form request target by its own path and host, the ones the upstream gets', async () => {
      for (const target of ['http://closed.example.test/admin', 'http://closed.example.test/public/../admin', 'http://closed.example.test/public/%2e%2e/admin']) {
        const res = await rawThrough(proxy, target, { host: 'open.example.test' });
        assert.equal(res.upstream, undefined, `${target} reached the upstream`);
        assert.ok(res.status === 401 || res.status === 400, `${target}: ${res.status}`);
      }
      // The request line's host wins over Host (RFC 9112 §3.2.2) in the proxy, the check and the upstream alike.
      const open = await rawThrough(proxy, 'http://open.example.test/admin', { host: 'closed.example.test' });
      assert.equal(open.status, 200);
      assert.deepEqual(valuesOf(open.upstream ?? { method: '', url: '', headers: [], body: '' }, 'host').map((h) => h.replace(/:\d+$/, '')), ['open.example.test']);
    });
  });
}

/** The shipped config with a provider whose keys never load: every check is 503 keys_unavailable. */
export async function keysUnavailableStack(p: ProxyUnderTest): Promise<{ proxy: ProxyProcess; authz: TestService; echo: Echo; close(): Promise<void> }> {
  const authz = await startAuthz(p.config, { keysUnavailable: true });
  const echo = await startEcho();
  const proxy = await p.start(authz.service.httpAddress ?? '', echo.address);
  return {
    proxy,
    authz,
    echo,
    async close() {
      await proxy.close();
      await echo.close();
      await authz.close();
    },
  };
}
