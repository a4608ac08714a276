/**
 * `npm run bench` (SPEC §10): starts the service and an empty grpc-js Check handler, one at a time,
 * pinned to core 0, drives them from core 1 with h2load and with a Node HTTP/2 driver, and
 * compares every scenario with the empty handler measured by the same driver in the same run.
 * Prints a table and writes it to bench/results/<YYYY-MM-DD>.md. `--help` lists the options.
 */
import { spawnSync } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { mkdirSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { formatProfile, summariseProfile } from './lib/cpuprofile.js';
import { runH2load } from './lib/h2load.js';
import { startJwksServer, type JwksServer } from './lib/jwks-server.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { cpuWindow, installCleanup, killAll, memory, pinSelf, spawnPinned, stop, waitForLogLine, type Spawned } from './lib/proc.js';
import { frameFor } from './lib/requests.js';
import { AUDIENCE, ISSUER, badSignature, benchTokens, unknownKidTokens } from './lib/tokens.js';
import type { DriverJob } from './driver.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
const TMP = join(RESULTS, 'tmp');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const EMPTY_SERVER = fileURLToPath(new URL('./empty-server.js', import.meta.url));
const DRIVER = fileURLToPath(new URL('./driver.js', import.meta.url));
/** Read before the bench pins itself to one core (which would make it 1). */
const NPROC = availableParallelism();
const SERVER_CORE = 0;
const LOAD_CORE = 1;

const SCENARIOS = ['ready', 'empty', 'floor', 'warm-1', 'warm-rr', 'cold', 'bad-sig', 'unknown-kid', 'rss'] as const;
type ScenarioId = (typeof SCENARIOS)[number];

const USAGE = `npm run bench -- [options]

  --quick                 short run: 1 round of 3 s runs, 10 000 distinct tokens, 100 000 checks for RSS
  --repeat N              rounds of every throughput run; the table shows medians (default 3; quick 1)
  --duration S            measured seconds per run (default 5; quick 3)
  --warmup S              warm-up seconds before each measurement (default 2; quick 1)
  --connections N         HTTP/2 connections per driver (default 2)
  --streams N             concurrent streams per connection (default 32)
  --distinct N            distinct RS256 tokens for cold / rss (default 100000; quick 10000)
  --round-robin N         tokens of the warm round-robin scenario (default 1000)
  --rss-checks N          checks before reading RSS (default 1000000; quick 100000)
  --rss-cache N           cache.max-entries for the RSS run (default: the product default, 10 000)
  --min-refresh S         jwks.min-refresh-interval of the service (default 2)
  --ready-runs N          start-ups timed for "ready" (default 5; quick 3)
  --only LIST             comma-separated subset of: ${SCENARIOS.join(', ')}
  --baseline CODEC        codec of the empty handler: standard (proto-loader, default) or lean (the
                          service's own server-side codec, src/grpc/codec.ts)
  --node-options="FLAGS"  extra node flags for the service and empty-handler processes (e.g. "--max-semi-space-size=4")
  --cpu-prof              run the service under node --cpu-prof and summarise each profile
                          (numbers are then slower than normal; profiles in bench/results/tmp/profiles)
  --keep-logs             keep the service logs under bench/results/tmp/logs
  --out FILE              results file (default bench/results/<date>.md, or <date>-quick.md with --quick)
  --timeout-minutes M     hard limit for the whole run (default 25)
`;

interface Settings {
  readonly quick: boolean;
  readonly repeat: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  readonly streams: number;
  readonly distinct: number;
  readonly roundRobin: number;
  readonly rssChecks: number;
  readonly rssCache: number | undefined;
  readonly minRefreshS: number;
  readonly readyRuns: number;
  readonly only: ReadonlySet<ScenarioId>;
  readonly cpuProf: boolean;
  readonly nodeOptions: readonly string[];
  readonly baseline: 'standard' | 'lean';
  readonly keepLogs: boolean;
  readonly out: string;
  readonly timeoutMinutes: number;
}

function settings(argv: readonly string[]): Settings {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      streams: { type: 'string' },
      distinct: { type: 'string' },
      'round-robin': { type: 'string' },
      'rss-checks': { type: 'string' },
      'rss-cache': { type: 'string' },
      'min-refresh': { type: 'string' },
      'ready-runs': { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'node-options': { type: 'string' },
      baseline: { type: 'string', default: 'standard' },
      'keep-logs': { type: 'boolean', default: false },
      out: { type: 'string' },
      'timeout-minutes': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const num = (name: string, v: string | undefined, dflt: number, min = 0): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number >= ${min}, got ${v}`);
    return n;
  };
  const only = new Set<ScenarioId>();
  for (const s of (values.only ?? SCENARIOS.join(',')).split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`--only: unknown scenario ${s} (known: ${SCENARIOS.join(', ')})`);
    only.add(s as ScenarioId);
  }
  const date = new Date().toISOString().slice(0, 10);
  return {
    quick,
    repeat: Math.round(num('repeat', values.repeat, quick ? 1 : 3, 1)),
    durationMs: num('duration', values.duration, quick ? 3 : 5, 0.5) * 1000,
    warmupMs: num('warmup', values.warmup, quick ? 1 : 2, 0) * 1000,
    connections: num('connections', values.connections, 2, 1),
    streams: num('streams', values.streams, 32, 1),
    distinct: num('distinct', values.distinct, quick ? 10_000 : 100_000, 1),
    roundRobin: num('round-robin', values['round-robin'], 1000, 1),
    rssChecks: num('rss-checks', values['rss-checks'], quick ? 100_000 : 1_000_000, 1),
    rssCache: values['rss-cache'] === undefined ? undefined : num('rss-cache', values['rss-cache'], 0, 0),
    minRefreshS: num('min-refresh', values['min-refresh'], 2, 0.1),
    readyRuns: num('ready-runs', values['ready-runs'], quick ? 3 : 5, 1),
    only,
    cpuProf: values['cpu-prof'] === true,
    baseline: values.baseline === 'lean' ? 'lean' : values.baseline === 'standard' ? 'standard' : fail(`--baseline: standard or lean, got ${values.baseline ?? ''}`),
    nodeOptions: (values['node-options'] ?? '').split(/\s+/).filter((x) => x !== ''),
    keepLogs: values['keep-logs'] === true,
    out: values.out ?? join(RESULTS, `${date}${quick ? '-quick' : ''}.md`),
    timeoutMinutes: num('timeout-minutes', values['timeout-minutes'], 25, 1),
  };
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);
const fail = (message: string): never => {
  throw new Error(message);
};

// ---------------------------------------------------------------------------------------------
// Servers

interface Server {
  readonly name: string;
  readonly proc: Spawned;
  readonly port: number;
  readonly logFile: string;
  readonly profile?: string;
  /** host:port of the service's admin listener. */
  readonly admin?: string;
}

let serial = 0;

function serviceYaml(jwksUrl: string, s: Settings, cacheEntries: number | undefined): string {
  return [
    'listen: 127.0.0.1:0',
    'admin-listen: 127.0.0.1:0',
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
async function startService(name: string, yaml: string, s: Settings): Promise<Server & { spawnedAt: number; listening: Record<string, unknown>; ready: Record<string, unknown> }> {
  const n = ++serial;
  const configFile = join(TMP, 'configs', `${n}-${name}.yaml`);
  writeFileSync(configFile, yaml);
  parseConfig(yaml, configFile); // fail here, with the project's own messages, on a bad bench config
  const logFile = join(TMP, 'logs', `${n}-${name}.log`);
  const profDir = join(TMP, 'profiles');
  const profName = `${n}-${name}.cpuprofile`;
  const nodeArgs = [...s.nodeOptions, ...(s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}`] : [])];
  const spawnedAt = Date.now();
  const proc = spawnPinned(SERVER_CORE, process.execPath, [...nodeArgs, CLI, 'serve', '--config', configFile], { logFile });
  const listening = await waitForLogLine(logFile, proc, (l) => l['msg'] === 'listening', 15_000);
  const ready = await waitForLogLine(logFile, proc, (l) => l['msg'] === 'ready', 15_000);
  const grpc = String(listening['grpc']);
  const port = Number(grpc.slice(grpc.lastIndexOf(':') + 1));
  const admin = typeof listening['admin'] === 'string' && listening['admin'] !== 'off' ? { admin: listening['admin'] } : {};
  return { name, proc, port, logFile, spawnedAt, listening, ready, ...admin, ...(s.cpuProf ? { profile: join(profDir, profName) } : {}) };
}

