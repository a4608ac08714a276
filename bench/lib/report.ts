/**
 * The results: medians and ratios over the rounds, the two Markdown tables, the results file
 * (bench/results/<date>.md) and the summary printed at the end of a run.
 */
import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import type { Driver, Measurement } from './drivers.js';
import { LOAD_CORE, NPROC, ROOT, SERVER_CORE, type Settings } from './settings.js';

/** One throughput scenario on one driver; measured once per round. */
export interface Case {
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

/** A row of "Other targets". */
export interface Check {
  readonly what: string;
  readonly measured: string;
  readonly target: string;
  readonly pass: boolean | undefined;
}

export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
export const fmtMs = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '–');
export const fmtPct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${Math.round(x * 100)}%`);
const fmtX = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? NaN) + (v[mid] ?? NaN)) / 2;
}

const CODE_NAMES: Readonly<Record<string, string>> = { '-2': 'no message', '0': 'OK', '7': 'PERMISSION_DENIED', '14': 'UNAVAILABLE', '16': 'UNAUTHENTICATED' };

export function decisionsText(d: Readonly<Record<string, number>>): string {
  return Object.entries(d).map(([code, n]) => `${CODE_NAMES[code] ?? `code ${code}`}×${fmtInt(n)}`).join(', ');
}

/** A line of the throughput table. */
export interface Row {
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
export function aggregate(cases: readonly Case[], results: ReadonlyMap<string, Measurement[]>): Row[] {
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

export function throughputTable(rows: readonly Row[]): string {
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

export function checksTable(checks: readonly Check[]): string {
  return [
    '| check | measured | target | result |',
    '|---|---|---|---|',
    ...checks.map((c) => `| ${c.what} | ${c.measured} | ${c.target} | ${c.pass === undefined ? '–' : c.pass ? 'PASS' : 'FAIL'} |`),
  ].join('\n');
}

/** The notes under the throughput table: one per row whose case has a note. */
export function notesOf(rows: readonly Row[]): string[] {
  return rows.flatMap((r) => (r.c.note === undefined ? [] : [`- ${r.c.scenario}: ${r.c.note(r.runs)}`]));
}

/** The machine lines of the results file (CPU, memory, node and h2load versions, commit). */
export function machineInfo(): string[] {
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

/** Everything the results file says; no clock or machine is read here. */
export interface Report {
  readonly s: Settings;
  /** The bench's own arguments (after `npm run bench --`). */
  readonly args: readonly string[];
  /** When the results were written. */
  readonly at: Date;
  /** Duration of the whole run, already formatted. */
  readonly minutes: string;
  /** From machineInfo(). */
  readonly machine: readonly string[];
  /** From runsText(). */
  readonly runs: string;
  readonly rows: readonly Row[];
  readonly checks: readonly Check[];
  /** Further sections (Markdown, each with its own heading), after "Other targets": the fixed-rate phase. */
  readonly sections: readonly string[];
  /** --cpu-prof summaries, Markdown. */
  readonly profiles: readonly string[];
}

/** The results file, without its final newline. */
export function resultsMarkdown(r: Report): string {
  const { s } = r;
  return [
    `# jwt-ext-authz benchmark, ${r.at.toISOString().slice(0, 16).replace('T', ' ')} UTC${s.quick ? ' (quick run)' : ''}`,
    '',
    `\`npm run bench${r.args.length > 0 ? ` -- ${r.args.join(' ')}` : ''}\` — ${r.minutes} minutes. Targets: SPEC §10.`,
    '',
    ...r.machine,
    `- runs: ${r.runs}; every run against a fresh server process; service log level info (a line per deny, at most 100 a second, into a file)`,
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
    throughputTable(r.rows),
    '',
    ...notesOf(r.rows),
    '',
    '## Other targets',
    '',
    checksTable(r.checks),
    '',
    '- A fixed unknown kid misses on every request just as random kids do (failures are never cached), so both',
    '  floods exercise the refetch cooldown; random kids also rule out any per-kid memo. Fetches are counted',
    '  on the bench\'s JWKS server from the first to the last request of the flood (warm-up included).',
    '- RSS is VmRSS of the service process (/proc/PID/status) right after the last check, before it is stopped.',
    '- Time to ready counts from the spawn of `taskset … bin/jwt-ext-authz serve` (or of node with the bundle, under',
    '  `--node-options` / `--cpu-prof`) to the `time` of the',
    '  `"msg":"ready"` log line (node start-up, config, listeners, first JWKS fetch).',
    '',
    ...r.sections.flatMap((x) => [x, '']),
    ...(r.profiles.length > 0 ? ['## CPU profiles of the service', '', ...r.profiles] : []),
  ].join('\n');
}

/** What the bench prints on stdout when it is done: both tables, the notes, the profiles. */
export function summaryText(r: Pick<Report, 'rows' | 'checks' | 'sections' | 'profiles'>): string {
  const tables = `\n${throughputTable(r.rows)}\n\n${notesOf(r.rows).join('\n')}\n\n${checksTable(r.checks)}\n${r.sections.map((x) => `\n${x}`).join('')}`;
  return r.profiles.length > 0 ? `${tables}\n${r.profiles.join('\n')}\n` : tables;
}
