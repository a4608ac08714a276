import { startAdminListener, type AdminListener } from '../admin/http.js';
import { createAuthorizer, type Authorizer } from '../authz/authorizer.js';
import { closePolicy, keySourceId, policyReady, startPolicy } from '../authz/key-lifecycle.js';
import { buildPolicy, type Policy, type PolicyHooks } from '../authz/policy.js';
import type { Config } from '../config/types.js';
import { configFiles, watchConfigFiles, type ConfigWatcher } from '../config/watch.js';
import { ConfigError } from '../errors.js';
import { AuthorizationService } from '../grpc/authorization-service.js';
import { isExposed, serverCredentials } from '../grpc/credentials.js';
import { startGrpcListener, type GrpcListener } from '../grpc/server.js';
import { startHttpListener, type HttpListener } from '../http/server.js';
import type { KeySource } from '../keys/types.js';
import type { Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { policyHooks, seedKeyMetrics } from './key-events.js';
import { readinessOf } from './readiness.js';
import { restartOnlyChanges } from './reload.js';
import { revocationHooks } from './revocation-events.js';
import type { ReadinessReport } from '../admin/http.js';

export interface RunningService {
  readonly grpcAddress: string;
  /** The HTTP authorization listener (SPEC §12), when `http-listen` is not "off". */
  readonly httpAddress: string | undefined;
  readonly adminAddress: string | undefined;
  readonly authorizer: Authorizer;
  readonly metrics: Metrics;
  ready(): boolean;
  readiness(): ReadinessReport;
  /** Re-reads the config; a bad one is logged and counted and the old one keeps serving. */
  reload(): Promise<boolean>;
  /** SIGTERM path: not-ready first, finish in-flight checks, close (SPEC §8). */
  stop(graceMs?: number): Promise<void>;
}

export interface ServiceOptions {
  readonly logger: Logger;
  readonly now?: () => number;
  /** Supplies a provider's keys instead of its `key-file` (demo mode). */
  readonly keySource?: PolicyHooks['keySource'];
  /** Re-reads the config for `reload()`; without it reload is a no-op (demo mode). */
  readonly load?: () => Config;
  /** Watch the config and user-mapping files and reload on change (default: when `load` is given). */
  readonly watch?: boolean;
  /** false in a cluster worker: the primary serves the admin listener for all workers. */
  readonly admin?: boolean;
}

/** Old policies stay open this long after a swap, so checks in flight on them finish. */
const RETIRE_AFTER_MS = 10_000;

/** Builds everything from a validated config and opens the listeners. Throws ConfigError on bad keys or mappings. */
export async function startService(config: Config, options: ServiceOptions): Promise<RunningService> {
  const { logger } = options;
  const metrics = createMetrics();
  // Readiness only changes when a key set lands, on reload and on stop: each pushes health.
  const hooks = { ...policyHooks(metrics, logger, () => refreshHealth()), revocations: revocationHooks(metrics, logger) };
  const policy = buildPolicy(config, { ...hooks, ...(options.keySource ? { keySource: options.keySource } : {}) });
  seedKeyMetrics(policy, metrics, logger);
  if (config.tls === undefined && isExposed(config.listen)) {
    logger.warn({ listen: config.listen }, 'plaintext gRPC listener on a non-loopback address; set tls or listen on 127.0.0.1');
  }
  if (config.httpListen !== 'off' && isExposed(config.httpListen)) {
    logger.warn({ httpListen: config.httpListen }, 'plaintext HTTP listener on a non-loopback address: the pass-through header carries tokens; keep it on the pod network or a Unix socket');
  }
  const authorizer = createAuthorizer(policy, { metrics, logger, ...(options.now ? { now: options.now } : {}) });
  let draining = false;
  let grpc: GrpcListener | undefined;
  let http: HttpListener | undefined;
  let admin: AdminListener | undefined;
  const ready = () => !draining && policyReady(authorizer.policy);
  const refreshHealth = () => grpc?.setServing(ready());

  try {
    const creds = serverCredentials(config.tls);
    grpc = await startGrpcListener(config.listen, [new AuthorizationService(authorizer)], creds.credentials);
    await creds.loaded();
    if (config.httpListen !== 'off') http = await startHttpListener(config.httpListen, authorizer, logger);
    if (config.adminListen !== 'off' && options.admin !== false) {
      admin = await startAdminListener(config.adminListen, {
        metrics: metrics.registry,
        readiness: () => readinessOf(authorizer.policy),
        draining: () => draining,
      });
    }
  } catch (e: unknown) {
    await Promise.all([grpc?.shutdown(0), http?.close(0)]);
    closePolicy(policy);
    throw e;
  }
  const started = Date.now();
  void startPolicy(policy).then(() => {
    refreshHealth();
    logger.info({ ready: ready(), ms: Date.now() - started }, ready() ? 'ready' : 'not ready: some providers have no key set yet');
  });
  refreshHealth();
  logger.info({ grpc: grpc.address, http: http?.address ?? 'off', admin: admin?.address ?? 'off', providers: policy.providers.map((p) => p.name) }, 'listening');

  const retiring = new Set<NodeJS.Timeout>();
  let reloading: Promise<boolean> = Promise.resolve(true);

  /** Validates the new config in full, starts what is new, then swaps atomically. */
  async function reloadNow(load: () => Config): Promise<boolean> {
    const old = authorizer.policy;
    let next: Policy;
    try {
      const config = load();
      const reuse = new Map(old.providers.map((p) => [keySourceId(p.config), p.keys]));
      next = buildPolicy(config, { ...hooks, keySource: (pc) => options.keySource?.(pc) ?? reuse.get(keySourceId(pc)) });
      const restart = restartOnlyChanges(old.config, config);
      if (restart.length > 0) logger.warn({ keys: restart }, 'these settings only change on restart; the rest of the new config is applied');
    } catch (e: unknown) {
      metrics.configReloads.inc({ result: 'failure' });
      const problems = e instanceof ConfigError ? e.problems : [{ message: e instanceof Error ? e.message : String(e) }];
      logger.error({ problems }, 'config reload rejected; the previous config keeps serving');
      return false;
    }
    const kept = new Set<KeySource>(next.providers.map((p) => p.keys).filter((k) => old.providers.some((o) => o.keys === k)));
    await startPolicy(next, kept);
    authorizer.swap(next);
    // Each generation reads the file anew; the old watcher must not count its changes too.
    old.revocations?.close();
    watcher?.set(configFiles(next.config));
    const timer = setTimeout(() => {
      retiring.delete(timer);
      closePolicy(old, new Set(authorizer.policy.providers.map((p) => p.keys)));
    }, RETIRE_AFTER_MS);
    timer.unref();
    retiring.add(timer);
    refreshHealth();
    metrics.configReloads.inc({ result: 'success' });
    logger.info({ generation: next.generation, providers: next.providers.map((p) => p.name) }, 'config reloaded');
    return true;
  }

  const reload = (): Promise<boolean> => {
    const load = options.load;
    if (load === undefined) return Promise.resolve(false);
    // One reload at a time, in order: a burst of edits ends on the last file content.
    reloading = reloading.then(() => reloadNow(load));
    return reloading;
  };

  const watcher: ConfigWatcher | undefined =
    options.load !== undefined && options.watch !== false
      ? watchConfigFiles(configFiles(config), () => void reload(), (dir, message) => logger.warn({ dir, message }, 'config folder not watched'))
      : undefined;

  return {
    grpcAddress: grpc.address,
    httpAddress: http?.address,
    adminAddress: admin?.address,
    authorizer,
    metrics,
    ready,
    readiness: () => readinessOf(authorizer.policy),
    reload,
    async stop(graceMs = 9000) {
      draining = true;
      watcher?.close();
      grpc?.setServing(false);
      await Promise.all([grpc?.shutdown(graceMs), http?.close(graceMs)]);
      // After the last check: report what the deny log suppressed, before the exit lines.
      authorizer.close();
      await admin?.close();
      for (const t of retiring) clearTimeout(t);
      closePolicy(authorizer.policy);
    },
  };
}