async function startEmpty(name: string, s: Settings, mode: 'none' | 'rs256' = 'none'): Promise<Server> {
  const n = ++serial;
  const logFile = join(TMP, 'logs', `${n}-${name}.log`);
  const profDir = join(TMP, 'profiles');
  const profName = `${n}-${name}.cpuprofile`;
  const nodeArgs = [...s.nodeOptions, ...(s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}`] : [])];
  const proc = spawnPinned(SERVER_CORE, process.execPath, [...nodeArgs, EMPTY_SERVER, s.baseline, mode], { logFile });
  const line = await waitForLogLine(logFile, proc, (l) => l['msg'] === 'listening', 15_000);
  return { name, proc, port: Number(line['port']), logFile, ...(s.cpuProf ? { profile: join(profDir, profName) } : {}) };
}

const profiles: string[] = [];
const HEAP_METRICS = ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes', 'process_resident_memory_bytes'] as const;

/** Selected samples of the service's own /metrics (prom-client default metrics included). */
function scrapeMetrics(admin: string, names: readonly string[]): Promise<Record<string, number>> {
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

/** Median wall time of `taskset -c CORE node -e 0`: what node start-up alone costs on this machine. */
function bareNodeStartMs(runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    spawnSync('taskset', ['-c', String(SERVER_CORE), process.execPath, '-e', '0']);
    times.push(performance.now() - t);
  }
  return median(times);
}

const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Stops a server; with --cpu-prof, summarises its profile over the measured window of `m`. */
async function stopServer(server: Server, m?: Measurement): Promise<void> {
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

// ---------------------------------------------------------------------------------------------
// Drivers

type Driver = 'h2load' | 'node';

interface Measurement {
  readonly driver: Driver;
  readonly rps: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly measured: number;
  readonly failed: number;
  readonly serverCpu: number | undefined;
  readonly loadCpu: number | undefined;
  /** Requests completed, warm-up included. */
  readonly completed: number;
  /** CheckResponse status.code → count, for the node driver (h2load only sees HTTP 200). */
  readonly decisions: Readonly<Record<string, number>>;
  readonly startedAt: number;
  readonly endedAt: number;
  /** The measured window in CLOCK_MONOTONIC µs (the clock of V8 CPU profiles). */
  readonly window: readonly [number, number] | undefined;
}

/** One request through the same HTTP/2 path, to learn the decision h2load cannot see. */
async function probe(server: Server, body: Buffer): Promise<Readonly<Record<string, number>>> {
  const r = await runLoad({ port: server.port, bodies: [body], connections: 1, streams: 1, warmupMs: 0, durationMs: 0, requests: 3, timeoutMs: 10_000, drainMs: 1000 });
  if (r.failed > 0 || r.completed !== 3) throw new Error(`probe of ${server.name} failed: ${r.errors.join('; ')}`);
  return r.decisions;
}

async function measureH2load(server: Server, body: Buffer, s: Settings): Promise<Measurement> {
  const decisions = await probe(server, body);
  const bodyFile = join(TMP, `body-${server.name}.bin`);
  writeFileSync(bodyFile, body);
  let window: ReturnType<typeof cpuWindow> | undefined;
  let cpu: (number | undefined)[] = [];
  const mono: number[] = [];
  const startedAt = Date.now();
  rmSync(join(TMP, 'h2load.log'), { force: true });
  const r = await runH2load({
    core: LOAD_CORE,
    port: server.port,
    bodyFile,
    connections: s.connections,
    streams: s.streams,
    warmupMs: s.warmupMs,
    durationMs: s.durationMs,
    logFile: join(TMP, 'h2load.log'),
    onPhase: (phase, pid) => {
      if (phase === 'measure') {
        (window = cpuWindow([server.proc.pid, pid])).begin();
        mono[0] = monoUs();
      }
      if (phase === 'end' && window !== undefined) {
        cpu = window.end();
        mono[1] = monoUs();
      }
    },
  });
  rmSync(join(TMP, 'h2load.log'), { force: true });
  if (r.non2xx > 0) throw new Error(`h2load against ${server.name}: ${r.non2xx} non-2xx answers\n${r.summary}`);
  return {
    driver: 'h2load',
    rps: r.rps,
    p50Us: r.latencyUs.p50,
    p99Us: r.latencyUs.p99,
    measured: r.measured,
    completed: r.measured,
    failed: r.failed,
    serverCpu: cpu[0],
    loadCpu: cpu[1],
    decisions,
    startedAt,
    endedAt: Date.now(),
    window: mono.length === 2 ? [mono[0] ?? 0, mono[1] ?? 0] : undefined,
  };
}

async function measureNode(server: Server, tokensFile: string, s: Settings, extra: { tokens?: number; requests?: number } = {}): Promise<Measurement> {
  const job: DriverJob = {
    port: server.port,
    tokensFile,
    connections: s.connections,
    streams: s.streams,
    warmupMs: s.warmupMs,
    durationMs: s.durationMs,
    ...extra,
  };
  const jobFile = join(TMP, 'driver-job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  const p = spawnPinned(LOAD_CORE, process.execPath, ['--max-old-space-size=2048', DRIVER, jobFile]);
  const limitMs = extra.requests === undefined ? s.warmupMs + s.durationMs + 120_000 : Math.max(300_000, extra.requests * 2);
  const kill = setTimeout(() => {
    log(`  driver against ${server.name} took longer than ${limitMs / 1000} s; killed`);
    p.child.kill('SIGKILL');
  }, limitMs);
  let window: ReturnType<typeof cpuWindow> | undefined;
  let cpu: (number | undefined)[] = [];
  let result: LoadResult | undefined;
  const mono: number[] = [];
  let startedAt = Date.now();
  let endedAt = startedAt;
  let pending = '';
  let stderr = '';
  p.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  p.child.stdout?.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) {
      const e = JSON.parse(l) as { event: string; at?: number; result?: LoadResult };
      if (e.event === 'start') startedAt = e.at ?? Date.now();
      if (e.event === 'measure') {
        (window = cpuWindow([server.proc.pid, p.pid])).begin();
        mono[0] = monoUs();
      }
      if (e.event === 'end') {
        endedAt = e.at ?? Date.now();
        if (window !== undefined) cpu = window.end();
        mono[1] = monoUs();
      }
      if (e.event === 'result') result = e.result;
    }
  });
  const code = await p.exited;
  clearTimeout(kill);
  if (code !== 0 || result === undefined) throw new Error(`driver against ${server.name} exited with ${code}\n${stderr}`);
  if (result.errors.length > 0) log(`  driver errors: ${result.errors.join('; ')}`);
  return {
    driver: 'node',
    rps: result.rps,
    p50Us: result.latencyUs.p50,
    p99Us: result.latencyUs.p99,
    measured: result.measured,
    completed: result.completed,
    failed: result.failed,
    serverCpu: cpu[0],
    loadCpu: cpu[1],
    decisions: result.decisions,
    startedAt,
    endedAt,
    window: mono.length === 2 ? [mono[0] ?? 0, mono[1] ?? 0] : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Results

interface Case {
  readonly key: string;
  readonly scenario: string;
  readonly driver: Driver;
  readonly baseline: boolean;
  /** Expected CheckResponse status.code ('0' allow, '16' unauthenticated). */
  readonly expect: string;
  readonly target?: { readonly minRps: number; readonly maxP99?: number };
  readonly run: () => Promise<Measurement>;
  readonly after?: (m: Measurement) => void;
  readonly note?: (runs: readonly Measurement[]) => string;
}

interface Check {
  readonly what: string;
  readonly measured: string;
  readonly target: string;
  readonly pass: boolean | undefined;
}

const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const fmtMs = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '–');
const fmtPct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${Math.round(x * 100)}%`);
const fmtX = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');

function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? NaN) + (v[mid] ?? NaN)) / 2;
}

