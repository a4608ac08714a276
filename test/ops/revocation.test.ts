import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DecodedCheckResponse } from '../../src/grpc/client.js';
import { assertAllow, assertDeny, headerMap } from '../helpers/assertions.js';
import { httpCheck } from '../helpers/http-check.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const ISS = 'https://idp.test/';
const keys = testKeys();
const token = (claims: Record<string, unknown>) =>
  sign({ iss: ISS, sub: 'alice', iat: nowSeconds() - 10, exp: nowSeconds() + 600, ...claims }, keys.ec.privateKey);
const rulesJson = (...rules: Record<string, string>[]) => JSON.stringify({ rules });

const CHALLENGE = 'Bearer realm="jwt-ext-authz", error="invalid_token", error_description="revoked"';

/** 401 `revoked`, gRPC 16, with the RFC 6750 invalid_token challenge. */
function assertRevoked(res: DecodedCheckResponse): void {
  assertDeny(res, 'revoked', 401, 16);
  assert.equal(headerMap(res.denied_response?.headers)['www-authenticate'], CHALLENGE);
}

describe('revocation in the running service (SPEC §14)', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  /** A service whose revocation file is `revocationPath` (relative to the config's folder). */
  async function start(dir: string, revocationPath: string, extra = ''): Promise<TestService> {
    writeKey(dir, 'k.pem', keys.ec.publicKey);
    const t = await startTestService(
      `${extra}revocations:\n  file: ${revocationPath}\nproviders:\n  - name: corp\n    key-file: k.pem\n    required-issuer: "${ISS}"\n`,
      { dir },
    );
    closers.push(() => t.close());
    return t;
  }
  const metricsOf = async (t: TestService): Promise<string> => (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
  const hits = async (t: TestService): Promise<number> => sample(await metricsOf(t), 'jwt_ext_authz_token_cache_lookups_total{result="hit"}') ?? NaN;
  const reloads = async (t: TestService, result: string): Promise<number | undefined> =>
    sample(await metricsOf(t), `jwt_ext_authz_config_reloads_total{result="${result}"}`);
  const denied = async (t: TestService, tk: string): Promise<boolean> => ((await t.client.check(bearer(tk))).status?.code ?? 0) !== 0;

  it('warns of a rule whose issuer no provider accepts (a missing trailing "/"): it revokes nothing', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'revoked.json'), rulesJson({ iss: 'https://idp.test', sub: 'alice' }));
    const t = await start(dir, 'revoked.json');
    assertAllow(await t.client.check(bearer(await token({}))));
    const line = t.logs.join('').split('\n').filter((l) => l.includes('no provider accepts')).map((l) => JSON.parse(l) as Record<string, unknown>)[0];
    assert.equal(line?.['level'], 40, 'logged as a warning, not as info');
    assert.match(String(line?.['msg']), /revoke nothing/);
  });

  it('denies a cached token with 401 revoked on the next request after the file is rewritten in place', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'revoked.json'), rulesJson());
    const t = await start(dir, 'revoked.json');
    const metrics = await metricsOf(t);
    assert.equal(sample(metrics, 'jwt_ext_authz_rejections_total{reason="revoked",provider=""}'), 0, 'the series exists from startup');
    const leaked = await token({ jti: 'leaked-1' });
    const other = await token({ jti: 'fine' });
    assertAllow(await t.client.check(bearer(leaked)));
    const before = await hits(t);
    assertAllow(await t.client.check(bearer(leaked)));
    assert.equal(await hits(t), before + 1, 'the second check was a cache hit');

    writeFileSync(join(dir, 'revoked.json'), rulesJson({ jti: 'leaked-1' }));
    await eventually(() => denied(t, leaked), 5000, 'the rewritten file');
    const hitsBefore = await hits(t);
    assertRevoked(await t.client.check(bearer(leaked)));
    assert.equal(await hits(t), hitsBefore + 1, 'denied on a cache hit: the entry stays, the rule is matched on every hit');
    assertAllow(await t.client.check(bearer(other)));
    const after = await metricsOf(t);
    assert.ok((sample(after, 'jwt_ext_authz_rejections_total{reason="revoked",provider="corp"}') ?? 0) >= 1);
    assert.equal(sample(after, 'jwt_ext_authz_config_reloads_total{result="success"}'), 1);
    assert.match(t.logs.join(''), /"msg":"revocation file reloaded"/);
  });

  it('denies a cached token after kubelet swaps a mounted ConfigMap\'s ..data symlink', async () => {
    const dir = tempDir();
    const cm = join(dir, 'cm');
    mkdirSync(join(cm, '..2026_03_01_a'), { recursive: true });
    writeFileSync(join(cm, '..2026_03_01_a', 'revoked.json'), rulesJson({ iss: ISS, sub: 'mallory' }));
    symlinkSync('..2026_03_01_a', join(cm, '..data'));
    symlinkSync(join('..data', 'revoked.json'), join(cm, 'revoked.json'));
    const t = await start(dir, 'cm/revoked.json');
    const alice = await token({});
    assertAllow(await t.client.check(bearer(alice)));
    assertAllow(await t.client.check(bearer(alice)));
    mkdirSync(join(cm, '..2026_03_02_b'));
    writeFileSync(join(cm, '..2026_03_02_b', 'revoked.json'), rulesJson({ iss: ISS, sub: 'mallory' }, { iss: ISS, sub: 'alice' }));
    symlinkSync('..2026_03_02_b', join(cm, '..data_tmp'));
    renameSync(join(cm, '..data_tmp'), join(cm, '..data'));
    rmSync(join(cm, '..2026_03_01_a'), { recursive: true });
    await eventually(() => denied(t, alice), 5000, 'the swapped file');
    const hitsBefore = await hits(t);
    assertRevoked(await t.client.check(bearer(alice)));
    assert.equal(await hits(t), hitsBefore + 1, 'a cache hit');
    assertDeny(await t.client.check(bearer(await token({ sub: 'mallory' }))), 'revoked');
  });

  it('keeps the last good rules when a rewrite is broken, logging file and problem and counting a failed reload', async () => {
    const dir = tempDir();
    const file = join(dir, 'revoked.json');
    writeFileSync(file, rulesJson({ iss: ISS, sub: 'mallory' }));
    const t = await start(dir, 'revoked.json');
    const mallory = await token({ sub: 'mallory' });
    const alice = await token({});
    assertRevoked(await t.client.check(bearer(mallory)));
    assertAllow(await t.client.check(bearer(alice)));

    writeFileSync(file, JSON.stringify({ rules: [{ iss: ISS }] }));
    await eventually(async () => (await reloads(t, 'failure')) === 1, 5000, 'the failed reload');
    assertRevoked(await t.client.check(bearer(mallory)));
    assertAllow(await t.client.check(bearer(alice)));
    const line = t.logs.join('').split('\n').find((l) => l.includes('revocation file change rejected'));
    assert.ok(line !== undefined, 'logged');
    assert.ok(line.includes(JSON.stringify(file)), line);
    assert.ok(line.includes('"key":"rules[0]"') && line.includes('{iss} is none of the rule shapes'), line);
    assert.equal(await reloads(t, 'success'), 0);

    writeFileSync(file, '{"rules": [');
    await eventually(async () => (await reloads(t, 'failure')) === 2, 5000, 'the second failed reload');
    assertRevoked(await t.client.check(bearer(mallory)));

    writeFileSync(file, rulesJson());
    await eventually(async () => !(await denied(t, mallory)), 5000, 'the emptied file');
    assert.equal(await reloads(t, 'success'), 1);
  });

  it('re-reads the file on a config reload (SIGHUP)', async () => {
    const dir = tempDir();
    const file = join(dir, 'revoked.json');
    writeFileSync(file, rulesJson());
    const t = await start(dir, 'revoked.json');
    const alice = await token({ jti: 'a-1' });
    assertAllow(await t.client.check(bearer(alice)));
    writeFileSync(file, rulesJson({ jti: 'a-1', iss: ISS }));
    assert.equal(await t.service.reload(), true);
    // The new generation read the file itself, without waiting for a watcher.
    assertRevoked(await t.client.check(bearer(alice)));
  });

  it('keeps their own reason for tokens that fail before revocation: a bad signature, an expired token', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'revoked.json'), rulesJson({ iss: ISS, sub: 'alice' }));
    const t = await start(dir, 'revoked.json');
    const good = await token({});
    assertRevoked(await t.client.check(bearer(good)));
    const forged = `${good.slice(0, good.lastIndexOf('.'))}.${Buffer.alloc(64, 1).toString('base64url')}`;
    assertDeny(await t.client.check(bearer(forged)), 'invalid_signature');
    assertDeny(await t.client.check(bearer(await token({ iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }))), 'expired');
  });

  it('denies a revoked token in the HTTP mode (http-listen) with 401 and the invalid_token challenge', async () => {
    const dir = tempDir();
    const file = join(dir, 'revoked.json');
    writeFileSync(file, rulesJson());
    const t = await start(dir, 'revoked.json', 'http-listen: 127.0.0.1:0\n');
    const address = t.service.httpAddress ?? '';
    const issuedEarly = await token({ iat: nowSeconds() - 3600 });
    const check = () => httpCheck(address, { headers: { authorization: `Bearer ${issuedEarly}` } });
    assert.equal((await check()).status, 200);
    assert.equal((await check()).status, 200);
    writeFileSync(file, rulesJson({ iss: ISS, 'issued-before': new Date((nowSeconds() - 60) * 1000).toISOString() }));
    await eventually(async () => (await check()).status !== 200, 5000, 'the rewritten file');
    const res = await check();
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], CHALLENGE);
    assert.equal((JSON.parse(res.body) as { reason: string }).reason, 'revoked');
    // A token issued after the cut-off passes.
    const fresh = await token({ iat: nowSeconds() });
    assert.equal((await httpCheck(address, { headers: { authorization: `Bearer ${fresh}` } })).status, 200);
  });
});
