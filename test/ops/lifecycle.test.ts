import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCheckClient } from '../../src/grpc/client.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { startCli } from '../helpers/process.js';
import { bearer } from '../helpers/requests.js';
import { tempDir } from '../helpers/service.js';

describe('lifecycle', () => {
  it('exits 0 on SIGTERM under steady load, answering every check started before it', async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', testKeys().rsa.publicKey);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:0\nadmin-listen: off\ncache:\n  max-entries: 0\nproviders:\n  - name: corp\n    key-file: k.pem\n');
    const proc = await startCli(['serve', '--config', file], /"msg":"listening"/);
    const grpc = /"grpc":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
    const token = await sign({ sub: 'alice', exp: nowSeconds() + 600 }, testKeys().rsa.privateKey);
    const clients = Array.from({ length: 4 }, () => createCheckClient(grpc, undefined, { 'grpc.use_local_subchannel_pool': 1 }));
    let signalledAt = Number.POSITIVE_INFINITY;
    let answered = 0;
    const lostBeforeSignal: string[] = [];
    const loops = clients.map(async (c) => {
      while (Date.now() < signalledAt + 300) {
        const started = Date.now();
        try {
          const res = await c.check(bearer(token), 3000);
          assert.equal(res.status?.code ?? 0, 0);
          answered++;
        } catch (e: unknown) {
          // After SIGTERM new calls may be refused; a call started before must be answered.
          if (started < signalledAt) lostBeforeSignal.push(String(e));
          if (Date.now() > signalledAt) break;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    signalledAt = Date.now();
    proc.child.kill('SIGTERM');
    await Promise.all(loops);
    for (const c of clients) c.close();
    assert.equal(await proc.exited, 0);
    assert.deepEqual(lostBeforeSignal, []);
    assert.ok(answered > 10, `answered ${answered}`);
  });
});
