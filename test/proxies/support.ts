/**
 * Real proxies in front of the HTTP mode (SPEC §12): the service started from a shipped config
 * (deploy/<proxy>/jwt-ext-authz.yaml), an upstream that echoes what it received, and the real
 * nginx or Caddy process started with the shipped proxy config, changed only where it names
 * ports and addresses. Everything listens on loopback.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { JWTPayload } from 'jose';
import { parse, stringify } from 'yaml';
import { DEPLOY, isObject, read } from '../deploy/support.js';
import { httpCheck, rawExchange, type HttpCheckOptions, type HttpResult } from '../helpers/http-check.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

export const NGINX = '/usr/sbin/nginx';
export const CADDY = '/usr/bin/caddy';

// ---------------------------------------------------------------- the upstream

/** What the upstream received: header lines as sent (names lower-cased), repeated ones kept. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

export interface Echo {
  readonly address: string;
  readonly seen: Seen[];
  close(): Promise<void>;
}

/** An upstream that answers 200 with what it received as JSON, also in its `x-echo` header (base64url; a body over 1 KiB as `<N bytes>`). */
export async function startEcho(): Promise<Echo> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const headers: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([(req.rawHeaders[i] ?? '').toLowerCase(), req.rawHeaders[i + 1] ?? '']);
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers, body };
      seen.push(s);
      // In a header too, so that a HEAD answer carries it; a long body only by its length there.
      const text = JSON.stringify(s);
      const short = body.length <= 1024 ? text : JSON.stringify({ ...s, body: `<${body.length} bytes>` });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-echo': Buffer.from(short).toString('base64url') }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.keepAliveTimeout = 1000;
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Every value of header `name` (lower case) the upstream received. */
export const valuesOf = (s: Seen, name: string): string[] => s.headers.filter(([k]) => k === name).map(([, v]) => v);

// ---------------------------------------------------------------- jwt-ext-authz

export const ISSUER = 'https://idp.example.com/';
export const AUDIENCE = 'example-app';
/** The identity headers of the shipped proxy configs' jwt-ext-authz.yaml. */
export const IDENTITY_HEADERS = ['x-jwt-principal', 'x-forwarded-access-token', 'x-jwt-email', 'x-jwt-groups'] as const;

/** The scopes /scoped and /dry require (SPEC §14). */
export const SCOPED_SCOPES = ['admin', 'write'] as const;
/** The cookie the tests add as a second token source when the shipped config has none. */
export const TOKEN_COOKIE = 'access_token';

/**
 * Routes the tests add after the shipped ones: a method-limited and a host-limited route without
 * a token, to see that the method and host checked are the client's, not the proxy's; and SPEC
 * §14 policy: scopes required (403 insufficient_scope), and the same in report-only.
 */
export const TEST_ROUTES = [
  { name: 'docs', match: { 'path-prefix': '/docs', methods: ['GET'] }, 'allow-missing': true },
  { name: 'open-host', match: { hosts: ['open.example.test'] }, 'allow-missing': true },
  { name: 'scoped', match: { 'path-prefix': '/scoped' }, require: { scopes: [...SCOPED_SCOPES] } },
  { name: 'dry', match: { 'path-prefix': '/dry' }, require: { scopes: [...SCOPED_SCOPES] }, 'report-only': true },
];

export interface AuthzOptions {
  /** The provider's keys come from a JWKS URL nothing listens on: every check is 503 keys_unavailable. */
  readonly keysUnavailable?: boolean;
}

/**
 * The service from a shipped jwt-ext-authz.yaml, with its listeners on free loopback ports, the
 * provider's keys from a local file, a user mapping that refuses `mallory` (403
 * user_not_allowed), a token cookie source after the Authorization header (unless the shipped
 * config names its sources) and TEST_ROUTES after the shipped routes.
 */
