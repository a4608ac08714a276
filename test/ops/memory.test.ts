import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { connect, type ClientHttp2Session } from 'node:http2';
import { authorizationServiceDefinition, CHECK_PATH } from '../../src/grpc/proto.js';
import type { DecodedCheckResponse } from '../../src/grpc/client.js';
import { isOurImage, kubernetesObjects, obj, at, podTemplate, str, objects } from '../deploy/support.js';
import { startLauncher } from '../helpers/process.js';
import { bearer } from '../helpers/requests.js';
import { tempDir } from '../helpers/service.js';

/** The memory limit of our container in the shipped sidecar manifest (and any NODE_OPTIONS it sets). */
function shippedSettings(): { nodeOptions: string; limitBytes: number } {
  const deployment = kubernetesObjects().find((o) => o.kind === 'Deployment' && o.file.includes('/sidecar/'));
  assert.ok(deployment, 'deploy/kubernetes/sidecar has a Deployment');
  const container = podTemplate(deployment).containers.find(isOurImage);
  assert.ok(container, 'the sidecar Deployment runs jwt-ext-authz');
  const env = objects(container['env'] ?? [], 'env').find((e) => e['name'] === 'NODE_OPTIONS');
  const limit = str(at(obj(container['resources'], 'resources'), 'limits', 'memory'), 'limits.memory');
  const mi = /^(\d+)Mi$/.exec(limit);
  assert.ok(mi, `memory limit ${limit} in Mi`);
  return { nodeOptions: env === undefined ? '' : str(env['value'], 'NODE_OPTIONS'), limitBytes: Number(mi[1]) * 1024 * 1024 };
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Entra-ID-like HS256 tokens of about `size` characters (a long groups claim), distinct by `sub`. */
function tokenMaker(secret: Buffer, size: number): (i: number) => string {
  const header = b64({ alg: 'HS256', typ: 'JWT' });
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'https://idp.test/', sub: 'user-000000@example.com', aud: 'trino', iat: now, exp: now + 3600, groups: [] as string[] };
  while (header.length + b64(claims).length + 100 < size) claims.groups.push(randomUUID());
  return (i) => {
    const input = `${header}.${b64({ ...claims, sub: `user-${String(i).padStart(6, '0')}@example.com` })}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
}

const method = authorizationServiceDefinition()['Check'];
assert.ok(method !== undefined);
const encode = method.requestSerialize as (value: object) => Buffer;
const decode = method.responseDeserialize as (bytes: Buffer) => DecodedCheckResponse;

/**
 * One Check over a plain HTTP/2 stream: grpc-js' client costs ~0.5 ms of CPU a call, which
 * would make this test's own process the bottleneck.
 */
function check(session: ClientHttp2Session, request: object): Promise<DecodedCheckResponse> {
  const message = encode(request);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (trailers) => {
      if (trailers['grpc-status'] !== '0') reject(new Error(`grpc-status ${String(trailers['grpc-status'])} ${String(trailers['grpc-message'])}`));
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(decode(Buffer.concat(chunks).subarray(5))));
    stream.end(frame);
  });
}

const vmHwmBytes = (pid: number): number => {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kb !== undefined, 'VmHWM in /proc/<pid>/status');
  return Number(kb) * 1024;
};

it('stays alive and within the manifest memory limit, started as shipped, through 10 000 distinct 4 kB then 10 000 distinct 8 kB tokens, allowing every one', async (t) => {
  const { nodeOptions, limitBytes } = shippedSettings();
  const dir = tempDir();
  const secret = randomBytes(32);
  writeFileSync(join(dir, 'hmac.key'), secret.toString('base64'));
  // Defaults everywhere else: cache limits and token.max-bytes as shipped.
  writeFileSync(join(dir, 'config.yaml'), 'listen: 127.0.0.1:0\nadmin-listen: "off"\nproviders:\n  - name: corp\n    key-file: hmac.key\n');
  // Started as the Dockerfile starts it: the launcher, which sizes V8 unless NODE_OPTIONS does.
  const { child, output, exited } = await startLauncher(['serve', '--config', join(dir, 'config.yaml')], /"msg":"ready"/, { NODE_OPTIONS: nodeOptions, LOG_LEVEL: 'info' });
  t.after(() => child.kill('SIGKILL'));
  const address = /"grpc":"([^"]+)"/.exec(output())?.[1];
  assert.ok(address !== undefined, 'the listening line names the gRPC address');
  const session = connect(`http://${address}`);
  t.after(() => session.close());
  let died: number | null | undefined;
  void exited.then((code) => { died = code; });

  let allowed = 0;
  for (const size of [4096, 8150]) {
    const token = tokenMaker(secret, size);
    assert.ok(Math.abs(token(0).length - size) < 100, `tokens of ${token(0).length} characters`);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < 10_000 && died === undefined) {
        const answer = await check(session, bearer(token(next++)));
        assert.equal(answer.status?.code ?? 0, 0, `a ${size}-character token is allowed`);
        allowed++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  }
  assert.equal(died, undefined, `the service died (exit ${String(died)}):\n${output().slice(-2000)}`);
  assert.equal(allowed, 20_000);
  const stat = readFileSync(`/proc/${child.pid as number}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  t.diagnostic(`service CPU ${(Number(stat[11]) + Number(stat[12])) / 100} s, test process CPU ${(process.cpuUsage().user / 1e6).toFixed(1)} s`);
  const peak = vmHwmBytes(child.pid as number);
  t.diagnostic(`peak RSS ${(peak / 1048576).toFixed(1)} MiB (bin/jwt-ext-authz, NODE_OPTIONS="${nodeOptions}"), limit ${limitBytes / 1048576} MiB`);
  assert.ok(peak < limitBytes, `peak RSS ${(peak / 1048576).toFixed(1)} MiB over the ${limitBytes / 1048576} MiB limit`);
});
