import { splitHostPort } from '../util/host-port.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly [detail: string]: unknown;
}

/** What /metrics serves: one registry, or (with workers) the cluster-wide aggregate. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface AdminOptions {
  readonly metrics: MetricsSource;
  readonly readiness: () => ReadinessReport;
  /** Flipped on SIGTERM so /readyz turns 503 before the listener closes. */
  readonly draining: () => boolean;
}

export interface AdminListener {
  readonly address: string;
  close(): Promise<void>;
}


/** Admin HTTP: GET /metrics, /healthz, /readyz (SPEC §7). */
export async function startAdminListener(listen: string, options: AdminOptions): Promise<AdminListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n');
    } else if (path === '/readyz') {
      const report = options.readiness();
      const ready = report.ready && !options.draining();
      const body = { ...report, ready, ...(options.draining() ? { draining: true } : {}) };
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    } else if (path === '/metrics') {
      options.metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.keepAliveTimeout = 5000;
  const { host, port } = splitHostPort(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${bound.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
