import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCheckClient } from '../../src/grpc/client.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { startLauncher } from '../helpers/process.js';
import { bearer } from '../helpers/requests.js';
import { tempDir } from '../helpers/service.js';

/** What the launcher runs: one CommonJS file built by scripts/bundle.mjs. */
const BUNDLE = fileURLToPath(new URL('../../src/cli/main.cjs', import.meta.url));
/** Left outside the bundle on purpose (see scripts/bundle.mjs). */
const EXTERNAL = ['grpc-health-check', '@grpc/proto-loader', 'protobufjs'];

function config(): string {
  const dir = tempDir();
  writeKey(dir, 'hmac.key', testKeys().hmac);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'listen: 127.0.0.1:0\nadmin-listen: "off"\nproviders:\n  - name: corp\n    key-file: hmac.key\n');
  return file;
}

const procArgs = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
const procEnv = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

describe('bin/jwt-ext-authz', () => {
  it('runs the one-file bundle with the sidecar V8 sizes and one malloc arena, and the bundle allows and denies', async (t) => {
    const { child, output } = await startLauncher(['serve', '--config', config()], /"msg":"ready"/, { NODE_OPTIONS: '', MALLOC_ARENA_MAX: '' });
    t.after(() => child.kill('SIGKILL'));
    const pid = child.pid as number;
    const args = procArgs(pid);
    assert.equal(resolve(args.at(-4) ?? ''), BUNDLE, `node runs the bundle: ${args.join(' ')}`);
    for (const flag of ['--max-old-space-size=64', '--max-semi-space-size=1', '--v8-pool-size=1', '--no-sparkplug']) assert.ok(args.includes(flag), `${flag} in ${args.join(' ')}`);
    assert.ok(procEnv(pid).includes('MALLOC_ARENA_MAX=1'));

    const address = /"grpc":"([^"]+)"/.exec(output())?.[1];
    assert.ok(address !== undefined, 'the listening line names the gRPC address');
    const client = createCheckClient(address);
    t.after(() => client.close());
    const token = await sign({ sub: 'alice', exp: nowSeconds() + 60 }, testKeys().hmac);
    assert.equal(assertAllow(await client.check(bearer(token)))['x-jwt-principal'], 'alice');
    assertDeny(await client.check(bearer(`${token.slice(0, -4)}AAAA`)), 'invalid_signature');
  });

  it('adds no V8 size when NODE_OPTIONS sets a heap size (central mode)', async (t) => {
    const { child } = await startLauncher(['serve', '--config', config()], /"msg":"ready"/, { NODE_OPTIONS: '--max-old-space-size=256' });
    t.after(() => child.kill('SIGKILL'));
    const args = procArgs(child.pid as number);
    assert.equal(args.filter((a) => a.startsWith('--max-')).length, 0, args.join(' '));
  });

  it('runs a bundle that requires only node built-ins and the packages left outside it', () => {
    const bundle = readFileSync(BUNDLE, 'utf8');
    const required = new Set([...bundle.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1] ?? ''));
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const others = [...required].filter((m) => !builtins.has(m) && !EXTERNAL.includes(m));
    assert.deepEqual(others, [], 'everything else is inside the bundle, so no file of dist/src is loaded beside it');
    for (const m of EXTERNAL) assert.ok(required.has(m), `${m} is required from node_modules`);
    assert.match(bundle, /\bimport\("jose"\)/, 'jose, which only demo mode needs, is imported from node_modules when it does');
  });
});
