import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
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
  let proc: Awaited<ReturnType<typeof startCli>>;
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
  after(async () => {
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
    const workers = new Set([...proc.output().matchAll(/"worker":(\d+)[^\n]*"msg":"check allowed"/g)].map((m) => m[1]));
    assert.equal(workers.size, 2, 'allows logged by both workers');
    const metrics = (await adminGet(admin, '/metrics')).body;
    assert.equal(sample(metrics, 'jwt_ext_authz_checks_total{decision="allow"}'), 8);
    // A gauge both workers hold is aggregated with max, not summed.
    assert.equal(sample(metrics, 'jwt_ext_authz_keys_loaded{provider="corp"}'), 1);
    const ready = JSON.parse((await adminGet(admin, '/readyz')).body) as { workers: unknown[] };
    assert.equal(ready.workers.length, 2);
  });

  it('exits 0 on SIGTERM after stopping both workers', async () => {
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });
});
