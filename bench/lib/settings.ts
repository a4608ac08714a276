/**
 * What the bench runs with: the command-line options (`--help`), the scenario parameters they
 * set, where things are (results, scratch files, the programs it starts) and which core runs what.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The repository root (this file runs as dist/bench/lib/settings.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const RESULTS = join(ROOT, 'bench', 'results');
/** Scratch files: tokens, configs, logs, profiles (gitignored). */
export const TMP = join(RESULTS, 'tmp');
/** The service under test, run as users run it: the one-file bundle the launcher runs (scripts/bundle.mjs). */
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.cjs');
/** The launcher users and the Dockerfile start it with (V8 and malloc sizes for a sidecar). */
export const LAUNCHER = join(ROOT, 'bin', 'jwt-ext-authz');
export const EMPTY_SERVER = fileURLToPath(new URL('../empty-server.js', import.meta.url));
export const EMPTY_HTTP_SERVER = fileURLToPath(new URL('../empty-http-server.js', import.meta.url));
export const DRIVER = fileURLToPath(new URL('../driver.js', import.meta.url));
/** Read before the bench pins itself to one core (which would make it 1). */
export const NPROC = availableParallelism();
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

export const SCENARIOS = ['ready', 'empty', 'floor', 'warm-1', 'warm-rr', 'cold', 'bad-sig', 'unknown-kid', 'http', 'routes', 'revocations', 'policy', 'rss', 'steady'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

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
  --steady-clients N      connections of the fixed-rate phase (default 8; one request in flight each)
  --steady-rps N          requests/s per connection in the fixed-rate phase (default 500: 4 000 checks/s)
  --steady-seconds S      measured seconds of the fixed-rate phase, after 3 s warm-up (default 15; quick 5)
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

export interface Settings {
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
  /** Fixed-rate phase [steady]: h2load clients, --rps per client, measured ms, warm-up ms. */
  readonly steadyClients: number;
  readonly steadyRps: number;
  readonly steadyMs: number;
  readonly steadyWarmupMs: number;
  readonly only: ReadonlySet<ScenarioId>;
  readonly cpuProf: boolean;
  readonly nodeOptions: readonly string[];
  readonly baseline: 'standard' | 'lean';
  readonly keepLogs: boolean;
  readonly out: string;
  readonly timeoutMinutes: number;
}

/** Parses the bench's arguments; `--help` prints the usage and exits. */
export function settings(argv: readonly string[]): Settings {
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
      'steady-clients': { type: 'string' },
      'steady-rps': { type: 'string' },
      'steady-seconds': { type: 'string' },
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
    steadyClients: Math.round(num('steady-clients', values['steady-clients'], 8, 1)),
    steadyRps: num('steady-rps', values['steady-rps'], 500, 1),
    steadyMs: num('steady-seconds', values['steady-seconds'], quick ? 5 : 15, 1) * 1000,
    steadyWarmupMs: quick ? 1000 : 3000,
    only,
    cpuProf: values['cpu-prof'] === true,
    baseline: values.baseline === 'lean' ? 'lean' : values.baseline === 'standard' ? 'standard' : fail(`--baseline: standard or lean, got ${values.baseline ?? ''}`),
    nodeOptions: (values['node-options'] ?? '').split(/\s+/).filter((x) => x !== ''),
    keepLogs: values['keep-logs'] === true,
    out: values.out ?? join(RESULTS, `${date}${quick ? '-quick' : ''}.md`),
    timeoutMinutes: num('timeout-minutes', values['timeout-minutes'], 25, 1),
  };
}

/** The shape of every throughput run, as the progress log and the results file state it. */
export const runsText = (s: Settings): string =>
  `${s.repeat} round(s) of ${s.durationMs / 1000} s measured after ${s.warmupMs / 1000} s warm-up, ${s.connections} connections × ${s.streams} streams`;

/** Progress lines go to stderr; the table goes to stdout and the results file. */
export const log = (s: string): void => void process.stderr.write(`${s}\n`);

export const fail = (message: string): never => {
  throw new Error(message);
};
