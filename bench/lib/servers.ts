/**
 * The servers under test, each a fresh process pinned to the server core: the service via its
 * CLI (config written to bench/results/tmp/configs), the empty grpc-js Check handler
 * (bench/empty-server.ts) and the bare node:http responder (bench/empty-http-server.ts). Stopping one summarises its CPU profile under --cpu-prof. The
 * loopback JWKS the service fetches from is lib/jwks-server.ts.
 */
import { get as httpGet } from 'node:http';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { formatProfile, summariseProfile } from './cpuprofile.js';
import { spawnPinned, stop, waitForLogLine, type Spawned } from './proc.js';
import { CLI, EMPTY_HTTP_SERVER, EMPTY_SERVER, LAUNCHER, ROOT, SERVER_CORE, TMP, log, type Settings } from './settings.js';
import { AUDIENCE, ISSUER } from './tokens.js';

export interface Server {
  readonly name: string;
  readonly proc: Spawned;
  readonly port: number;
  readonly logFile: string;
  readonly profile?: string;
  /** host:port of the service's admin listener. */
  readonly admin?: string;
  /** Port of the service's HTTP authorization listener (SPEC §12), when it has one. */
  readonly httpPort?: number;
}

/** The service as started: when it was spawned and its "listening" and "ready" log lines. */
export type Service = Server & { spawnedAt: number; listening: Record<string, unknown>; ready: Record<string, unknown> };

let serial = 0;

/** What a scenario adds to the service's config. */
export interface ServiceExtras {
  /** Open the HTTP authorization listener (SPEC §12) beside the gRPC one. */
  readonly http?: boolean;
  /** A route table of this many routes (SPEC §11), the last one matching the bench's request. */
  readonly routes?: number;
  /** A revocation file (SPEC §14) of this many rules, none of which revokes the bench tokens. */
  readonly revocations?: number;
  /** The policy of SPEC §14 on the route the bench request matches (see policyYaml). */
  readonly policy?: boolean;
  /**
   * Start it through bin/jwt-ext-authz, as the README and the Dockerfile do (it adds its V8 flags
   * and MALLOC_ARENA_MAX), unless --node-options or --cpu-prof were given: then node runs the
   * CLI directly with those flags, as for every other scenario.
   */
  readonly launcher?: boolean;
}

/** What bin/jwt-ext-authz adds when NODE_OPTIONS sets no heap size (keep in step with it). */
export const LAUNCHER_FLAGS = ['--max-old-space-size=64', '--max-semi-space-size=1', '--v8-pool-size=1', '--no-sparkplug'] as const;
/** The MALLOC_ARENA_MAX bin/jwt-ext-authz sets when the environment does not (keep in step with it). */
export const LAUNCHER_MALLOC_ARENA_MAX = '1';
/** What the launcher adds, as the results state it. */
export const launcherText = (): string => `\`${LAUNCHER_FLAGS.join(' ')}\`, \`MALLOC_ARENA_MAX=${LAUNCHER_MALLOC_ARENA_MAX}\``;

/** Whether `extras` asks for the launcher and nothing on the command line rules it out. */
export const viaLauncher = (s: Settings, extras: ServiceExtras = {}): boolean => extras.launcher === true && s.nodeOptions.length === 0 && !s.cpuProf;

/**
 * `n` routes as a real table might hold them, in the order that costs most: prefixes on other
 * first segments, exact paths, host-only rules (candidates for every path), rules on the bench
 * request's own first segment for other hosts, and last the route the request matches.
 */
export function routeTableYaml(n: number): string[] {
  const lines = ['routes:'];
  for (let i = 0; i < n - 1; i++) {
    const kind = i % 10;
    if (kind < 4) lines.push(`  - { name: app-${i}, match: { path-prefix: /app-${i}/ }, providers: [bench] }`);
    else if (kind < 7) lines.push(`  - { match: { path: /svc-${i}/health }, allow-missing: true }`);
    else if (kind < 9) lines.push(`  - { match: { hosts: [svc-${i}.example.com, "*.svc-${i}.internal"], methods: [GET, PUT] }, providers: [bench] }`);
    else lines.push(`  - { match: { hosts: [other-${i}.example.com], path-prefix: /v1/ }, providers: [bench] }`);
  }
  lines.push('  - { name: trino, match: { hosts: [trino.example.com], path-prefix: /v1/, methods: [GET, POST, DELETE] }, providers: [bench] }');
  return lines;
}

