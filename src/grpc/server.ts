import cluster from 'node:cluster';
import { chmodSync } from 'node:fs';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { hostPart } from '../util/host-port.js';
import { removeStaleSocket, unixSocketPath } from '../util/unix-socket.js';
import { AUTHORIZATION_SERVICE } from './proto.js';

/** What gets mounted on the gRPC listener. */
export interface GrpcService {
  addToServer(server: Server): void;
}

export interface GrpcListener {
  /** `host:port` with the real port, or `unix:/path`. */
  readonly address: string;
  setServing(serving: boolean): void;
  /** Stops accepting calls, lets in-flight ones finish, forces after `graceMs`. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Larger than any CheckRequest Envoy sends for headers (max_request_headers_kb tops out at
 * 8 MiB): a request over the limit would get a gRPC error, which Envoy may fail open on.
 * `token.max-bytes` bounds the work done on what arrives.
 */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * The gRPC server lifecycle in one place: bind, health, graceful then forced shutdown.
 * Health starts NOT_SERVING for "" and the Authorization service.
 */
export async function startGrpcListener(
  listen: string,
  services: readonly GrpcService[],
  credentials: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<GrpcListener> {
  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_concurrent_streams': 1000,
    // No channelz service is registered, so its per-call and per-session tracking only costs
    // allocations on the hot path.
    'grpc.enable_channelz': 0,
  });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [AUTHORIZATION_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  for (const s of services) s.addToServer(server);

  const socketPath = unixSocketPath(listen);
  // A cluster worker shares the primary's socket: only the primary may clear a stale one.
  if (socketPath !== undefined && cluster.isPrimary) removeStaleSocket(socketPath);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  // Envoy in the same pod runs as another user of the same group.
  if (socketPath !== undefined) chmodSync(socketPath, 0o660);
  const address = listen.startsWith('unix:') ? listen : `${hostPart(listen)}:${port}`;

  return {
    address,
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(AUTHORIZATION_SERVICE, status);
    },
    shutdown(graceMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
