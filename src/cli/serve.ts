import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { parseConfig, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createStaticKeySource } from '../keys/static-source.js';
import { createLogger, type Logger } from '../log.js';
import { joinCluster, runPrimary, workerCount } from '../cluster.js';
import { startService, type RunningService } from '../service/start.js';
import type { CliArgs } from './args.js';

export const DEMO_ISSUER = 'https://demo.jwt-ext-authz.invalid/';
const DEMO_CONFIG = `
listen: 127.0.0.1:9191
admin-listen: 127.0.0.1:9901
providers:
  - name: demo
    key-file: in-memory-demo-key
    required-issuer: ${DEMO_ISSUER}
    required-audience: demo
    user-mapping:
      pattern: (.*)@example\\.com
`;

/**
 * Signal handling is installed before anything starts, so a SIGTERM that arrives while the
 * service is still starting stops it as soon as it is up. `onStop` resolves with the exit code.
 */
function stopOnSignal(logger: Logger): { onStop(stop: () => Promise<number>): Promise<number> } {
  let signalled: NodeJS.Signals | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled !== undefined) return;
    signalled = signal;
    onSignal?.(signal);
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
  return {
    onStop(stop) {
      return new Promise((resolve) => {
        onSignal = (signal) => {
          logger.info({ signal }, 'stopping: not ready, finishing in-flight checks');
          stop().then(resolve, (e: unknown) => {
            logger.error({ err: String(e) }, 'error while stopping');
            resolve(1);
          });
        };
        if (signalled !== undefined) onSignal(signalled);
      });
    },
  };
}

const stopService = (service: RunningService) => async (): Promise<number> => {
  await service.stop(9000);
  return 0;
};

export async function runServe(args: CliArgs): Promise<number> {
  const logger = cluster.isWorker ? createLogger(args.logLevel).child({ worker: cluster.worker?.id }) : createLogger(args.logLevel);
  process.on('uncaughtException', (e) => {
    logger.fatal({ err: { message: e.message, stack: e.stack } }, 'uncaught exception; exiting');
    process.exit(70);
  });
  const signals = stopOnSignal(logger);
  if (args.config === undefined) return signals.onStop(stopService(await runDemo(logger)));
  const file = args.config;
  const load = () => loadConfigFile(file, (w) => logger.warn(w, 'config warning'));
  const config = load();
  if (cluster.isPrimary && workerCount(config) > 1) {
    let stop: (() => Promise<number>) | undefined;
    const stopped = signals.onStop(() => stop?.() ?? Promise.resolve(0));
    return Promise.race([runPrimary(config, logger, { onStop: (s) => void (stop = s) }), stopped]);
  }
  const service = await startService(config, { logger, load, admin: cluster.isPrimary });
  if (cluster.isWorker) joinCluster(service);
  process.on('SIGHUP', () => void service.reload());
  return signals.onStop(stopService(service));
}

/** Demo mode (SPEC §2): an in-memory key pair, a token signed with it, loopback only. */
async function runDemo(logger: Logger): Promise<RunningService> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const config: Config = parseConfig(DEMO_CONFIG, `${process.cwd()}/demo.yaml`);
  // Loaded here only: the running service itself never needs jose.
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({ email: 'demo-user@example.com' })
    .setProtectedHeader({ alg: 'ES256', kid: 'demo' })
    .setIssuer(DEMO_ISSUER)
    .setAudience('demo')
    .setSubject('demo-user@example.com')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  const service = await startService(config, {
    logger,
    keySource: (pc) => (pc.name === 'demo' ? createStaticKeySource(publicKey, 'demo key (in memory)') : undefined),
  });
  process.stdout.write(
    [
      '',
      'jwt-ext-authz demo mode: no --config given, so this process trusts an in-memory key pair.',
      `  gRPC ext_authz: ${service.grpcAddress}   admin: http://${service.adminAddress ?? 'off'}/metrics`,
      '',
      'Demo token (sub demo-user@example.com, aud demo, valid 1 hour):',
      `  ${token}`,
      '',
      'Send one Check as Envoy would (in another terminal, from this folder):',
      `  node dist/src/cli/main.js check --target ${service.grpcAddress} --token ${token}`,
      '',
      'Tamper with the token (change its last characters) to see a 401 invalid_signature deny.',
      '',
    ].join('\n'),
  );
  return service;
}
