import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { idpKey, type IdpKey } from '../helpers/idp.js';
import { nowSeconds, sign } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const ISS = 'https://idp.test/';
const token = (key: IdpKey, kid: string | undefined = key.kid) =>
  sign({ iss: ISS, sub: 'alice', exp: nowSeconds() + 600 }, key.privateKey, kid === undefined ? {} : { kid });
const set = (...keys: (IdpKey | Record<string, unknown>)[]) => JSON.stringify({ keys: keys.map((k) => ('jwk' in k ? k.jwk : k)) });

describe('local JWKS files in the running service (SPEC §13)', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });
  async function start(dir: string, keyFile: string): Promise<TestService> {
    const t = await startTestService(`providers:\n  - name: corp\n    key-file: ${keyFile}\n    required-issuer: ${ISS}\n`, { dir });
    closers.push(() => t.close());
    return t;
  }
  const allows = async (t: TestService, tk: Promise<string>): Promise<boolean> => ((await t.client.check(bearer(await tk))).status?.code ?? 0) === 0;

  it('verifies by kid against a JWK Set file; an unknown kid is unknown_key; a skipped key is logged; keys_loaded counts the usable keys', async () => {
    const dir = tempDir();
    const a = idpKey('a');
    const b = idpKey('b');
    writeFileSync(join(dir, 'jwks.json'), set(a, b, { ...idpKey('enc').jwk, use: 'enc' }));
    const t = await start(dir, 'jwks.json');
    assert.ok(t.service.ready(), 'a local set is ready at once');
    assertAllow(await t.client.check(bearer(await token(a))));
    assertAllow(await t.client.check(bearer(await token(b))));
    assertDeny(await t.client.check(bearer(await token(idpKey('c')))), 'unknown_key');
    // b's key under a's kid: the kid picks the key, and the signature does not verify.
    assertDeny(await t.client.check(bearer(await token(b, 'a'))), 'invalid_signature');
    const skippedLine = t.logs.join('').split('\n').find((l) => l.includes('"msg":"key file key skipped"'));
    assert.match(skippedLine ?? '', /"kid":"enc".*encryption key/);
    const metrics = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    assert.equal(sample(metrics, 'jwt_ext_authz_keys_loaded{provider="corp"}'), 2);
    const readyz = JSON.parse((await adminGet(t.service.adminAddress ?? '', '/readyz')).body) as { providers: Record<string, unknown> };
    assert.deepEqual(readyz.providers['corp'], { ready: true, source: 'file' });
  });

  it('verifies against a single JWK file', async () => {
    const dir = tempDir();
    const a = idpKey('a');
    writeFileSync(join(dir, 'key.jwk'), JSON.stringify(a.jwk));
    const t = await start(dir, 'key.jwk');
    assertAllow(await t.client.check(bearer(await token(a))));
    assertDeny(await t.client.check(bearer(await token(a, 'other'))), 'unknown_key');
  });

  it('uses the new set after the file is rewritten in place', async () => {
    const dir = tempDir();
    const a = idpKey('a');
    const b = idpKey('b');
    writeFileSync(join(dir, 'jwks.json'), set(a));
    const t = await start(dir, 'jwks.json');
    assertAllow(await t.client.check(bearer(await token(a))));
    writeFileSync(join(dir, 'jwks.json'), set(b));
    await eventually(() => allows(t, token(b)), 5000, 'the rewritten set');
    assertDeny(await t.client.check(bearer(await token(a))), 'unknown_key');
    const metrics = (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;
    assert.equal(sample(metrics, 'jwt_ext_authz_key_fetches_total{provider="corp",result="success",trigger="file_change"}'), 1);
  });

  it('uses the new set after kubelet swaps a mounted Secret\'s ..data symlink', async () => {
    const dir = tempDir();
    const a = idpKey('a');
    const b = idpKey('b');
    const secret = join(dir, 'secret');
    mkdirSync(join(secret, '..2026_03_01_a'), { recursive: true });
    writeFileSync(join(secret, '..2026_03_01_a', 'jwks.json'), set(a));
    symlinkSync('..2026_03_01_a', join(secret, '..data'));
    symlinkSync(join('..data', 'jwks.json'), join(secret, 'jwks.json'));
    const t = await start(dir, 'secret/jwks.json');
    assertAllow(await t.client.check(bearer(await token(a))));
    mkdirSync(join(secret, '..2026_03_02_b'));
    writeFileSync(join(secret, '..2026_03_02_b', 'jwks.json'), set(a, b));
    symlinkSync('..2026_03_02_b', join(secret, '..data_tmp'));
    renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
    rmSync(join(secret, '..2026_03_01_a'), { recursive: true });
    await eventually(() => allows(t, token(b)), 5000, 'the swapped set');
    assertAllow(await t.client.check(bearer(await token(a))));
  });
});