/**
 * `n` revocation rules of every shape, none matching a bench token, written where the config
 * can name it. Most are on the bench issuer, so a check goes as deep as the maps allow: other
 * jtis, other subjects of the issuer (with and without issued-before), and the issuer before
 * the bench tokens were issued.
 */
export function revocationsFile(n: number): string {
  const rules: Record<string, string>[] = [];
  for (let i = 0; i < n - 1; i++) {
    const kind = i % 5;
    if (kind === 0) rules.push({ jti: `revoked-${i}` });
    else if (kind === 1) rules.push({ jti: `revoked-${i}`, iss: ISSUER });
    else if (kind === 2) rules.push({ iss: ISSUER, sub: `gone-${i}@example.com` });
    else if (kind === 3) rules.push({ iss: ISSUER, sub: `gone-${i}@example.com`, 'issued-before': '2026-01-01T00:00:00Z' });
    else rules.push({ iss: `https://other-${i}.invalid/`, 'issued-before': '2026-01-01T00:00:00Z' });
  }
  if (n > 0) rules.push({ iss: ISSUER, 'issued-before': '2020-01-01T00:00:00Z' });
  const file = join(TMP, 'configs', `revocations-${n}.json`);
  writeFileSync(file, JSON.stringify({ rules }, null, 1));
  return file;
}

/**
 * SPEC §14 on the one route the bench request matches: a scope and a claim requirement that the
 * bench tokens meet, so every check is an allow that asks them. The `policy` scenario adds 100
 * revocation rules (revocationsFile) and measures all of it against warm-1.
 */
export function policyYaml(): string[] {
  return [
    'routes:',
    '  - name: trino',
    '    match: { hosts: [trino.example.com], path-prefix: /v1/ }',
    '    providers: [bench]',
    '    require: { scopes: ["trino:query"], claims: { groups: [analysts] } }',
  ];
}

export function serviceYaml(jwksUrl: string, s: Settings, cacheEntries: number | undefined, extras: ServiceExtras = {}): string {
  return [
    'listen: 127.0.0.1:0',
    'admin-listen: 127.0.0.1:0',
    ...(extras.http === true ? ['http-listen: 127.0.0.1:0'] : []),
    ...(extras.routes === undefined ? [] : routeTableYaml(extras.routes)),
    ...(extras.revocations === undefined ? [] : ['revocations:', `  file: ${revocationsFile(extras.revocations)}`]),
    ...(extras.policy === true ? policyYaml() : []),
    ...(cacheEntries === undefined ? [] : ['cache:', `  max-entries: ${cacheEntries}`]),
    'providers:',
    '  - name: bench',
    `    key-file: ${jwksUrl}`,
    `    required-issuer: ${ISSUER}`,
    `    required-audience: ${AUDIENCE}`,
    '    user-mapping:',
    '      pattern: (.*)@example\\.com',
    '    jwks:',
    `      min-refresh-interval: ${s.minRefreshS * 1000}ms`,
    '',
  ].join('\n');
}

/** The service, via its CLI, pinned to the server core; resolves once it logged "ready". */
export async function startService(name: string, yaml: string, s: Settings, extras: ServiceExtras = {}): Promise<Service> {
  const n = ++serial;
  const configFile = join(TMP, 'configs', `${n}-${name}.yaml`);
  writeFileSync(configFile, yaml);
  parseConfig(yaml, configFile); // fail here, with the project's own messages, on a bad bench config
  const logFile = join(TMP, 'logs', `${n}-${name}.log`);
  const profDir = join(TMP, 'profiles');
  const profName = `${n}-${name}.cpuprofile`;
  const nodeArgs = [...s.nodeOptions, ...(s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}`] : [])];
  const spawnedAt = Date.now();
  const proc = viaLauncher(s, extras)
    ? spawnPinned(SERVER_CORE, LAUNCHER, ['serve', '--config', configFile], { logFile, env: launcherEnv() })
    : spawnPinned(SERVER_CORE, process.execPath, [...nodeArgs, CLI, 'serve', '--config', configFile], { logFile });
  const listening = await waitForLogLine(logFile, proc, (l) => l['msg'] === 'listening', 15_000);
  const ready = await waitForLogLine(logFile, proc, (l) => l['msg'] === 'ready', 15_000);
  const grpc = String(listening['grpc']);
  const port = Number(grpc.slice(grpc.lastIndexOf(':') + 1));
  const admin = typeof listening['admin'] === 'string' && listening['admin'] !== 'off' ? { admin: listening['admin'] } : {};
  const http = typeof listening['http'] === 'string' && listening['http'] !== 'off' ? { httpPort: Number(listening['http'].slice(listening['http'].lastIndexOf(':') + 1)) } : {};
  return { name, proc, port, logFile, spawnedAt, listening, ready, ...admin, ...http, ...(s.cpuProf ? { profile: join(profDir, profName) } : {}) };
}

/**
 * Over the bench's environment: NODE_OPTIONS and MALLOC_ARENA_MAX emptied (the launcher treats
 * empty as unset, so it applies its defaults as for users), and this node first on PATH.
 */
const launcherEnv = (): NodeJS.ProcessEnv => ({ NODE_OPTIONS: '', MALLOC_ARENA_MAX: '', PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}` });

