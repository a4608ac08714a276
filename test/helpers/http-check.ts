/**
 * Real HTTP requests to the HTTP authorization listener (SPEC §12), over loopback: node's own
 * client for ordinary requests (keep-alive agents included), a raw socket for what a client
 * library would refuse to send.
 */
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';

export interface HttpResult {
  readonly status: number;
  /** Lower-case names; a repeated header joined with ", " as node does. */
  readonly headers: Readonly<Record<string, string>>;
  /** Names in the order the server sent them, lower case. */
  readonly names: readonly string[];
  readonly body: string;
  /** Local port of the connection that carried it: the same port means a reused connection. */
  readonly localPort: number | undefined;
}

export interface HttpCheckOptions {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly agent?: Agent;
  readonly body?: string | Buffer;
}

/** `address`: `host:port` or `unix:/path`. */
export function httpCheck(address: string, options: HttpCheckOptions = {}): Promise<HttpResult> {
  const target = address.startsWith('unix:')
    ? { socketPath: address.slice('unix:'.length) }
    : { host: address.slice(0, address.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(address.lastIndexOf(':') + 1)) };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers ?? {}, agent: options.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        const names = res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        resolve({ status: res.statusCode ?? 0, headers, names, body, localPort: res.socket?.localPort });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes `bytes` on a fresh connection and reads until the server closes it (or `timeoutMs`). */
export function rawExchange(address: string, bytes: string | Buffer, timeoutMs = 5000): Promise<{ text: string; error: string | undefined }> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let error: string | undefined;
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, error });
    });
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.write(bytes);
  });
}

/** One request over HTTP/2 cleartext (prior knowledge), as an Envoy cluster with http2_protocol_options sends it. */
export function h2Check(address: string, headers: OutgoingHttpHeaders & { ':path'?: string }): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://${address}`);
    session.on('error', reject);
    const stream = session.request(headers);
    let body = '';
    let status = 0;
    const out: Record<string, string> = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && v !== undefined) out[k] = String(v);
    });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => {
      session.close();
      resolve({ status, headers: out, body });
    });
    stream.on('error', reject);
    stream.end();
  });
}

export const keepAliveAgent = (): Agent => new Agent({ keepAlive: true, maxSockets: 1 });