const CODE_NAMES: Readonly<Record<string, string>> = { '-2': 'no message', '0': 'OK', '7': 'PERMISSION_DENIED', '14': 'UNAVAILABLE', '16': 'UNAUTHENTICATED' };

function decisionsText(d: Readonly<Record<string, number>>): string {
  return Object.entries(d).map(([code, n]) => `${CODE_NAMES[code] ?? `code ${code}`}×${fmtInt(n)}`).join(', ');
}

interface Row {
  readonly c: Case;
  readonly runs: readonly Measurement[];
  readonly rps: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly rpsX: number;
  readonly p99X: number;
  readonly serverCpu: number;
  readonly loadCpu: number;
  readonly pass: boolean | undefined;
  readonly wrong: boolean;
}

/**
 * Medians over the rounds. Ratios: per round, the scenario against that round's empty handler
 * measured by the same driver (adjacent in time, so slow drifts of the machine cancel), then
 * the median of those ratios.
 */
function aggregate(cases: readonly Case[], results: ReadonlyMap<string, Measurement[]>): Row[] {
  return cases.map((c) => {
    const runs = results.get(c.key) ?? [];
    const base = cases.find((b) => b.baseline && b.driver === c.driver);
    const baseRuns = base === undefined ? [] : (results.get(base.key) ?? []);
    const rpsX = median(runs.map((m, i) => m.rps / (baseRuns[i]?.rps ?? NaN)));
    const p99X = median(runs.map((m, i) => m.p99Us / (baseRuns[i]?.p99Us ?? NaN)));
    const merged: Record<string, number> = {};
    for (const m of runs) for (const [k, v] of Object.entries(m.decisions)) merged[k] = (merged[k] ?? 0) + v;
    const wrong = Object.keys(merged).some((k) => k !== c.expect) || runs.some((m) => m.failed > 0);
    const pass = c.target === undefined ? undefined : rpsX >= c.target.minRps && (c.target.maxP99 === undefined || p99X <= c.target.maxP99) && !wrong;
    return {
      c,
      runs,
      rps: median(runs.map((m) => m.rps)),
      p50Us: median(runs.map((m) => m.p50Us)),
      p99Us: median(runs.map((m) => m.p99Us)),
      rpsX: c.baseline ? 1 : rpsX,
      p99X: c.baseline ? 1 : p99X,
      serverCpu: median(runs.map((m) => m.serverCpu ?? NaN)),
      loadCpu: median(runs.map((m) => m.loadCpu ?? NaN)),
      pass,
      wrong,
    };
  });
}

