/**
 * The baseline of the HTTP mode (SPEC §10, §12): a bare node:http server that answers every
 * request 200 with an empty body over HTTP/1.1 keep-alive, and does nothing else. Prints one
 * JSON line {"msg":"listening","port":N}; SIGTERM stops it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const HEADERS = ['content-length', '0'];
const server = createServer((_req, res) => {
  res.writeHead(200, HEADERS).end();
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port, time: Date.now() })}\n`);
});
process.once('SIGTERM', () => {
  const force = setTimeout(() => process.exit(0), 2000);
  server.close(() => {
    clearTimeout(force);
    process.exit(0);
  });
  server.closeAllConnections();
});
