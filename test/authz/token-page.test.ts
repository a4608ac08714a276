import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { headerMap } from '../helpers/assertions.js';
import { assertDeny } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { checkRequest } from '../helpers/requests.js';
import { adminGet, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const PAGE = '/jwt-ext-authz/token';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

describe('client token page', () => {
  let t: TestService;
  let token = '';
  let proxy: Server;
  let proxyUrl = '';
  const keys = testKeys();

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    t = await startTestService(
      `token:\n  sources:\n    - { cookie: access_token }\n    - { header: authorization, scheme: Bearer }\ntoken-page:\n  path: ${PAGE}\nproviders:\n  - name: corp\n    key-file: k.pem\n`,
      { dir },
    );
    // A "<b>" claim proves the page escapes what it shows.
    token = await sign({ sub: 'alice<b>', exp: nowSeconds() + 3600 }, keys.rsa.privateKey);
    // A stand-in for Envoy: turns the Check answer into the HTTP reply, as the ext_authz filter does.
    proxy = createServer((req, res) => {
      void t.client.check(checkRequest({ cookie: req.headers.cookie ?? '' }, { path: req.url ?? '/' })).then((answer) => {
        const d = answer.denied_response;
        if (d === undefined) res.writeHead(200).end('upstream');
        else res.writeHead(Number(d.status?.code ?? 403), headerMap(d.headers)).end(d.body ?? '');
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    proxy.close();
    await t.close();
  });

  it('answers the page path with a 200 HTML page through denied_response, counted as an allow', async () => {
    const res = await t.client.check(checkRequest({ cookie: `theme=dark; access_token=${token}` }, { path: `${PAGE}?x=1` }));
    assert.equal(res.status?.code, 7);
    assert.equal(Number(res.denied_response?.status?.code), 200);
    const headers = headerMap(res.denied_response?.headers);
    assert.equal(headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(headers['cache-control'], 'no-store');
    const body = res.denied_response?.body ?? '';
    assert.ok(body.includes(token));
    assert.ok(body.includes('alice&lt;b&gt;') && !body.includes('alice<b>'));
    assert.match(body, /--access-token/);
    assert.match(body, /accessToken=/);
    const metrics = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    assert.equal(sample(metrics, 'jwt_ext_authz_checks_total{decision="allow",transport="grpc"}'), 1);
  });

  it('denies the page path with the usual 401 without a valid token', async () => {
    assertDeny(await t.client.check(checkRequest({ cookie: 'access_token=nope' }, { path: PAGE })), 'malformed_token');
    assertDeny(await t.client.check(checkRequest({}, { path: PAGE })), 'missing_token');
  });

  it('lets other paths through as a normal allow', async () => {
    const res = await t.client.check(checkRequest({ cookie: `access_token=${token}` }, { path: '/api' }));
    assert.equal(res.status?.code ?? 0, 0);
    assert.ok(res.ok_response);
  });

  it('renders in headless Chromium, and the copy button puts the token on the clipboard', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs Debian's chromium`);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext();
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: proxyUrl });
      await context.addCookies([{ name: 'access_token', value: token, url: proxyUrl }]);
      const page = await context.newPage();
      const response = await page.goto(`${proxyUrl}${PAGE}`);
      assert.equal(response?.status(), 200);
      assert.equal(await page.locator('#token').inputValue(), token);
      assert.equal(await page.locator('#user').textContent(), 'alice<b>');
      await page.click('#copy');
      await page.locator('#status').filter({ hasText: 'Copied' }).waitFor();
      // Runs in the page; the test's tsconfig has no DOM types.
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), token);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}token-page.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