/** The bare node:http responder (200, empty body, keep-alive), pinned to the server core. */
export async function startEmptyHttp(name: string, s: Settings): Promise<Server> {
  const n = ++serial;
  const logFile = join(TMP, 'logs', `${n}-${name}.log`);
  const profDir = join(TMP, 'profiles');
  const profName = `${n}-${name}.cpuprofile`;
  const nodeArgs = [...s.nodeOptions, ...(s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}`] : [])];
  const proc = spawnPinned(SERVER_CORE, process.execPath, [...nodeArgs, EMPTY_HTTP_SERVER], { logFile });
  const line = await waitForLogLine(logFile, proc, (l) => l['msg'] === 'listening', 15_000);
  const port = Number(line['port']);
  return { name, proc, port, httpPort: port, logFile, ...(s.cpuProf ? { profile: join(profDir, profName) } : {}) };
}

/** The empty grpc-js Check handler (`rs256`: plus one RS256 verify per call), pinned to the server core. */
export async function startEmpty(name: string, s: Settings, mode: 'none' | 'rs256' = 'none', env?: NodeJS.ProcessEnv): Promise<Server> {
  const n = ++serial;
  const logFile = join(TMP, 'logs', `${n}-${name}.log`);
  const profDir = join(TMP, 'profiles');
  const profName = `${n}-${name}.cpuprofile`;
  const nodeArgs = [...s.nodeOptions, ...(s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}`] : [])];
  const proc = spawnPinned(SERVER_CORE, process.execPath, [...nodeArgs, EMPTY_SERVER, s.baseline, mode], { logFile, ...(env === undefined ? {} : { env }) });
  const line = await waitForLogLine(logFile, proc, (l) => l['msg'] === 'listening', 15_000);
  return { name, proc, port: Number(line['port']), logFile, ...(s.cpuProf ? { profile: join(profDir, profName) } : {}) };
}

const profiles: string[] = [];

/** The --cpu-prof summaries of every server stopped so far, as Markdown. */
export const profileSummaries = (): readonly string[] => profiles;

export const HEAP_METRICS = ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes', 'process_resident_memory_bytes'] as const;

/** Selected samples of the service's own /metrics (prom-client default metrics included). */
export function scrapeMetrics(admin: string, names: readonly string[]): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const req = httpGet(`http://${admin}/metrics`, { timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const out: Record<string, number> = {};
        for (const line of text.split('\n')) {
          const [name, value] = line.split(' ');
          if (name !== undefined && value !== undefined && names.includes(name)) out[name] = Number(value);
        }
        resolve(out);
      });
    });
    req.on('error', () => resolve({}));
    req.on('timeout', () => req.destroy());
  });
}

/** What stopServer needs of a measurement (lib/drivers.ts `Measurement`) to cut a profile to it. */
export interface MeasuredWindow {
  /** CLOCK_MONOTONIC µs. */
  readonly window: readonly [number, number] | undefined;
  readonly measured: number;
}

/** Stops a server; with --cpu-prof, summarises its profile over the measured window of `m`. */
export async function stopServer(server: Server, m?: MeasuredWindow): Promise<void> {
  const code = await stop(server.proc);
  if (code !== 0) log(`  ${server.name}: exited with ${code}`);
  if (server.profile === undefined) return;
  if (!existsSync(server.profile)) {
    log(`  ${server.name}: no CPU profile written`);
    return;
  }
  const options = m?.window === undefined ? { top: 20 } : { top: 20, window: m.window, requests: m.measured };
  profiles.push(formatProfile(`${server.name} (${server.profile.slice(ROOT.length)})`, summariseProfile(server.profile, options)));
}
