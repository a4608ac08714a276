import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { startAdminListener, type AdminListener, type ReadinessReport } from './admin/http.js';
import type { Config } from './config/types.js';
import { removeStaleSocket, unixSocketPath } from './util/unix-socket.js';
import type { Logger } from './log.js';
import type { RunningService } from './service/start.js';

/** IPC message a worker sends whenever its readiness report changes. */
interface ReadinessMessage {
  readonly kind: 'jwt-ext-authz/readiness';
  readonly report: ReadinessReport;
}

const isReadinessMessage = (m: unknown): m is ReadinessMessage =>
  typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === 'jwt-ext-authz/readiness';

export const workerCount = (config: Config): number => (config.workers === 'auto' ? availableParallelism() : config.workers);

/** At most this many unexpected worker exits per minute are replaced; then the primary gives up. */
const MAX_RESTARTS_PER_MINUTE = 5;

/**
 * The primary of `workers` > 1: forks the workers (which share the gRPC listener through
 * node:cluster), serves the admin listener with metrics aggregated across them (prom-client's
 * AggregatorRegistry) and readiness from all of them, and forwards signals.
 */
export async function runPrimary(config: Config, logger: Logger, signals: { onStop(stop: () => Promise<number>): void }): Promise<number> {
  const count = workerCount(config);
  for (const listen of [config.listen, config.httpListen]) {
    const socket = unixSocketPath(listen);
    if (socket !== undefined) removeStaleSocket(socket);
  }
  const aggregator = new AggregatorRegistry();
  const reports = new Map<number, ReadinessReport>();
  let stopping = false;
  const restarts: number[] = [];
  let giveUp: ((code: number) => void) | undefined;

  const fork = (): Worker => cluster.fork();
  cluster.on('message', (worker, message: unknown) => {
    if (isReadinessMessage(message)) reports.set(worker.id, message.report);
  });
  cluster.on('exit', (worker, code, signal) => {
    reports.delete(worker.id);
    if (stopping) return;
    const now = Date.now();
    restarts.push(now);
    while ((restarts[0] ?? now) < now - 60_000) restarts.shift();
    logger.error({ worker: worker.id, code, signal }, 'worker exited unexpectedly');
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      logger.fatal('workers keep exiting; giving up so the orchestrator restarts the pod');
      giveUp?.(1);
      return;
    }
    fork();
  });
  for (let i = 0; i < count; i++) fork();
  logger.info({ workers: count, listen: config.listen }, 'started workers');

  const readiness = (): ReadinessReport => {
    const workers = [...reports.values()];
    return { ready: workers.length === count && workers.every((r) => r.ready), workers };
  };
  let admin: AdminListener | undefined;
  if (config.adminListen !== 'off') {
    admin = await startAdminListener(config.adminListen, {
      metrics: { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() },
      readiness,
      draining: () => stopping,
    });
    logger.info({ admin: admin.address }, 'admin listening (metrics aggregated across workers)');
  }
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });

  return new Promise((resolve) => {
    giveUp = (code) => void stopAll().then(() => resolve(code));
    signals.onStop(async () => {
      await stopAll();
      return 0;
    });
  });

  async function stopAll(): Promise<void> {
    stopping = true;
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((done) => {
            w.once('exit', () => done());
            w.process.kill('SIGTERM');
          }),
      ),
    );
    await admin?.close();
  }
}

/** In a worker: let the primary aggregate our metrics and see our readiness. */
export function joinCluster(service: RunningService): void {
  // Constructing one installs prom-client's listener that answers the primary's metric requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries(service.metrics.registry);
  let last = '';
  const send = () => {
    const report = service.readiness();
    const text = JSON.stringify(report);
    if (text === last || process.send === undefined) return;
    last = text;
    process.send({ kind: 'jwt-ext-authz/readiness', report } satisfies ReadinessMessage);
  };
  send();
  setInterval(send, 250).unref();
}
