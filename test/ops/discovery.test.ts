import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { idpKey, startIdp, WELL_KNOWN, type TestIdp } from '../helpers/idp.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

interface ProviderReadiness {
  readonly ready: boolean;
  readonly stale?: boolean;
  readonly source: string;
  readonly discovery?: { document: string; issuer: string | null; jwksUri: string | null; lastSuccess: string | null; error: string | null };
}

describe('OIDC discovery in the running service (SPEC §13)', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  async function idp(): Promise<TestIdp> {
    const p = await startIdp();
    closers.push(() => p.close());
    return p;
  }
  async function start(yaml: string, dir?: string): Promise<TestService> {
    const t = await startTestService(yaml, dir === undefined ? {} : { dir });
    closers.push(() => t.close());
    return t;
  }
  /** A provider configured by its issuer alone. */
  const byIssuer = (p: TestIdp, extra = '') => `  - name: corp
    discovery: true
    required-issuer: ${p.issuer}
    required-audience: trino
    jwks:
      ca-file: ${p.caFile}
      min-refresh-interval: 60s
${extra}`;
  const readyz = async (t: TestService) => {
    const res = await adminGet(t.service.adminAddress ?? '', '/readyz');
    return { status: res.status, body: JSON.parse(res.body) as { ready: boolean; providers: Record<string, ProviderReadiness> } };
  };
  const metric = async (t: TestService, series: string) => sample((await adminGet(t.service.adminAddress ?? '', '/metrics')).body, series) ?? 0;

  it('verifies tokens of a provider configured by issuer only, and /readyz shows the document, issuer and jwks_uri', async () => {
    const p = await idp();
    const k1 = idpKey('k1');
    p.keys([k1]);
    const t = await start(`providers:\n${byIssuer(p)}`);
    await eventually(() => t.service.ready(), 3000, 'ready');
    assertAllow(await t.client.check(bearer(await p.token(k1))));
    assertDeny(await t.client.check(bearer(await p.token(idpKey('k2')))), 'unknown_key');
    assertDeny(await t.client.check(bearer(await p.token(k1, { aud: 'other' }))), 'audience_mismatch');
    const { status, body } = await readyz(t);
    assert.equal(status, 200);
    const corp = body.providers['corp'];
    assert.equal(corp?.source, 'discovery');
    assert.equal(corp?.ready, true);
    assert.equal(corp?.stale, false);
    assert.deepEqual({ ...corp?.discovery, lastSuccess: typeof corp?.discovery?.lastSuccess }, {
      document: `${p.issuer}${WELL_KNOWN}`, issuer: p.issuer, jwksUri: `${p.server.url}/realms/corp/certs`, lastSuccess: 'string', error: null,
    });
    assert.equal(await metric(t, 'jwt_ext_authz_key_fetches_total{provider="corp",result="success",trigger="startup"}'), 1);
    assert.ok(t.logs.join('').includes('"msg":"discovery document accepted"'));
  });

  it('refuses a discovery document naming another issuer: 503 keys_unavailable, logged, counted, shown on /readyz', async () => {
    const p = await idp();
    const k1 = idpKey('k1');
    p.keys([k1]);
    p.document({ issuer: 'https://attacker.example/realms/corp' });
    const t = await start(`providers:\n${byIssuer(p)}`);
    await eventually(async () => (await metric(t, 'jwt_ext_authz_key_fetches_total{provider="corp",result="failure",trigger="startup"}')) === 1, 3000, 'failed startup');
    assertDeny(await t.client.check(bearer(await p.token(k1))), 'keys_unavailable', 503, 14);
    assert.equal(p.jwksRequests(), 0, 'the refused document\'s jwks_uri is never fetched');
    const { status, body } = await readyz(t);
    assert.equal(status, 503);
    assert.equal(body.providers['corp']?.ready, false);
    assert.match(body.providers['corp']?.discovery?.error ?? '', /names issuer "https:\/\/attacker\.example\/realms\/corp", not the required issuer/);
    const line = t.logs.join('').split('\n').find((l) => l.includes('discovery document failed or refused'));
    assert.ok(line !== undefined, 'the refusal is logged');
    assert.match(line, /"level":40/);
    assert.match(line, /refused/);
  });

  it('starts while the issuer is down, stays not ready for that provider only, and picks the issuer up by itself', async () => {
    const p = await idp();
    const k1 = idpKey('k1');
    p.keys([k1]);
    p.down();
    const dir = tempDir();
    const { ec } = testKeys();
    writeKey(dir, 'robots.pem', ec.publicKey);
    const t = await start(`providers:
${byIssuer(p)}  - name: robots
    key-file: robots.pem
    required-issuer: https://robots.test/
`, dir);
    await eventually(async () => (await metric(t, 'jwt_ext_authz_key_fetches_total{provider="corp",result="failure",trigger="startup"}')) === 1, 3000, 'failed startup');
    // The service runs: the other provider's tokens are answered, this one's get 503.
    assertAllow(await t.client.check(bearer(await sign({ iss: 'https://robots.test/', sub: 'ci', exp: nowSeconds() + 60 }, ec.privateKey))));
    assertDeny(await t.client.check(bearer(await p.token(k1))), 'keys_unavailable', 503, 14);
    const down = await readyz(t);
    assert.equal(down.status, 503);
    assert.equal(down.body.providers['corp']?.ready, false);
    assert.equal(down.body.providers['robots']?.ready, true);
    assert.match(down.body.providers['corp']?.discovery?.error ?? '', /unexpected status 503/);
    // No token triggers a fetch here (60 s cooldown): the backoff retry finds the issuer back.
    p.up();
    await eventually(() => t.service.ready(), 5000, 'recovery by itself');
    assertAllow(await t.client.check(bearer(await p.token(k1))));
    assert.equal((await readyz(t)).status, 200);
    assert.equal((await readyz(t)).body.providers['corp']?.discovery?.error, null);
  });

  it('follows a changed jwks_uri at the next refresh-interval, and the old keys stop verifying', async () => {
    const p = await idp();
    const old = idpKey('2025');
    const rotated = idpKey('2026');
    p.keys([old]);
    p.keys([rotated], '/realms/corp/certs-v2');
    const t = await start(`providers:\n${byIssuer(p, '      refresh-interval: 300ms\n')}`);
    await eventually(() => t.service.ready(), 3000, 'ready');
    assertAllow(await t.client.check(bearer(await p.token(old))));
    p.document({ jwksPath: '/realms/corp/certs-v2' });
    await eventually(() => p.jwksRequests('/realms/corp/certs-v2') > 0, 3000, 'the new jwks_uri fetched');
    await eventually(async () => ((await t.client.check(bearer(await p.token(rotated)))).status?.code ?? 0) === 0, 3000, 'the rotated key verifies');
    assertDeny(await t.client.check(bearer(await p.token(old))), 'unknown_key');
    const { body } = await readyz(t);
    assert.equal(body.providers['corp']?.discovery?.jwksUri, `${p.server.url}/realms/corp/certs-v2`);
    assert.ok(t.logs.join('').includes('discovery document names a new jwks_uri; following it'));
  });

  it('treats a key-file URL ending in /.well-known/openid-configuration as a discovery document', async () => {
    const p = await idp();
    const k1 = idpKey('k1');
    p.keys([k1]);
    const t = await start(`providers:
  - name: corp
    key-file: ${p.issuer}${WELL_KNOWN}
    required-issuer: ${p.issuer}
    jwks: { ca-file: ${p.caFile} }
`);
    await eventually(() => t.service.ready(), 3000, 'ready');
    assertAllow(await t.client.check(bearer(await p.token(k1))));
    assert.equal(p.documentRequests(), 1);
    assert.equal((await readyz(t)).body.providers['corp']?.source, 'discovery');
  });
});
