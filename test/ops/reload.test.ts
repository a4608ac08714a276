import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

describe('hot reload', () => {
  let t: TestService;
  let token = '';
  const keys = testKeys();
  const config = (audience: string) => `providers:\n  - name: corp\n    key-file: k.pem\n    required-audience: ${audience}\n`;

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    t = await startTestService(config('alpha'), { dir });
    token = await sign({ sub: 'alice', aud: 'beta', exp: nowSeconds() + 600 }, keys.rsa.privateKey);
  });
  after(() => t.close());

  const reloads = async (result: string) =>
    sample((await adminGet(t.service.adminAddress ?? '', '/metrics')).body, `jwt_ext_authz_config_reloads_total{result="${result}"}`);

  it('applies an edited audience within 2 s without dropping a check', async () => {
    assertDeny(await t.client.check(bearer(token)), 'audience_mismatch');
    const text = readFileSync(t.file, 'utf8');
    let answered = 0;
    let failed = 0;
    let stop = false;
    // Steady load while the file changes: every check must get an answer.
    const load = (async () => {
      while (!stop) {
        await t.client.check(bearer(token)).then(() => answered++, () => failed++);
      }
    })();
    try {
      writeFileSync(t.file, text.replace('required-audience: alpha', 'required-audience: beta'));
      await eventually(async () => (await t.client.check(bearer(token))).status?.code === 0, 2000, 'the new audience');
    } finally {
      // Stop the load even when the reload never shows, or the test would spin forever.
      stop = true;
      await load;
    }
    assert.equal(failed, 0);
    assert.ok(answered > 0);
    assertAllow(await t.client.check(bearer(token)));
    assert.equal(await reloads('success'), 1);
  });

  it('keeps the old config and counts a failure for a broken edit', async () => {
    const text = readFileSync(t.file, 'utf8');
    writeFileSync(t.file, `${text}\nclock-skew: [oops\n`);
    await eventually(async () => (await reloads('failure')) === 1, 2000, 'the failed reload');
    assertAllow(await t.client.check(bearer(token)));
    assert.ok(t.logs.join('').includes('config reload rejected'));
  });

  it('reloads on request (the SIGHUP path) and reports whether it took', async () => {
    writeFileSync(t.file, readFileSync(t.file, 'utf8').replace('\nclock-skew: [oops\n', '\n'));
    assert.equal(await t.service.reload(), true);
    writeFileSync(t.file, 'providers: []\n');
    assert.equal(await t.service.reload(), false);
    assertAllow(await t.client.check(bearer(token)));
  });
});