function throughputTable(rows: readonly Row[]): string {
  const out = [
    '| scenario | driver | req/s | req/s per round | p50 ms | p99 ms | req/s vs empty | p99 vs empty | server core | load core | target | result |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    const t = r.c.target;
    const target = r.c.baseline ? 'baseline' : t === undefined ? '–' : `≥ ${t.minRps.toFixed(2)}×${t.maxP99 === undefined ? '' : `, p99 ≤ ${t.maxP99.toFixed(1)}×`}`;
    let result = r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL';
    if (r.wrong) {
      const merged: Record<string, number> = {};
      for (const m of r.runs) for (const [k, v] of Object.entries(m.decisions)) merged[k] = (merged[k] ?? 0) + v;
      result = `${result} unexpected answers (${decisionsText(merged)}; ${r.runs.reduce((a, m) => a + m.failed, 0)} failed)`.trim();
    }
    if (Number.isFinite(r.serverCpu) && r.serverCpu < 0.9) result = `${result} (server core not saturated)`.trim();
    out.push(
      `| ${r.c.scenario} | ${r.c.driver} | ${fmtInt(r.rps)} | ${r.runs.map((m) => fmtInt(m.rps)).join(' / ')} | ${fmtMs(r.p50Us)} | ${fmtMs(r.p99Us)} | ${fmtX(r.rpsX)} | ${fmtX(r.p99X)} | ${fmtPct(r.serverCpu)} | ${fmtPct(r.loadCpu)} | ${target} | ${result} |`,
    );
  }
  return out.join('\n');
}

