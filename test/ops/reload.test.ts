import assert from 'node:assert/strict';
import { linkSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCheckClient } from '../../src/grpc/client.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { makeTestPki } from '../helpers/pki.js';
import { startCli } from '../helpers/process.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const keys = testKeys();
const config = (audience: string) => `providers:\n  - name: corp\n    key-file: k.pem\n    required-audience: ${audience}\n`;
const tokenFor = (audience: string) => sign({ sub: 'alice', aud: audience, exp: nowSeconds() + 600 }, keys.rsa.privateKey);
const reloadsOn = async (admin: string, result: string) =>
  sample((await adminGet(admin, '/metrics')).body, `jwt_ext_authz_config_reloads_total{result="${result}"}`);

describe('hot reload', () => {
  let t: TestService;
  let token = '';

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    t = await startTestService(config('alpha'), { dir });
    token = await tokenFor('beta');
  });
  after(() => t.close());

  const reloads = (result: string) => reloadsOn(t.service.adminAddress ?? '', result);

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

  it('reload() applies a good file and refuses a bad one, answering whether it took', async () => {
    writeFileSync(t.file, readFileSync(t.file, 'utf8').replace('\nclock-skew: [oops\n', '\n'));
    assert.equal(await t.service.reload(), true);
    writeFileSync(t.file, 'providers: []\n');
    assert.equal(await t.service.reload(), false);
    assertAllow(await t.client.check(bearer(token)));
  });
});

describe('a reload that changes settings only a restart can apply', () => {
  it('warns that listen, admin-listen, http-listen, workers and tls only change on restart, naming them, and applies the rest', async (t) => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    const server = makeTestPki(dir).issue('server', 'server');
    const svc = await startTestService(config('alpha'), { dir, watch: false });
    t.after(() => svc.close());
    const warnings = () =>
      svc.logs.join('').split('\n').filter((l) => l.includes('"msg":"these settings only change on restart')).map((l) => JSON.parse(l) as { keys?: unknown });
    const text = readFileSync(svc.file, 'utf8');
    const admin = svc.service.adminAddress ?? '';

    // Nothing restart-only changed: no warning.
    writeFileSync(svc.file, text.replace('required-audience: alpha', 'required-audience: beta'));
    assert.equal(await svc.service.reload(), true);
    await sleep(50);
    assert.deepEqual(warnings(), []);

    const edited = text
      .replace(/^listen: .*$/m, 'listen: 127.0.0.1:1')
      .replace(/^admin-listen: .*$/m, 'admin-listen: 127.0.0.1:2')
      .replace('required-audience: alpha', 'required-audience: gamma');
    writeFileSync(svc.file, `${edited}http-listen: 127.0.0.1:3\nworkers: 2\ntls:\n  cert-file: ${server.certFile}\n  key-file: ${server.keyFile}\n`);
    assert.equal(await svc.service.reload(), true);
    await eventually(() => warnings().length > 0, 1000, 'the restart-only warning');
    assert.deepEqual(warnings().map((w) => w.keys), [['listen', 'admin-listen', 'http-listen', 'workers', 'tls']]);
    // The rest took effect, on the listeners that were already open.
    assertAllow(await svc.client.check(bearer(await tokenFor('gamma'))));
    assert.equal(await reloadsOn(admin, 'success'), 2);
  });
});

describe('SIGHUP to the running bin', () => {
  it('re-reads the config on SIGHUP, an edit the file watcher cannot see', async (t) => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\nadmin-listen: 127.0.0.1:0\n${config('alpha')}`);
    // A hard link in a folder the service does not watch: writing through it changes the config
    // file's content without any event in the config's own folder.
    const hidden = join(tempDir(), 'same-file.yaml');
    linkSync(file, hidden);
    const proc = await startCli(['serve', '--config', file], /"msg":"listening"/);
    let exited = false;
    void proc.exited.then(() => (exited = true));
    t.after(() => {
      if (!exited) proc.child.kill('SIGKILL');
    });
    const admin = /"admin":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
    const grpc = /"grpc":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
    const client = createCheckClient(grpc);
    t.after(() => client.close());
    const token = await tokenFor('beta');
    assertDeny(await client.check(bearer(token)), 'audience_mismatch');

    writeFileSync(hidden, readFileSync(hidden, 'utf8').replace('required-audience: alpha', 'required-audience: beta'));
    assert.match(readFileSync(file, 'utf8'), /required-audience: beta/);
    // Give a watcher time to notice (its debounce is 100 ms): none does.
    await sleep(500);
    assert.equal(await reloadsOn(admin, 'success'), 0, 'no reload before the signal');
    assertDeny(await client.check(bearer(token)), 'audience_mismatch');

    proc.child.kill('SIGHUP');
    await eventually(async () => {
      // Without a handler, SIGHUP's default action ends the process.
      if (exited) assert.fail(`the service exited on SIGHUP:\n${proc.output().slice(-1000)}`);
      return (await reloadsOn(admin, 'success').catch(() => undefined)) === 1;
    }, 5000, 'the reload after SIGHUP');
    await eventually(() => proc.output().includes('"msg":"config reloaded"'), 2000, 'the reload log line');
    assertAllow(await client.check(bearer(token)));
    assert.equal(exited, false, 'SIGHUP does not stop the service');
  });
});
