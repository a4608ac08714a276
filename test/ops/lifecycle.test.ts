import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCheckClient, type DecodedCheckResponse } from '../../src/grpc/client.js';
import { authorizationServiceDefinition, CHECK_PATH } from '../../src/grpc/proto.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { startHttpsServer } from '../helpers/https-server.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { startCli } from '../helpers/process.js';
import { bearer } from '../helpers/requests.js';
import { adminGet, eventually, watchGrpcHealth } from '../helpers/scrape.js';
import { startTestService, tempDir } from '../helpers/service.js';

describe('lifecycle', () => {
  it('exits 0 on SIGTERM under steady load, answering every check started before it', async (t) => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', testKeys().rsa.publicKey);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:0\nadmin-listen: off\ncache:\n  max-entries: 0\nproviders:\n  - name: corp\n    key-file: k.pem\n');
    const proc = await startCli(['serve', '--config', file], /"msg":"listening"/);
    let exited = false;
    void proc.exited.then(() => (exited = true));
    t.after(() => {
      if (!exited) proc.child.kill('SIGKILL');
    });
    const grpc = /"grpc":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
    const token = await sign({ sub: 'alice', exp: nowSeconds() + 600 }, testKeys().rsa.privateKey);
    const clients = Array.from({ length: 4 }, () => createCheckClient(grpc, undefined, { 'grpc.use_local_subchannel_pool': 1 }));
    t.after(() => {
      for (const c of clients) c.close();
    });
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
    assert.equal(await proc.exited, 0);
    assert.deepEqual(lostBeforeSignal, []);
    assert.ok(answered > 10, `answered ${answered}`);
  });

  it('reports not ready on /readyz and NOT_SERVING on gRPC health as soon as it stops, and stays so until the in-flight check is answered', async (t) => {
    const idp = await startHttpsServer();
    t.after(() => idp.close());
    const pair = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = (kid: string, key: KeyObject) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig' });
    const a = pair();
    let delayMs = 0;
    idp.setHandler(() => ({ body: { keys: [jwk('a', a.publicKey)] }, delayMs }));
    const svc = await startTestService(
      `providers:\n  - name: corp\n    key-file: ${idp.url}/jwks.json\n    jwks:\n      ca-file: ${idp.caFile}\n      min-refresh-interval: 0s\n`,
      { watch: false },
    );
    let stopped: Promise<void> | undefined;
    const health = watchGrpcHealth(svc.service.grpcAddress, '');
    const slow = slowCheck(svc.service.grpcAddress, bearer(await sign({ sub: 'alice', exp: nowSeconds() + 600 }, a.privateKey, { kid: 'a' })));
    t.after(async () => {
      health.close();
      slow.close();
      if (stopped === undefined) return svc.close();
      svc.client.close();
      return stopped;
    });
    await eventually(() => svc.service.ready(), 3000, 'ready');
    await eventually(() => health.statuses.at(-1) === 'SERVING', 2000, 'health SERVING');
    const admin = svc.service.adminAddress ?? '';
    const fetched = () => svc.logs.join('').split('\n').filter((l) => l.includes('"msg":"key set fetched"')).length;
    assert.equal(fetched(), 1);

    // A key set that lands while the service stops: an unknown kid starts a slow refetch.
    delayMs = 1500;
    assertDeny(await svc.client.check(bearer(await sign({ sub: 'alice', exp: nowSeconds() + 600 }, a.privateKey, { kid: 'new' }))), 'unknown_key');
    await eventually(() => idp.requests.length === 2, 2000, 'the refetch under way');

    stopped = svc.service.stop(5000);
    const readyz = await adminGet(admin, '/readyz');
    assert.equal(readyz.status, 503, `/readyz while stopping: ${readyz.body}`);
    assert.equal((JSON.parse(readyz.body) as { draining?: boolean }).draining, true);
    await eventually(() => health.statuses.at(-1) === 'NOT_SERVING', 1000, 'health NOT_SERVING');
    const notServingAt = health.statuses.length - 1;
    assert.equal(slow.answered(), false, 'both turned while the check was in flight');
    assert.equal(fetched(), 1, 'and before the refetch landed');

    // The key set landing must not make the draining service look ready again.
    await eventually(() => fetched() === 2, 3000, 'the refetch to land');
    await sleep(100);
    assert.deepEqual(health.statuses.slice(notServingAt).filter((s) => s !== 'NOT_SERVING'), [], `health after stop: ${health.statuses.join(', ')}`);
    assert.equal((await adminGet(admin, '/readyz')).status, 503);

    // The check that was in flight all along is still answered.
    assert.equal(slow.answered(), false);
    assertAllow(await slow.finish());
  });
});

const checkMethod = authorizationServiceDefinition()['Check'];
assert.ok(checkMethod !== undefined);
const encodeRequest = checkMethod.requestSerialize as (value: object) => Buffer;
const decodeResponse = checkMethod.responseDeserialize as (bytes: Buffer) => DecodedCheckResponse;

/**
 * A Check whose request arrives in two parts over a raw HTTP/2 stream: the server holds the call
 * from the first part, and answers once `finish()` sends the rest. An in-flight check for as
 * long as a test needs one.
 */
function slowCheck(address: string, request: object): { answered(): boolean; finish(): Promise<DecodedCheckResponse>; close(): void } {
  const message = encodeRequest(request);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
  let done = false;
  const chunks: Buffer[] = [];
  const response = new Promise<DecodedCheckResponse>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (trailers) => {
      if (trailers['grpc-status'] !== '0') reject(new Error(`grpc-status ${String(trailers['grpc-status'])} ${String(trailers['grpc-message'])}`));
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(decodeResponse(Buffer.concat(chunks).subarray(5))));
  }).finally(() => (done = true));
  response.catch(() => undefined);
  stream.write(frame.subarray(0, 8));
  return {
    answered: () => done,
    finish() {
      stream.end(frame.subarray(8));
      return response;
    },
    close: () => session.close(),
  };
}
