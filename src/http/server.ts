/**
 * The HTTP authorization listener (SPEC §12): node's own `http` server, HTTP/1.1 with
 * keep-alive, and HTTP/2 over cleartext (h2c, prior knowledge, as an Envoy cluster with
 * `http2_protocol_options` speaks it) on the same port. Every request, any method and path,
 * is a check; the answer is the authorizer's, written as built (one `writeHead`, one `end`).
 */
import cluster from 'node:cluster';
import { chmodSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { createServer as createH2Server, Http2ServerResponse, type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Authorizer } from '../authz/authorizer.js';
import type { HttpAnswer } from '../authz/http-response.js';
import type { Logger } from '../log.js';
import { reject, Rejection } from '../reasons.js';
import { splitHostPort } from '../util/host-port.js';
import { removeStaleSocket, unixSocketPath } from '../util/unix-socket.js';
import { joined, readRequest } from './request.js';

/**
 * Request headers up to this many bytes are read (SPEC §12 asks for at least 64 KiB: large
 * cookies). Node's default is 16 KiB.
 */
export const MAX_HEADER_BYTES = 96 * 1024;
/** A request body is never needed; one announced larger than this ends the connection after the answer rather than being read. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Longer than the idle timeouts of the proxies' connection pools (nginx 60 s, Go's 90 s), so they close first. */
const KEEP_ALIVE_MS = 180_000;
/** A connection that sends nothing is closed after this. */
const FIRST_BYTES_MS = 30_000;
/** Proxy configuration problems are logged at warn at most this often (the deny log has each one). */
const WARN_EVERY_MS = 60_000;

export interface HttpListener {
  /** `host:port` with the real port, or `unix:/path`. */
  readonly address: string;
  /** Stops accepting, lets requests in flight finish, closes every connection after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

const TOO_LARGE = reject('token_too_large', `the request headers are larger than ${MAX_HEADER_BYTES / 1024} KiB; they were not read`);
const UNPARSABLE = reject('internal_error', 'the request could not be parsed as HTTP; it was denied');
const LAST_RESORT: HttpAnswer = Object.freeze({
  status: 503,
  headers: Object.freeze(['content-type', 'application/json', 'cache-control', 'no-store', 'content-length', '74']),
  body: '{"error":"unavailable","reason":"internal_error","message":"internal error"}',
});

/** `PRI `, the start of the HTTP/2 connection preface: no HTTP/1 method is PRI. */
const isH2 = (chunk: Buffer): boolean => chunk.length >= 4 && chunk.readUInt32BE(0) === 0x50524920;

/** An answer as raw HTTP/1.1, for a connection node's parser gave up on. */
function rawResponse(a: HttpAnswer): string {
  let head = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? ''}\r\n`;
  for (let i = 0; i < a.headers.length; i += 2) head += `${a.headers[i] ?? ''}: ${a.headers[i + 1] ?? ''}\r\n`;
  return `${head}connection: close\r\n\r\n${a.body}`;
}

/** HTTP/2's writeHead wants an object: made once per answer. */
const h2Headers = new WeakMap<HttpAnswer, OutgoingHttpHeaders>();
function headersObject(a: HttpAnswer): OutgoingHttpHeaders {
  let o = h2Headers.get(a);
  if (o === undefined) {
    o = {};
    for (let i = 0; i < a.headers.length; i += 2) o[a.headers[i] ?? ''] = a.headers[i + 1] ?? '';
    h2Headers.set(a, o);
  }
  return o;
}

export async function startHttpListener(listen: string, authorizer: Authorizer, logger: Logger): Promise<HttpListener> {
  let lastWarn = -Infinity;
  const warnProxy = (rejection: Rejection): void => {
    const t = Date.now();
    if (t - lastWarn < WARN_EVERY_MS) return;
    lastWarn = t;
    logger.warn({ problem: rejection.message }, 'HTTP check denied: proxy configuration problem');
  };

  const send = (res: ServerResponse | Http2ServerResponse, a: HttpAnswer): void => {
    if (res instanceof Http2ServerResponse) res.writeHead(a.status, headersObject(a)).end(a.body);
    else res.writeHead(a.status, a.headers as string[]).end(a.body);
  };

  /** The check of one request: the authorizer's answer, or (never thrown) a refusal. */
  const check = (req: IncomingMessage | Http2ServerRequest): HttpAnswer | Promise<HttpAnswer> => {
    const attrs = readRequest(req.method ?? 'GET', req.url ?? '/', req.rawHeaders, authorizer.policy.config.http);
    if (!(attrs instanceof Rejection)) return authorizer.checkHttp(attrs);
    warnProxy(attrs);
    return authorizer.refuseHttp(attrs, false);
  };

  const reply = (res: ServerResponse | Http2ServerResponse, a: HttpAnswer): void => {
    try {
      send(res, a);
    } catch (e: unknown) {
      // An answer node refuses to write must not become an uncaught exception: fail closed.
      logger.error({ err: e instanceof Error ? e.message : String(e) }, 'HTTP answer could not be written');
      if (res.headersSent) res.destroy();
      else send(res, LAST_RESORT);
    }
  };

  const onRequest = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    // A body is never read: past the bound, the connection ends with the answer instead.
    // From the raw list: reading req.headers would make node build its header object per request.
    if (!(res instanceof Http2ServerResponse)) {
      const length = joined(req.rawHeaders, 'content-length');
      if (joined(req.rawHeaders, 'transfer-encoding') !== undefined || (length !== undefined && Number(length) > MAX_BODY_BYTES)) {
        res.shouldKeepAlive = false;
      }
    }
    const result = check(req);
    if (result instanceof Promise) void result.then((a) => reply(res, a), () => reply(res, LAST_RESORT)).catch(() => res.destroy());
    else reply(res, result);
  };

  const h1 = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false, keepAliveTimeout: KEEP_ALIVE_MS }, onRequest);
  // Bounded by maxHeaderSize; node's default (2000) would silently drop later lines, a second Authorization among them.
  h1.maxHeadersCount = 0;
  // No 100 Continue: the body is not wanted.
  h1.on('checkContinue', onRequest);
  h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADER_TIMEOUT') {
      socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    // SPEC §12: a deny, never a dropped connection. A 401 (not node's 431), so nginx relays it as a denial.
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    socket.end(rawResponse(authorizer.refuseHttp(tooLarge ? TOO_LARGE : UNPARSABLE, tooLarge)));
  });

  // node hands CONNECT to this event only (and drops the connection without a listener): answer it too.
  h1.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const answered = (a: HttpAnswer): void => void socket.end(rawResponse(a));
    const result = check(req);
    if (result instanceof Promise) void result.then(answered, () => answered(LAST_RESORT)).catch(() => socket.destroy());
    else answered(result);
  });

  const sessions = new Set<ServerHttp2Session>();
  // Header lines are bounded by maxHeaderListSize: node's default of 128 pairs would reset a
  // stream with many cookie crumbs instead of answering it.
  const h2 = createH2Server({ settings: { maxHeaderListSize: MAX_HEADER_BYTES }, maxHeaderListPairs: 4096 }, onRequest);
  h2.on('checkContinue', onRequest);
  h2.on('session', (session: ServerHttp2Session) => {
    // Idle sessions are closed like idle HTTP/1.1 keep-alive connections.
    session.setTimeout(KEEP_ALIVE_MS, () => session.close());
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  // One port for both: the first bytes tell an HTTP/2 preface from an HTTP/1 request line.
  const http1Connection = h1.listeners('connection')[0];
  if (typeof http1Connection !== 'function') throw new Error('internal error: node:http has no connection listener to wrap');
  h1.removeAllListeners('connection');
  h1.on('connection', (socket: Socket) => {
    const idle = (): void => void socket.destroy();
    const failed = (): void => void socket.destroy();
    socket.setTimeout(FIRST_BYTES_MS);
    socket.once('timeout', idle);
    socket.once('error', failed);
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.off('timeout', idle);
      socket.off('error', failed);
      socket.pause();
      socket.unshift(chunk);
      if (isH2(chunk)) {
        socket.setNoDelay(true);
        // The session reads what is buffered itself.
        h2.emit('connection', socket);
      } else {
        Reflect.apply(http1Connection, h1, [socket]);
        socket.resume();
      }
    });
  });

  const socketPath = unixSocketPath(listen);
  // A cluster worker shares the primary's socket: only the primary may clear a stale one.
  if (socketPath !== undefined && cluster.isPrimary) removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    h1.once('error', reject);
    const done = (): void => {
      h1.off('error', reject);
      resolve();
    };
    if (socketPath !== undefined) h1.listen(socketPath, done);
    else {
      const { host, port } = splitHostPort(listen);
      h1.listen(port, host, done);
    }
  });
  // The proxy in the same pod runs as another user of the same group.
  if (socketPath !== undefined) chmodSync(socketPath, 0o660);
  const bound = h1.address();
  const address = socketPath !== undefined || typeof bound === 'string' || bound === null
    ? listen
    : `${listen.slice(0, listen.lastIndexOf(':'))}:${(bound as AddressInfo).port}`;

  return {
    address,
    close(graceMs) {
      return new Promise((resolve) => {
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          clearInterval(idle);
          clearTimeout(force);
          resolve();
        };
        h1.close(() => finish());
        for (const s of sessions) s.close();
        // Keep-alive connections go as soon as their request in flight is answered.
        const idle = setInterval(() => h1.closeIdleConnections(), 50);
        const force = setTimeout(() => {
          h1.closeAllConnections();
          for (const s of sessions) s.destroy();
          finish();
        }, graceMs);
        idle.unref();
        force.unref();
      });
    },
  };
}
