import { spawnSync } from 'node:child_process';
import { Client, credentials, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

/** GET from the admin listener. */
export async function adminGet(address: string, path: string): Promise<{ status: number; body: string; contentType: string }> {
  // Bounded: a listener that never answers fails its test with this URL, not the whole file on a timeout.
  const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

/** The value of one sample in Prometheus text, e.g. `jwt_ext_authz_checks_total{decision="allow"}`. */
export function sample(metrics: string, series: string): number | undefined {
  for (const line of metrics.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/**
 * Checks exposition text with Prometheus' own parser (promtool, Debian's prometheus package).
 * Returns the lint findings; throws on a parse error. promtool exits 3 for lint findings only.
 */
export function promtoolCheck(metrics: string): string[] {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0 && r.status !== 3) throw new Error(`promtool: ${r.stderr}${r.stdout}`);
  return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
}

/** grpc.health.v1.Health/Check, as a Kubernetes gRPC probe does it. */
export function grpcHealth(address: string, serviceName: string, creds: ChannelCredentials = credentials.createInsecure()): Promise<string> {
  const method = healthService['Check'];
  if (method === undefined) throw new Error('health proto lacks Check');
  const client = new Client(address, creds);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      method.requestSerialize,
      method.responseDeserialize,
      { service: serviceName },
      { deadline: Date.now() + 3000 },
      (err: ServiceError | null, value?: unknown) => {
        client.close();
        if (err) reject(err);
        else resolve(String((value as { status?: unknown }).status));
      },
    );
  });
}

/** A grpc.health.v1.Health/Watch stream: every status the server sent, in order. */
export interface HealthWatch {
  readonly statuses: readonly string[];
  close(): void;
}

/**
 * Opens grpc.health.v1.Health/Watch. Unlike Check, a stream opened before shutdown keeps
 * reporting while the server drains (a draining server refuses new calls).
 */
export function watchGrpcHealth(address: string, serviceName: string, creds: ChannelCredentials = credentials.createInsecure()): HealthWatch {
  const method = healthService['Watch'];
  if (method === undefined) throw new Error('health proto lacks Watch');
  const client = new Client(address, creds);
  const statuses: string[] = [];
  const call = client.makeServerStreamRequest('/grpc.health.v1.Health/Watch', method.requestSerialize, method.responseDeserialize, { service: serviceName });
  call.on('data', (value: unknown) => statuses.push(String((value as { status?: unknown }).status)));
  // Cancelled by close(), or cut off by a server that shut down: the statuses are what counts.
  call.on('error', () => undefined);
  return {
    statuses,
    close() {
      call.cancel();
      client.close();
    },
  };
}

/** Polls `probe` until it returns true or `timeoutMs` passes. */
export async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
