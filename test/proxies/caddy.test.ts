/**
 * Real Caddy (Debian's caddy, forward_auth) with deploy/caddy/Caddyfile in front of the HTTP
 * mode started from deploy/caddy/jwt-ext-authz.yaml.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FORGED, assertIdentity, assertNotForwarded, keysUnavailableStack, proxyTests, type ProxyUnderTest } from './scenarios.js';
import { startAuthz, startCaddy, startEcho, startStubAuthz, through, token } from './support.js';

const caddy: ProxyUnderTest = { name: 'Caddy', config: 'caddy/jwt-ext-authz.yaml', start: startCaddy, denyBodyPassed: true };

proxyTests(caddy);

describe('Caddy: answers that are neither allow nor deny', () => {
  it('passes 503 keys_unavailable to the client as it is, and never reaches the upstream', async (t) => {
    const stack = await keysUnavailableStack(caddy);
    t.after(() => stack.close());
    const res = await through(stack.proxy, { path: '/v1/x', headers: { authorization: `Bearer ${await token('alice')}` } });
    assert.equal(res.status, 503);
    assert.equal((JSON.parse(res.body) as Record<string, unknown>)['reason'], 'keys_unavailable');
    assertNotForwarded(res, 'a request checked while keys are unavailable');
  });

  it('answers 502 when jwt-ext-authz is down, and never reaches the upstream', async (t) => {
    const echo = await startEcho();
    const authz = await startAuthz(caddy.config);
    const proxy = await startCaddy(authz.service.httpAddress ?? '', echo.address);
    t.after(async () => {
      await proxy.close();
      await echo.close();
    });
    await authz.close();
    const res = await through(proxy, { path: '/public/page' });
    assert.equal(res.status, 502);
    assertNotForwarded(res, 'a request with jwt-ext-authz down');
  });
});

describe('Caddy: GHSA-7r4p-vjf4-gxv4 (a header missing from the auth answer)', () => {
  it('keeps a client\'s identity headers from the upstream through the Caddyfile alone, when an allow carries none', async (t) => {
    const echo = await startEcho();
    const stub = await startStubAuthz({ status: 200 });
    const proxy = await startCaddy(stub.address, echo.address);
    t.after(async () => {
      await proxy.close();
      await stub.close();
      await echo.close();
    });
    const res = await through(proxy, { path: '/v1/x', headers: FORGED });
    assert.equal(res.status, 200);
    // Caddy 2.6 writes the unreplaced placeholder, later ones before the fix nothing: never the client's value.
    const seen = res.upstream;
    assert.ok(seen);
    for (const [name, value] of Object.entries(FORGED)) {
      assert.ok(!seen.headers.some(([k, v]) => k === name.toLowerCase() && v === value), `${name}: ${value} reached the upstream`);
    }
    assertIdentity({ ...seen, headers: seen.headers.filter(([, v]) => !v.startsWith('{http.reverse_proxy.header.')) }, {});
  });
});
