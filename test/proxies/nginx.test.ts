/**
 * Real nginx (Debian's nginx-light, auth_request) with deploy/nginx/jwt-ext-authz.conf in front
 * of the HTTP mode started from deploy/nginx/jwt-ext-authz.yaml.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNotForwarded, keysUnavailableStack, proxyTests, type ProxyUnderTest } from './scenarios.js';
import { startAuthz, startEcho, startNginx, through, token } from './support.js';

const nginx: ProxyUnderTest = { name: 'nginx', config: 'nginx/jwt-ext-authz.yaml', start: startNginx, denyBodyPassed: false };

proxyTests(nginx);

describe('nginx: answers that are neither allow nor deny', () => {
  it('turns 503 keys_unavailable into a 500 for the client and never reaches the upstream (fails closed)', async (t) => {
    const stack = await keysUnavailableStack(nginx);
    t.after(() => stack.close());
    const res = await through(stack.proxy, { path: '/v1/x', headers: { authorization: `Bearer ${await token('alice')}` } });
    assert.equal(res.status, 500);
    assertNotForwarded(res, 'a request checked while keys are unavailable');
    assert.match(stack.proxy.output(), /auth request unexpected status: 503/);
    // The allow-missing route still works: a request without a token needs no keys.
    assert.equal((await through(stack.proxy, { path: '/public/page' })).status, 200, 'no token needs no keys');
  });

  it('answers 500 when jwt-ext-authz is down, and never reaches the upstream', async (t) => {
    const echo = await startEcho();
    const authz = await startAuthz(nginx.config);
    const proxy = await startNginx(authz.service.httpAddress ?? '', echo.address);
    t.after(async () => {
      await proxy.close();
      await echo.close();
    });
    await authz.close();
    const res = await through(proxy, { path: '/public/page' });
    assert.equal(res.status, 500);
    assertNotForwarded(res, 'a request with jwt-ext-authz down');
  });
});
