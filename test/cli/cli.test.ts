import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { runCli, startCli } from '../helpers/process.js';
import { tempDir } from '../helpers/service.js';

describe('demo mode (serve without a config)', () => {
  let demo: Awaited<ReturnType<typeof startCli>> | undefined;
  let token = '';
  let target = '';

  before(async () => {
    // Demo mode listens on the documented 127.0.0.1:9191 and :9901.
    const started = await startCli(['serve'], /check --target (\S+) --token (\S+)/);
    demo = started;
    const m = /check --target (\S+) --token (\S+)/.exec(started.output());
    target = m?.[1] ?? '';
    token = m?.[2] ?? '';
  });
  after(async () => {
    // Absent when before() failed (startCli kills what did not get ready).
    if (demo === undefined) return;
    demo.child.kill('SIGTERM');
    await demo.exited;
  });

  it('prints a demo token that check allows with the principal header', async () => {
    const res = await runCli(['check', '--target', target, '--token', token]);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { decision: string; headers: Record<string, string> };
    assert.equal(out.decision, 'allow');
    assert.equal(out.headers['x-jwt-principal'], 'demo-user');
  });

  it('denies a tampered demo token with 401 invalid_signature and exit code 1', async () => {
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const tampered = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    const res = await runCli(['check', '--target', target, '--token', tampered]);
    assert.equal(res.code, 1);
    const out = JSON.parse(res.stdout) as { decision: string; httpStatus: number; reason: string };
    assert.deepEqual([out.decision, out.httpStatus, out.reason], ['deny', 401, 'invalid_signature']);
  });

  it('exits 0 on SIGTERM', async (t) => {
    const other = await startCli(['serve', '--config', writeDemoLikeConfig()], /"msg":"listening"/);
    t.after(() => {
      if (other.child.exitCode === null && other.child.signalCode === null) other.child.kill('SIGKILL');
    });
    other.child.kill('SIGTERM');
    assert.equal(await other.exited, 0);
  });
});

function writeDemoLikeConfig(): string {
  const dir = tempDir();
  writeKey(dir, 'k.pem', testKeys().ec.publicKey);
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'listen: 127.0.0.1:0\nadmin-listen: off\nproviders:\n  - name: p\n    key-file: k.pem\n');
  return file;
}

describe('validate-config', () => {
  it('prints the normalised config and exits 0 for a good file', async () => {
    const res = await runCli(['validate-config', '--config', writeDemoLikeConfig()]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /principal-field: sub/);
    assert.match(res.stdout, /clock-skew: 60s/);
  });

  it('lists every schema problem with the file, line and key and exits 2', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:0\nclock-skew: soon\nproviders:\n  - name: p\n    key-file: k.pem\n    audience: trino\n');
    const res = await runCli(['validate-config', '--config', file]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /bad\.yaml:2: clock-skew: /);
    assert.match(res.stderr, /bad\.yaml:6: providers\[0\]\.audience: /);
  });

  it('lists every key-file and user-mapping problem with the key and exits 2', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'providers:\n  - name: p\n    key-file: missing.pem\n    user-mapping:\n      pattern: (a\n');
    const res = await runCli(['validate-config', '--config', file]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /providers\[0\]\.key-file: .*missing\.pem/);
    assert.match(res.stderr, /providers\[0\]\.user-mapping\.pattern/);
  });

  it('accepts a Trino .properties file', async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', testKeys().rsa.publicKey);
    const file = join(dir, 'config.properties');
    writeFileSync(
      file,
      [
        'coordinator=true',
        'http-server.authentication.type=JWT',
        'http-server.authentication.jwt.key-file=k.pem',
        'http-server.authentication.jwt.required-issuer=https://idp.test/',
        'http-server.authentication.jwt.required-audience=trino,presto',
        'http-server.authentication.jwt.user-mapping.pattern=(.*)@example\\\\.com',
        'response.principal-header=x-trino-user',
      ].join('\n'),
    );
    const res = await runCli(['validate-config', '--config', file]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /x-trino-user/);
    assert.match(res.stdout, /\(\.\*\)@example\\\.com/);
  });
});

describe('verify', () => {
  it('explains an expired token as a deny with exit code 1 and a good one as allow', async () => {
    const dir = tempDir();
    const keys = testKeys();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'providers:\n  - name: corp\n    key-file: k.pem\n    required-issuer: https://idp.test/\n');
    const expired = await sign({ iss: 'https://idp.test/', sub: 'alice', exp: nowSeconds() - 3600 }, keys.rsa.privateKey);
    const bad = await runCli(['verify', '--config', file, '--token', expired]);
    assert.equal(bad.code, 1, bad.stderr);
    const out = JSON.parse(bad.stdout) as Record<string, unknown>;
    assert.equal(out['reason'], 'expired');
    assert.equal(out['provider'], 'corp');
    const goodToken = await sign({ iss: 'https://idp.test/', sub: 'alice', exp: nowSeconds() + 60 }, keys.rsa.privateKey);
    const ok = await runCli(['verify', '--config', file], { input: `${goodToken}\n` });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as Record<string, unknown>)['user'], 'alice');
  });
});

describe('verify with route requirements (SPEC §14)', () => {
  it('names what the route requires and whether the token meets it, and shows a report-only deny', async () => {
    const dir = tempDir();
    const keys = testKeys();
    writeKey(dir, 'k.pem', keys.rsa.publicKey);
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `providers:
  - name: corp
    key-file: k.pem
    required-issuer: https://idp.test/
routes:
  - name: admin
    match: { path-prefix: /admin }
    require: { scopes: [admin], claims: { groups: [ops] } }
  - name: dry
    match: { path-prefix: /dry }
    require: { scopes: [admin] }
    report-only: true
`);
    const tk = await sign({ iss: 'https://idp.test/', sub: 'alice', exp: nowSeconds() + 60, scope: 'read', groups: ['ops'] }, keys.rsa.privateKey);
    const denied = await runCli(['verify', '--config', file, '--token', tk, '--path', '/admin/x']);
    assert.equal(denied.code, 1, denied.stderr);
    const out = JSON.parse(denied.stdout) as Record<string, unknown>;
    assert.equal(out['reason'], 'insufficient_scope');
    assert.equal(out['route'], 'admin');
    assert.deepEqual(out['requires'], { scopes: ['admin'], claims: { groups: ['ops'] } });
    assert.equal(out['requirementsMet'], false);
    const dry = JSON.parse((await runCli(['verify', '--config', file, '--token', tk, '--path', '/dry/x'])).stdout) as Record<string, unknown>;
    assert.equal(dry['reason'], 'insufficient_scope');
    assert.equal(dry['reportOnly'], true);
  });
});

describe('usage', () => {
  it('exits 2 for an unknown command', async () => {
    const res = await runCli(['frobnicate']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /unknown command/);
  });
});
