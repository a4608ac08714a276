/** A loopback JWKS endpoint (plain http; the service accepts it with a warning) that counts its requests. */
import type { JsonWebKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JwksServer {
  readonly url: string;
  /** Epoch ms of every request served so far. */
  readonly hits: readonly number[];
  hitsBetween(from: number, to: number): number;
  close(): Promise<void>;
}

export async function startJwksServer(keys: readonly JsonWebKey[]): Promise<JwksServer> {
  const body = JSON.stringify({ keys });
  const hits: number[] = [];
  const server = createServer((req, res) => {
    hits.push(Date.now());
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'max-age=300' });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    hits,
    hitsBetween: (from, to) => hits.filter((t) => t >= from && t <= to).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
