import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTestPki } from './pki.js';

/** What the server answers to one request. */
export interface Reply {
  /** Default 200. */
  readonly status?: number;
  /** A string or Buffer is sent as is; anything else as JSON. Default: no body. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait this long before answering (cut short when the server closes). */
  readonly delayMs?: number;
  /** Drop the connection without answering. */
  readonly destroy?: boolean;
  /** Full control of the response instead of status/body. */
  readonly raw?: (res: ServerResponse, closed: AbortSignal) => void;
}

export interface RequestInfo {
  /** 1-based number of this request. */
  readonly n: number;
  /** Path and query as received. */
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
}

export type Handler = (req: RequestInfo) => Reply | Promise<Reply>;

export interface TestServer {
  /** Base URL, e.g. `https://127.0.0.1:40123` (no trailing slash). */
  readonly url: string;
  /** CA that signed the server certificate (PEM file kept until the process exits); '' for http. */
  readonly caFile: string;
  readonly caPem: string;
  setHandler(handler: Handler): void;
  /** Every request received so far, live: `requests.length` counts them. */
  readonly requests: readonly RequestInfo[];
  close(): Promise<void>;
}

interface Certificates { readonly caFile: string; readonly caPem: string; readonly key: Buffer; readonly cert: Buffer }

let certificates: Certificates | undefined;

/**
 * A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI once
 * per process (in a temp folder removed when the process exits).
 */
function testCertificates(): Certificates {
  if (certificates !== undefined) return certificates;
  const dir = mkdtempSync(join(tmpdir(), 'jwt-ext-authz-https-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const pki = makeTestPki(dir);
  const server = pki.issue('server', 'server');
  certificates = { caFile: pki.caFile, caPem: readFileSync(pki.caFile, 'utf8'), key: readFileSync(server.keyFile), cert: readFileSync(server.certFile) };
  return certificates;
}

/**
 * Starts an HTTPS (or, with `tls: false`, plain HTTP) server on 127.0.0.1 with a random port. The
 * default handler answers 404; tests install their own with `setHandler`.
 */
export async function startHttpsServer(options: { tls?: boolean } = {}): Promise<TestServer> {
  const closing = new AbortController();
  const requests: RequestInfo[] = [];
  let handler: Handler = () => ({ status: 404, body: 'not found' });

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const info: RequestInfo = { n: requests.length + 1, path: req.url ?? '', headers: req.headers };
    requests.push(info);
    void (async () => {
      const reply = await handler(info);
      if (reply.delayMs !== undefined) await sleep(reply.delayMs, undefined, { signal: closing.signal });
      if (reply.destroy === true) return void req.socket.destroy();
      if (reply.raw !== undefined) return reply.raw(res, closing.signal);
      const body = reply.body === undefined ? '' : typeof reply.body === 'string' || Buffer.isBuffer(reply.body) ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
      res.end(body);
      return undefined;
    })().catch(() => {
      // Aborted delay (server closing) or a client that went away.
      req.socket.destroy();
    });
  };

  const certs = options.tls === false ? undefined : testCertificates();
  const server: Server = certs === undefined ? createHttpServer(onRequest) : createHttpsServer({ key: certs.key, cert: certs.cert }, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls === false ? 'http' : 'https'}://127.0.0.1:${port}`,
    caFile: certs?.caFile ?? '',
    caPem: certs?.caPem ?? '',
    setHandler(h) {
      handler = h;
    },
    requests,
    async close() {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