export async function startAuthz(shipped: string, options: AuthzOptions = {}): Promise<TestService> {
  const dir = tempDir('jwt-ext-authz-proxy-');
  const doc: unknown = parse(read(join(DEPLOY, shipped)));
  assert.ok(isObject(doc), `${shipped} is a mapping`);
  doc['listen'] = '127.0.0.1:0';
  doc['admin-listen'] = '127.0.0.1:0';
  assert.equal(typeof doc['http-listen'], 'string', `${shipped} turns on the HTTP mode`);
  doc['http-listen'] = '127.0.0.1:0';
  const providers = doc['providers'];
  assert.ok(Array.isArray(providers) && providers.length === 1 && isObject(providers[0]), `${shipped}: one provider`);
  const provider = providers[0];
  assert.equal(provider['required-issuer'], ISSUER);
  assert.equal(provider['required-audience'], AUDIENCE);
  writeKey(dir, 'idp.pem', testKeys().rsa.publicKey);
  // A port nothing listens on (found free, then closed): the key set never loads.
  provider['key-file'] = options.keysUnavailable === true ? `https://127.0.0.1:${await freePort()}/jwks.json` : 'idp.pem';
  writeFileSync(join(dir, 'rules.json'), JSON.stringify({ rules: [{ pattern: 'mallory', allow: false }, { pattern: '(.*)' }] }));
  provider['user-mapping'] = { file: 'rules.json' };
  // A cookie source beside the Authorization header, for a token cookie with an Authorization
  // header that did not carry it (SPEC §14 header hygiene).
  if (doc['token'] === undefined) doc['token'] = { sources: [{ header: 'authorization', scheme: 'Bearer' }, { cookie: TOKEN_COOKIE }] };
  const routes = Array.isArray(doc['routes']) ? doc['routes'] : [];
  doc['routes'] = [...routes, ...TEST_ROUTES];
  return startTestService(stringify(doc), { dir, watch: false });
}

/** `response.remove-headers` of a shipped jwt-ext-authz.yaml, lower case. */
export function removeHeadersOf(shipped: string): string[] {
  const doc: unknown = parse(read(join(DEPLOY, shipped)));
  const response = isObject(doc) ? doc['response'] : undefined;
  const list = isObject(response) ? response['remove-headers'] : undefined;
  return Array.isArray(list) ? list.map((h) => String(h).toLowerCase()) : [];
}

/** A token the shipped configs accept for `sub`, with the claims given. */
export const token = (sub: string, claims: JWTPayload = {}): Promise<string> =>
  sign({ iss: ISSUER, aud: AUDIENCE, sub, exp: nowSeconds() + 600, ...claims }, testKeys().rsa.privateKey);

// ---------------------------------------------------------------- ports and processes

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createTcpServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

export interface ProxyProcess {
  /** Where clients connect: `127.0.0.1:port`. */
  readonly address: string;
  /** What the process wrote to stdout and stderr. */
  output(): string;
  close(): Promise<void>;
}