function checksTable(checks: readonly Check[]): string {
  return [
    '| check | measured | target | result |',
    '|---|---|---|---|',
    ...checks.map((c) => `| ${c.what} | ${c.measured} | ${c.target} | ${c.pass === undefined ? '–' : c.pass ? 'PASS' : 'FAIL'} |`),
  ].join('\n');
}

function machineInfo(): string[] {
  const h2 = spawnSync('h2load', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n').filter((l) => l !== '').length;
  return [
    `- CPU: ${cpus()[0]?.model ?? 'unknown'}, ${NPROC} cores (nproc); server pinned to core ${SERVER_CORE}, load generators (and this script) to core ${LOAD_CORE}`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB; kernel ${release()}`,
    `- node ${process.version}; ${h2}`,
    `- commit ${git}${dirty > 0 ? ` with ${dirty} uncommitted file(s) under src/` : ''}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function main(): Promise<void> {
  const s = settings(process.argv.slice(2));
  installCleanup();
  const hardLimit = setTimeout(() => {
    log(`bench: over the ${s.timeoutMinutes}-minute limit; stopping everything`);
    killAll();
    process.exit(3);
  }, s.timeoutMinutes * 60_000);
  for (const d of ['configs', 'logs', 'profiles']) mkdirSync(join(TMP, d), { recursive: true });
  for (const d of ['logs', 'profiles', 'configs']) for (const f of readdirSync(join(TMP, d))) rmSync(join(TMP, d, f), { force: true });
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const startedAt = Date.now();
  const want = (id: ScenarioId): boolean => s.only.has(id);

  // Tokens first, on every core, before the bench pins itself.
  const needDistinct = want('cold') || want('rss') || want('unknown-kid') ? s.distinct : 0;
  const set = await benchTokens(Math.max(needDistinct, s.roundRobin, 1), join(TMP, 'tokens'), log);
  if (set.reused) log(`reusing ${set.tokens.length} cached tokens from bench/results/tmp/tokens`);
  const tokensFile = join(TMP, 'tokens', 'tokens.txt');
  const warmToken = set.tokens[0] ?? '';
  const singleFile = join(TMP, 'token-1.txt');
  writeFileSync(singleFile, warmToken);
  const bad = badSignature(warmToken);
  const badFile = join(TMP, 'token-bad.txt');
  writeFileSync(badFile, bad);
  const unknown = unknownKidTokens(set.tokens, Math.max(1, Math.min(s.distinct, set.tokens.length)));
  const unknownFile = join(TMP, 'tokens-unknown-kid.txt');
  writeFileSync(unknownFile, unknown.join('\n'));

  pinSelf(LOAD_CORE);
  const jwks: JwksServer = await startJwksServer([set.publicJwk]);
  const yaml = (cache?: number): string => serviceYaml(jwks.url, s, cache);
  const header = `${s.repeat} round(s) of ${s.durationMs / 1000} s measured after ${s.warmupMs / 1000} s warm-up, ${s.connections} connections × ${s.streams} streams`;
  log(`bench: ${header}; JWKS at ${jwks.url}`);

  const around = async (srv: Server, fn: (srv: Server) => Promise<Measurement>): Promise<Measurement> => {
    let m: Measurement | undefined;
    try {
      m = await fn(srv);
      return m;
    } finally {
      await stopServer(srv, m);
    }
  };
  const onService = (name: string, cache: number | undefined, fn: (srv: Server) => Promise<Measurement>) => async (): Promise<Measurement> =>
    around(await startService(name, yaml(cache), s), fn);
  const onEmpty = (name: string, fn: (srv: Server) => Promise<Measurement>, mode: 'none' | 'rs256' = 'none') => async (): Promise<Measurement> =>
    around(await startEmpty(name, s, mode), fn);
  const checks: Check[] = [];

  // ---- time to ready
  if (want('ready')) {
    log('ready: time from spawn to the "ready" log line, loopback JWKS');
    const listening: number[] = [];
    const ready: number[] = [];
    // One untimed start first: it also warms the file cache, which a node that pulled the image has warm too.
    const first = await startService('ready', yaml(), s);
    const coldMs = Number(first.ready['time']) - first.spawnedAt;
    await stopServer(first);
    for (let i = 0; i < s.readyRuns; i++) {
      const srv = await startService('ready', yaml(), s);
      listening.push(Number(srv.listening['time']) - srv.spawnedAt);
      ready.push(Number(srv.ready['time']) - srv.spawnedAt);
      await stopServer(srv);
    }
    const bare = bareNodeStartMs(s.readyRuns);
    log(`  ready after ${ready.join(', ')} ms (listening after ${listening.join(', ')} ms; untimed first start ${coldMs} ms; node -e 0 takes ${bare.toFixed(0)} ms)`);
    const max = Math.max(...ready);
    checks.push({
      what: `time to ready (spawn → "ready" log line, loopback JWKS, ${s.readyRuns} start-ups)`,
      measured: `median ${median(ready)} ms, max ${max} ms (all: ${ready.join(', ')}; "listening" after median ${median(listening)} ms; bare \`node -e 0\` ${bare.toFixed(0)} ms; first start, not counted: ${coldMs} ms)`,
      target: '≤ 500 ms',
      pass: max <= 500,
    });
  }

  // ---- throughput cases, run in rounds
  const cases: Case[] = [];
  const warmBody = frameFor(warmToken, 0);
  const warmTarget = { minRps: 0.9, maxP99: 1.2 };
  const needBaseline = (['warm-1', 'warm-rr', 'cold', 'bad-sig', 'unknown-kid', 'empty', 'floor'] as const).some(want);
  const h2Scenarios = want('warm-1') || want('bad-sig') || want('unknown-kid') || want('empty') || want('floor');
  if (needBaseline && h2Scenarios) {
    cases.push({ key: 'empty-h2load', scenario: `empty grpc-js handler (${s.baseline} codec)`, driver: 'h2load', baseline: true, expect: '0', run: onEmpty('empty-h2load', (srv) => measureH2load(srv, warmBody, s)) });
  }
  if (needBaseline) {
    cases.push({ key: 'empty-node', scenario: `empty grpc-js handler (${s.baseline} codec)`, driver: 'node', baseline: true, expect: '0', run: onEmpty('empty-node', (srv) => measureNode(srv, singleFile, s)) });
  }
  if (want('floor')) {
    // Not the service: the empty handler plus one RS256 verify per call. What any grpc-js service
    // that checks one RSA-2048 signature per request can reach here; the cold and bad-signature
    // targets are read against it.
    const scenario = 'floor: empty handler + one RS256 verify per call';
    cases.push({ key: 'floor-h2load', scenario, driver: 'h2load', baseline: false, expect: '0', run: onEmpty('floor-h2load', (srv) => measureH2load(srv, warmBody, s), 'rs256') });
    cases.push({ key: 'floor-node', scenario, driver: 'node', baseline: false, expect: '0', run: onEmpty('floor-node', (srv) => measureNode(srv, singleFile, s), 'rs256') });
  }
  if (want('warm-1')) {
    cases.push({ key: 'warm-1-h2load', scenario: 'warm, 1 token (cache on)', driver: 'h2load', baseline: false, expect: '0', target: warmTarget, run: onService('warm-1-h2load', undefined, (srv) => measureH2load(srv, warmBody, s)) });
    cases.push({ key: 'warm-1-node', scenario: 'warm, 1 token (cache on)', driver: 'node', baseline: false, expect: '0', target: warmTarget, run: onService('warm-1-node', undefined, (srv) => measureNode(srv, singleFile, s)) });
  }
  if (want('warm-rr')) {
    cases.push({
      key: 'warm-rr-node', scenario: `warm, ${fmtInt(s.roundRobin)} tokens round robin (cache on)`, driver: 'node', baseline: false, expect: '0', target: warmTarget,
      run: onService('warm-rr-node', undefined, (srv) => measureNode(srv, tokensFile, s, { tokens: s.roundRobin })),
    });
  }
  if (want('cold')) {
    cases.push({
      key: 'cold-node', scenario: `cold, ${fmtInt(s.distinct)} distinct RS256 tokens (cache off)`, driver: 'node', baseline: false, expect: '0', target: { minRps: 0.55 },
      run: onService('cold-node', 0, (srv) => measureNode(srv, tokensFile, s, { tokens: s.distinct })),
      note: (runs) => {
        const most = Math.max(...runs.map((m) => m.completed));
        return most > s.distinct
          ? `up to ${fmtInt(most)} requests per run, so tokens came round again; with the cache off each was still verified`
          : `at most ${fmtInt(most)} requests per run: every request carried a token the service had not seen`;
      },
    });
  }
  if (want('bad-sig')) {
    const badBody = frameFor(bad, 0);
    const t = { minRps: 0.55 };
    cases.push({ key: 'bad-sig-h2load', scenario: 'bad-signature flood, 1 token', driver: 'h2load', baseline: false, expect: '16', target: t, run: onService('bad-sig-h2load', undefined, (srv) => measureH2load(srv, badBody, s)) });
    cases.push({ key: 'bad-sig-node', scenario: 'bad-signature flood, 1 token', driver: 'node', baseline: false, expect: '16', target: t, run: onService('bad-sig-node', undefined, (srv) => measureNode(srv, badFile, s)) });
  }
  const fetchRuns: { label: string; fetches: number; allowed: number; spanMs: number; requests: number }[] = [];
  if (want('unknown-kid')) {
    const mri = s.minRefreshS * 1000;
    const count = (label: string) => (m: Measurement): void => {
      const spanMs = m.endedAt - m.startedAt;
      const fetches = jwks.hitsBetween(m.startedAt, m.endedAt);
      const allowed = Math.floor(spanMs / mri) + 1;
      log(`    ${fetches} JWKS fetches during ${(spanMs / 1000).toFixed(1)} s of flood (allowed ${allowed})`);
      fetchRuns.push({ label, fetches, allowed, spanMs, requests: m.completed });
    };
    const fixedBody = frameFor(unknownKidTokens([warmToken], 1)[0] ?? '', 0);
    cases.push({
      key: 'unknown-kid-h2load', scenario: 'unknown-kid flood, 1 kid', driver: 'h2load', baseline: false, expect: '16',
      run: onService('unknown-kid-h2load', undefined, (srv) => measureH2load(srv, fixedBody, s)), after: count('one fixed unknown kid (h2load)'),
    });
    cases.push({
      key: 'unknown-kid-node', scenario: `unknown-kid flood, ${fmtInt(unknown.length)} random kids`, driver: 'node', baseline: false, expect: '16',
      run: onService('unknown-kid-node', undefined, (srv) => measureNode(srv, unknownFile, s)), after: count(`${fmtInt(unknown.length)} random kids (node)`),
    });
  }
  const results = new Map<string, Measurement[]>();
  for (let round = 1; round <= s.repeat && cases.length > 0; round++) {
    log(`round ${round}/${s.repeat}`);
    for (const c of cases) {
      const m = await c.run();
      const list = results.get(c.key) ?? [];
      list.push(m);
      results.set(c.key, list);
      log(`  ${c.scenario} [${c.driver}]: ${fmtInt(m.rps)} req/s, p50 ${fmtMs(m.p50Us)} ms, p99 ${fmtMs(m.p99Us)} ms, server core ${fmtPct(m.serverCpu)}, load core ${fmtPct(m.loadCpu)}; ${decisionsText(m.decisions)}`);
      c.after?.(m);
    }
  }
  for (const label of new Set(fetchRuns.map((f) => f.label))) {
    const runs = fetchRuns.filter((f) => f.label === label);
    const perRound = runs.map((f) => `${f.fetches} in ${(f.spanMs / 1000).toFixed(1)} s (${fmtInt(f.requests)} checks)`).join('; ');
    const allowed = Math.min(...runs.map((f) => f.allowed));
    checks.push({
      what: `unknown-kid flood, ${label}: JWKS fetches during the flood`,
      measured: runs.length > 1 ? `per round: ${perRound}` : perRound,
      target: `≤ 1 per min-refresh-interval (${s.minRefreshS} s): ≤ ${allowed}${runs.some((f) => f.allowed !== allowed) ? '–' + String(Math.max(...runs.map((f) => f.allowed))) : ''}`,
      pass: runs.every((f) => f.fetches <= f.allowed),
    });
  }

  // ---- memory after many checks over many tokens
  const extraRows: Row[] = [];
  if (want('rss')) {
    const cacheText = s.rssCache === undefined ? 'default cache, 10 000' : `cache ${fmtInt(s.rssCache)}`;
    log(`rss: ${s.rssChecks} checks over ${s.distinct} distinct tokens, ${cacheText}`);
    let atReady: ReturnType<typeof memory>;
    let atEnd: ReturnType<typeof memory>;
    let heap: Record<string, number> = {};
    const c: Case = {
      key: 'rss', scenario: `churn: ${fmtInt(s.rssChecks)} checks over ${fmtInt(s.distinct)} tokens (${cacheText})`, driver: 'node', baseline: false, expect: '0',
      run: onService('rss-node', s.rssCache, async (srv) => {
        atReady = memory(srv.proc.pid);
        const r = await measureNode(srv, tokensFile, s, { tokens: s.distinct, requests: s.rssChecks });
        atEnd = memory(srv.proc.pid);
        if (srv.admin !== undefined) heap = await scrapeMetrics(srv.admin, HEAP_METRICS);
        return r;
      }),
    };
    const m = await c.run();
    results.set(c.key, [m]);
    extraRows.push(...aggregate([c], results).map((r) => ({ ...r, rpsX: NaN, p99X: NaN })));
    const end = atEnd as ReturnType<typeof memory>;
    const start = atReady as ReturnType<typeof memory>;
    log(`  ${fmtInt(m.rps)} req/s; RSS ${end?.rssMiB.toFixed(1) ?? '?'} MiB at the end (peak ${end?.hwmMiB.toFixed(1) ?? '?'} MiB, ${start?.rssMiB.toFixed(1) ?? '?'} MiB when ready)`);
    log(`  the same ${fmtInt(s.rssChecks)} checks against the empty grpc-js handler, for comparison`);
    let emptyEnd: ReturnType<typeof memory>;
    const em = await onEmpty('rss-empty', async (srv) => {
      const r = await measureNode(srv, tokensFile, s, { tokens: s.distinct, requests: s.rssChecks });
      emptyEnd = memory(srv.proc.pid);
      return r;
    })();
    const eEnd = emptyEnd as ReturnType<typeof memory>;
    log(`  empty handler: ${fmtInt(em.rps)} req/s; RSS ${eEnd?.rssMiB.toFixed(1) ?? '?'} MiB at the end (peak ${eEnd?.hwmMiB.toFixed(1) ?? '?'} MiB)`);
    const mb = (b: number | undefined): string => (b === undefined ? '?' : (b / 1e6).toFixed(1));
    const heapText = Object.keys(heap).length === 0 ? '' : `; from /metrics just after: V8 heap used ${mb(heap['nodejs_heap_size_used_bytes'])} MB of ${mb(heap['nodejs_heap_size_total_bytes'])} MB, external ${mb(heap['nodejs_external_memory_bytes'])} MB`;
    log(`  ${heapText.slice(2)}`);
    checks.push({
      what: `RSS after ${fmtInt(m.completed)} checks over ${fmtInt(s.distinct)} distinct tokens (${cacheText})`,
      measured: end === undefined ? 'unreadable' : `VmRSS ${(end.rssMiB * 1.048576).toFixed(1)} MB (peak VmHWM ${(end.hwmMiB * 1.048576).toFixed(1)} MB; ${start === undefined ? '?' : (start.rssMiB * 1.048576).toFixed(1)} MB when ready${heapText})`,
      target: '≤ 80 MB',
      pass: end === undefined ? false : end.rssMiB * 1.048576 <= 80,
    });
    checks.push({
      what: `(for comparison) RSS of the empty grpc-js handler after the same ${fmtInt(em.completed)} checks`,
      measured: eEnd === undefined ? 'unreadable' : `VmRSS ${(eEnd.rssMiB * 1.048576).toFixed(1)} MB (peak VmHWM ${(eEnd.hwmMiB * 1.048576).toFixed(1)} MB)`,
      target: '–',
      pass: undefined,
    });
  }
  await jwks.close();
  clearTimeout(hardLimit);

  const rows = [...aggregate(cases, results), ...extraRows];
  const notes = rows.flatMap((r) => (r.c.note === undefined ? [] : [`- ${r.c.scenario}: ${r.c.note(r.runs)}`]));
  const minutes = ((Date.now() - startedAt) / 60_000).toFixed(1);
  const md = [
    `# jwt-ext-authz benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${s.quick ? ' (quick run)' : ''}`,
    '',
    `\`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` — ${minutes} minutes. Targets: SPEC §10.`,
    '',
    ...machineInfo(),
    `- runs: ${header}; every run against a fresh server process; service log level info (a line per deny, at most 100 a second, into a file)`,
    `- baseline: empty grpc-js Check handler (bench/empty-server.ts) with the ${s.baseline === 'lean' ? "service's own lean server-side codec (src/grpc/codec.ts)" : "standard proto-loader codec (authorizationServiceDefinition())"}`,
    `- service: one provider on a loopback http:// JWKS (RSA-2048, RS256), issuer + audience + user-mapping pattern; \`jwks.min-refresh-interval\` ${s.minRefreshS} s`,
    ...(s.cpuProf ? ['- **the service ran under `node --cpu-prof`: its numbers are lower than normal**'] : []),
    ...(s.nodeOptions.length > 0 ? [`- **extra node flags for the servers: \`${s.nodeOptions.join(' ')}\`**`] : []),
    '',
    '## Throughput and latency',
    '',
    'req/s, p50 and p99 are medians over the rounds. "vs empty" is the median over the rounds of the scenario',
    'divided by the empty grpc-js handler measured **by the same driver in the same round**. h2load sends one',
    'body with every request, so scenarios with many tokens run only on the Node driver (bench/lib/load.ts:',
    'minimal HTTP/2 over TCP, pre-encoded frames, closed loop). "server core" / "load core": CPU use of the',
    'server process and of the load generator during the measured window (100% = one core).',
    '',
    throughputTable(rows),
    '',
    ...notes,
    '',
    '## Other targets',
    '',
    checksTable(checks),
    '',
    '- A fixed unknown kid misses on every request just as random kids do (failures are never cached), so both',
    '  floods exercise the refetch cooldown; random kids also rule out any per-kid memo. Fetches are counted',
    '  on the bench\'s JWKS server from the first to the last request of the flood (warm-up included).',
    '- RSS is VmRSS of the service process (/proc/PID/status) right after the last check, before it is stopped.',
    '- Time to ready counts from the spawn of `taskset … node dist/src/cli/main.js serve` to the `time` of the',
    '  `"msg":"ready"` log line (node start-up, config, listeners, first JWKS fetch).',
    '',
    ...(profiles.length > 0 ? ['## CPU profiles of the service', '', ...profiles] : []),
  ].join('\n');
  process.stdout.write(`\n${throughputTable(rows)}\n\n${notes.join('\n')}\n\n${checksTable(checks)}\n`);
  if (profiles.length > 0) process.stdout.write(`\n${profiles.join('\n')}\n`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(s.out, `${md}\n`);
  log(`\nresults written to ${s.out.startsWith(ROOT) ? s.out.slice(ROOT.length) : s.out}`);
  if (!s.keepLogs) rmSync(join(TMP, 'logs'), { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    log(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    killAll();
    process.exit(1);
  },
);
