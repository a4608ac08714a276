import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCheckClient } from '../../src/grpc/client.js';
import { assertAllow } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { startCli } from '../helpers/process.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, sample } from '../helpers/scrape.js';
import { tempDir } from '../helpers/service.js';

describe('workers: 2', () => {
  let proc: Awaited<ReturnType<typeof startCli>> | undefined;
  let grpc = '';
  let admin = '';

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', testKeys().rsa.publicKey);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:0\nadmin-listen: 127.0.0.1:0\nworkers: 2\nproviders:\n  - name: corp\n    key-file: k.pem\n');
    proc = await startCli(['serve', '--config', file, '--log-level', 'debug'], /"msg":"admin listening[\s\S]*"msg":"listening"[\s\S]*"msg":"listening"/);
    admin = /"admin":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
    grpc = /"grpc":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
  });
  const running = (): NonNullable<typeof proc> => {
    assert.ok(proc !== undefined, 'the service started');
    return proc;
  };
  after(async () => {
    // Absent when before() failed; already gone after the SIGTERM test.
    if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    proc.child.kill('SIGTERM');
    await proc.exited;
  });

  it('serves from both processes and sums their counters on /metrics', async () => {
    const token = await sign({ sub: 'alice', exp: nowSeconds() + 600 }, testKeys().rsa.privateKey);
    await eventually(async () => (await adminGet(admin, '/readyz')).status === 200, 5000, 'both workers ready');
    // Separate connections, so the cluster's round-robin reaches both workers.
    const clients = Array.from({ length: 8 }, () => createCheckClient(grpc, undefined, { 'grpc.use_local_subchannel_pool': 1 }));
    try {
      for (const c of clients) assertAllow(await c.check(bearer(token)));
    } finally {
      for (const c of clients) c.close();
    }
    const workers = new Set([...running().output().matchAll(/"worker":(\d+)[^\n]*"msg":"check allowed"/g)].map((m) => m[1]));
    assert.equal(workers.size, 2, 'allows logged by both workers');
    const metrics = (await adminGet(admin, '/metrics')).body;
    assert.equal(sample(metrics, 'jwt_ext_authz_checks_total{decision="allow",transport="grpc"}'), 8);
    // A gauge both workers hold is aggregated with max, not summed.
    assert.equal(sample(metrics, 'jwt_ext_authz_keys_loaded{provider="corp"}'), 1);
    const ready = JSON.parse((await adminGet(admin, '/readyz')).body) as { workers: unknown[] };
    assert.equal(ready.workers.length, 2);
  });

  it('exits 0 on SIGTERM after stopping both workers', async () => {
    running().child.kill('SIGTERM');
    assert.equal(await running().exited, 0);
  });
});

describe('workers that keep dying', () => {
  it('gives up after more than 5 unexpected worker exits in a minute: the primary exits non-zero', async (t) => {
    // Every worker dies at start: the gRPC port is taken (the primary itself binds nothing there).
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    t.after(() => squatter.close());
    const dir = tempDir();
    writeKey(dir, 'k.pem', testKeys().rsa.publicKey);
    const file = join(dir, 'config.yaml');
    const port = (squatter.address() as AddressInfo).port;
    writeFileSync(file, `listen: 127.0.0.1:${port}\nadmin-listen: "off"\nworkers: 2\nproviders:\n  - name: corp\n    key-file: k.pem\n`);
    const crashing = await startCli(['serve', '--config', file], /"msg":"started workers"/);
    let timer: NodeJS.Timeout | undefined;
    t.after(() => {
      clearTimeout(timer);
      if (crashing.child.exitCode === null && crashing.child.signalCode === null) crashing.child.kill('SIGKILL');
    });
    // Six worker start-ups: a few seconds each on a loaded 2-core machine.
    const outcome = await Promise.race([
      crashing.exited,
      new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 60_000))),
    ]);
    const out = crashing.output();
    assert.notEqual(outcome, 'still running', `the primary kept replacing workers:\n${out.slice(-2000)}`);
    assert.ok(outcome !== 0 && outcome !== null, `exit code ${String(outcome)}`);
    assert.equal([...out.matchAll(/"msg":"worker exited unexpectedly"/g)].length, 6, 'five exits are replaced, the sixth is one too many');
    assert.match(out, /"msg":"workers keep exiting; giving up/);
  });
});