/** Starts `command` and waits until it accepts connections on `port`; `dir` is removed once it has exited. */
async function startProcess(command: string, args: readonly string[], port: number, dir: string, env: NodeJS.ProcessEnv = {}): Promise<ProxyProcess> {
  const child: ChildProcess = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const gone = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const close = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(port))) {
    if (exited || Date.now() > deadline) {
      await close();
      throw new Error(`${command} ${args.join(' ')} did not start listening on ${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { address: `127.0.0.1:${port}`, output: () => out, close };
}

/** `start(port)` on a free port, again on another if a process took it in between (tests run in parallel). */
async function onFreePort(start: (port: number) => Promise<ProxyProcess>): Promise<ProxyProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (e: unknown) {
      if (attempt >= 3 || !/address already in use/i.test(e instanceof Error ? e.message : String(e))) throw e;
    }
  }
}

/**
 * `text` with each `[from, to]` replaced; each `from` must occur exactly once, so a changed
 * shipped config fails here rather than silently testing something else.
 */
export function substitute(text: string, what: string, pairs: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [from, to] of pairs) {
    assert.equal(out.split(from).length - 1, 1, `${what} contains "${from}" exactly once`);
    out = out.replace(from, () => to);
  }
  return out;
}

/** Where the shipped proxy configs send checks and allowed requests. */
export const SHIPPED = { authz: '127.0.0.1:9192', upstream: '127.0.0.1:8081', listen: 8080 } as const;

/**
 * nginx with deploy/nginx/jwt-ext-authz.conf included, as Debian's nginx.conf includes conf.d/.
 * The wrapper holds only what a packaged nginx.conf would: temp and log paths (here in a temp dir,
 * so no root is needed).
 */
export async function startNginx(authz: string, upstream: string): Promise<ProxyProcess> {
  return onFreePort((port) => startNginxOn(port, authz, upstream));
}

async function startNginxOn(port: number, authz: string, upstream: string): Promise<ProxyProcess> {
  const dir = tempDir('jwt-ext-authz-nginx-');
  // As root (CI), nginx's workers run as nobody: they must reach the temp folders.
  if (process.getuid?.() === 0) chmodSync(dir, 0o755);
  const conf = substitute(read(join(DEPLOY, 'nginx', 'jwt-ext-authz.conf')), 'deploy/nginx/jwt-ext-authz.conf', [
    [`server ${SHIPPED.authz};`, `server ${authz};`],
    [`server ${SHIPPED.upstream};`, `server ${upstream};`],
    [`listen ${SHIPPED.listen};`, `listen 127.0.0.1:${port};`],
  ]);
  writeFileSync(join(dir, 'jwt-ext-authz.conf'), conf);
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t));
  writeFileSync(join(dir, 'nginx.conf'), [
    'events { worker_connections 64; }',
    'http {',
    `    client_body_temp_path ${dir}/body;`,
    `    proxy_temp_path ${dir}/proxy;`,
    `    fastcgi_temp_path ${dir}/fastcgi;`,
    `    uwsgi_temp_path ${dir}/uwsgi;`,
    `    scgi_temp_path ${dir}/scgi;`,
    `    access_log ${dir}/access.log;`,
    `    include ${dir}/jwt-ext-authz.conf;`,
    '}',
    '',
  ].join('\n'));
  return startProcess(NGINX, [
    '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', 'stderr',
    '-g', `daemon off; master_process on; worker_processes 1; pid ${dir}/nginx.pid; error_log stderr warn;`,
  ], port, dir);
}

/**
 * Caddy with deploy/caddy/Caddyfile. A global options block is put in front, for a test run
 * only: no admin endpoint (two Caddys would share port 2019), no HTTPS, storage, HOME and the
 * autosaved config in a temp dir.
 */
export async function startCaddy(authz: string, upstream: string): Promise<ProxyProcess> {
  return onFreePort((port) => startCaddyOn(port, authz, upstream));
}

async function startCaddyOn(port: number, authz: string, upstream: string): Promise<ProxyProcess> {
  const dir = tempDir('jwt-ext-authz-caddy-');
  const shipped = read(join(DEPLOY, 'caddy', 'Caddyfile'));
  assert.doesNotMatch(shipped, /^\{/m, 'the shipped Caddyfile has no global options block of its own');
  const site = substitute(shipped, 'deploy/caddy/Caddyfile', [
    [`:${SHIPPED.listen} {`, `:${port} {`],
    [`forward_auth ${SHIPPED.authz} {`, `forward_auth ${authz} {`],
    [`reverse_proxy ${SHIPPED.upstream}`, `reverse_proxy ${upstream}`],
  ]);
  const global = ['{', '\tadmin off', '\tauto_https off', '\tstorage file_system {', `\t\troot ${dir}/storage`, '\t}', '}', ''].join('\n');
  const file = join(dir, 'Caddyfile');
  writeFileSync(file, global + site);
  return startProcess(CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], port, dir, {
    HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config'),
  });
}

// ---------------------------------------------------------------- requests through the proxy

export interface Through extends HttpResult {
  /** What the upstream received, when the request reached it. */
  readonly upstream: Seen | undefined;
}

/**
 * One request through the proxy, on a fresh connection; the path is sent exactly as given
 * (node's client does not normalise it).
 */
export async function through(proxy: ProxyProcess, options: HttpCheckOptions): Promise<Through> {
  const res = await httpCheck(proxy.address, options);
  const echo = res.headers['x-echo'];
  const upstream = echo === undefined ? undefined : (JSON.parse(Buffer.from(echo, 'base64url').toString()) as Seen);
  return { ...res, upstream };
}

// ---------------------------------------------------------------- a stand-in for jwt-ext-authz

export interface StubAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * An authorization service that gives one fixed answer, for what jwt-ext-authz never answers
 * (an allow missing identity headers): tests of the proxy configs alone.
 */
export async function startStubAuthz(answer: StubAnswer): Promise<{ address: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(answer.status, { 'content-length': '0', ...answer.headers }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** One request written byte for byte (any request target, absolute-form included), on its own connection. */
export async function rawThrough(proxy: ProxyProcess, target: string, headers: Readonly<Record<string, string>>): Promise<{ status: number; upstream: Seen | undefined }> {
  const head = Object.entries({ ...headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const { text } = await rawExchange(proxy.address, `GET ${target} HTTP/1.1\r\n${head}\r\n`);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const echo = /^x-echo: *(\S+)\r$/im.exec(text)?.[1];
  return { status, upstream: echo === undefined ? undefined : (JSON.parse(Buffer.from(echo, 'base64url').toString()) as Seen) };
}
