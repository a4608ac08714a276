/**
 * The scenarios of SPEC §10 (`--only` ids in brackets): time to ready [ready]; the throughput
 * cases, each on a fresh server and run in rounds [empty, floor, warm-1, warm-rr, cold, bad-sig,
 * unknown-kid, http, routes, revocations, policy]; memory after many checks over many tokens [rss]; latency and peak
 * RSS at a fixed rate [steady]. Each gives table rows, checks or a section for lib/report.ts.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { JsonWebKey } from 'node:crypto';
import { join } from 'node:path';
import { measureH2load, measureNode, measureSteady, measureSteadyNode, type H1Target, type Measurement, type SteadyMeasurement } from './drivers.js';
import type { JwksServer } from './jwks-server.js';
import { memory } from './proc.js';
import { aggregate, decisionsText, fmtInt, fmtMs, fmtPct, median, type Case, type Check, type Row } from './report.js';
import { frameFor } from './requests.js';
import { SCHEMA } from '../../src/config/schema.js';
import { HEAP_METRICS, scrapeMetrics, serviceYaml, startEmpty, startEmptyHttp, startService, stopServer, viaLauncher, launcherText, LAUNCHER_FLAGS, LAUNCHER_MALLOC_ARENA_MAX, type Server, type ServiceExtras } from './servers.js';
import { SERVER_CORE, TMP, log, type ScenarioId, type Settings } from './settings.js';
import { badSignature, benchTokens, unknownKidTokens } from './tokens.js';

/** The product's cache defaults as the schema states them, e.g. "10 000 entries, 3 MiB". */
function defaultCacheText(): string {
  const value = (path: string): number => Number(SCHEMA.find((k) => k.path === path)?.default);
  return `${fmtInt(value('cache.max-entries')).replace(/,/g, ' ')} entries, ${value('cache.max-bytes') / 1048576} MiB`;
}

/** The tokens every scenario draws from, and the files the Node driver reads them from. */
export interface Inputs {
  readonly publicJwk: JsonWebKey;
  /** Every distinct valid token, one per line. */
  readonly tokensFile: string;
  readonly warmToken: string;
  /** The warm token alone. */
  readonly singleFile: string;
  /** The warm token with its signature altered. */
  readonly bad: string;
  readonly badFile: string;
  /** How many unknown-kid tokens `unknownFile` holds. */
  readonly unknownCount: number;
  readonly unknownFile: string;
}

/** What the scenarios run against. */
export interface Bench {
  readonly s: Settings;
  readonly want: (id: ScenarioId) => boolean;
  readonly jwks: JwksServer;
  readonly inputs: Inputs;
}

/** Signs (or reuses) the tokens, on every core: call before the bench pins itself. */
export async function prepareInputs(s: Settings, want: (id: ScenarioId) => boolean): Promise<Inputs> {
  const needDistinct = want('cold') || want('rss') || want('unknown-kid') || want('steady') ? s.distinct : 0;
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
  return { publicJwk: set.publicJwk, tokensFile, warmToken, singleFile, bad, badFile, unknownCount: unknown.length, unknownFile };
}

// ---------------------------------------------------------------------------------------------
// Fresh servers around one measurement

async function around(srv: Server, fn: (srv: Server) => Promise<Measurement>): Promise<Measurement> {
  let m: Measurement | undefined;
  try {
    m = await fn(srv);
    return m;
  } finally {
    await stopServer(srv, m);
  }
}

const onService = (b: Bench, name: string, cache: number | undefined, fn: (srv: Server) => Promise<Measurement>, extras: ServiceExtras = {}) => async (): Promise<Measurement> =>
  around(await startService(name, serviceYaml(b.jwks.url, b.s, cache, extras), b.s, extras), fn);

/** The HTTP mode's check of the bench request: what Envoy's http_service sends for a Trino CLI call (path mode, no prefix). */
const h1Target = (token: string): H1Target => ({
  path: '/v1/statement',
  headers: [`authorization: Bearer ${token}`, 'user-agent: Trino CLI/435', 'x-trino-source: trino-cli', 'accept: application/json'],
});

/** `a` against `b` (req/s), per round, then the median: the rounds pair runs close in time. */
function pairRatio(results: ReadonlyMap<string, Measurement[]>, a: string, b: string): { median: number; perRound: number[] } {
  const as = results.get(a) ?? [];
  const bs = results.get(b) ?? [];
  const perRound = as.map((m, i) => m.rps / (bs[i]?.rps ?? NaN));
  return { median: median(perRound), perRound };
}

const onEmpty = (b: Bench, name: string, fn: (srv: Server) => Promise<Measurement>, mode: 'none' | 'rs256' = 'none') => async (): Promise<Measurement> =>
  around(await startEmpty(name, b.s, mode), fn);

// ---------------------------------------------------------------------------------------------
// ready

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

/** Time from spawn to the "ready" log line, loopback JWKS. */
export async function timeToReady(b: Bench): Promise<Check> {
  const { s } = b;
  const yaml = serviceYaml(b.jwks.url, s, undefined);
  log('ready: time from spawn to the "ready" log line, loopback JWKS');
  const listening: number[] = [];
  const ready: number[] = [];
  // One untimed start first: it also warms the file cache, which a node that pulled the image has warm too.
  // Started as users start it: through the launcher (unless --node-options or --cpu-prof).
  const first = await startService('ready', yaml, s, { launcher: true });
  const coldMs = Number(first.ready['time']) - first.spawnedAt;
  await stopServer(first);
  for (let i = 0; i < s.readyRuns; i++) {
    const srv = await startService('ready', yaml, s, { launcher: true });
    listening.push(Number(srv.listening['time']) - srv.spawnedAt);
    ready.push(Number(srv.ready['time']) - srv.spawnedAt);
    await stopServer(srv);
  }
  const bare = bareNodeStartMs(s.readyRuns);
  log(`  ready after ${ready.join(', ')} ms (listening after ${listening.join(', ')} ms; untimed first start ${coldMs} ms; node -e 0 takes ${bare.toFixed(0)} ms)`);
  const max = Math.max(...ready);
  return {
    what: `time to ready (spawn → "ready" log line, loopback JWKS, ${s.readyRuns} start-ups)`,
    measured: `median ${median(ready)} ms, max ${max} ms (all: ${ready.join(', ')}; "listening" after median ${median(listening)} ms; bare \`node -e 0\` ${bare.toFixed(0)} ms; first start, not counted: ${coldMs} ms)`,
    target: '≤ 500 ms',
    pass: max <= 500,
  };
}

// ---------------------------------------------------------------------------------------------
// Throughput cases

interface FetchRun {
  readonly label: string;
  readonly fetches: number;
  readonly allowed: number;
  readonly spanMs: number;
  readonly requests: number;
}

export interface Throughput {
  /** In the order they run in every round; the baselines first. */
  readonly cases: readonly Case[];
  /** The JWKS-fetch checks of the unknown-kid floods, once the rounds are over. */
  fetchChecks(): Check[];
  /** Targets between two scenarios (HTTP vs gRPC mode, 100 routes vs none), once the rounds are over. */
  ratioChecks(results: ReadonlyMap<string, Measurement[]>): Check[];
}

/** The throughput cases `--only` selects: empty, floor, warm-1, warm-rr, cold, bad-sig, unknown-kid. */
export function throughputCases(b: Bench): Throughput {
  const { s, want, jwks } = b;
  const { warmToken, singleFile, tokensFile, bad, badFile, unknownCount, unknownFile } = b.inputs;
  const cases: Case[] = [];
  const warmBody = frameFor(warmToken, 0);
  const warmTarget = { minRps: 0.9, maxP99: 1.2 };
  const needBaseline = (['warm-1', 'warm-rr', 'cold', 'bad-sig', 'unknown-kid', 'empty', 'floor', 'http', 'routes', 'revocations', 'policy'] as const).some(want);
  const h2Scenarios = want('warm-1') || want('bad-sig') || want('unknown-kid') || want('empty') || want('floor') || want('http') || want('routes') || want('revocations') || want('policy');
  // The HTTP-mode, route-table, revocation and policy targets are read against gRPC warm-1 (h2load) of the same round.
  const warmH2load = want('warm-1') || want('http') || want('routes') || want('revocations') || want('policy');
  if (needBaseline && h2Scenarios) {
    cases.push({ key: 'empty-h2load', scenario: `empty grpc-js handler (${s.baseline} codec)`, driver: 'h2load', baseline: true, expect: '0', run: onEmpty(b, 'empty-h2load', (srv) => measureH2load(srv, warmBody, s)) });
  }
  if (needBaseline && (want('warm-1') || want('warm-rr') || want('cold') || want('bad-sig') || want('unknown-kid') || want('empty') || want('floor'))) {
    cases.push({ key: 'empty-node', scenario: `empty grpc-js handler (${s.baseline} codec)`, driver: 'node', baseline: true, expect: '0', run: onEmpty(b, 'empty-node', (srv) => measureNode(srv, singleFile, s)) });
  }
  if (want('floor')) {
    // Not the service: the empty handler plus one RS256 verify per call. What any grpc-js service
    // that checks one RSA-2048 signature per request can reach here; the cold and bad-signature
    // targets are read against it.
    const scenario = 'floor: empty handler + one RS256 verify per call';
    cases.push({ key: 'floor-h2load', scenario, driver: 'h2load', baseline: false, expect: '0', run: onEmpty(b, 'floor-h2load', (srv) => measureH2load(srv, warmBody, s), 'rs256') });
    cases.push({ key: 'floor-node', scenario, driver: 'node', baseline: false, expect: '0', run: onEmpty(b, 'floor-node', (srv) => measureNode(srv, singleFile, s), 'rs256') });
  }
  if (warmH2load) {
    cases.push({ key: 'warm-1-h2load', scenario: 'warm, 1 token (cache on)', driver: 'h2load', baseline: false, expect: '0', target: warmTarget, run: onService(b, 'warm-1-h2load', undefined, (srv) => measureH2load(srv, warmBody, s)) });
  }
  if (want('routes')) {
    cases.push({
      key: 'routes-100-h2load', scenario: 'warm, 1 token, 100-route table (last route matches)', driver: 'h2load', baseline: false, expect: '0', target: warmTarget,
      run: onService(b, 'routes-100-h2load', undefined, (srv) => measureH2load(srv, warmBody, s), { routes: 100 }),
    });
  }
  if (want('revocations')) {
    cases.push({
      key: 'revocations-100-h2load', scenario: 'warm, 1 token, 100 revocation rules (none matches)', driver: 'h2load', baseline: false, expect: '0', target: warmTarget,
      run: onService(b, 'revocations-100-h2load', undefined, (srv) => measureH2load(srv, warmBody, s), { revocations: 100 }),
    });
  }
  if (want('policy')) {
    cases.push({
      key: 'policy-h2load', scenario: 'warm, 1 token, policy on its route (scope and claim requirement) and 100 revocation rules (§14)', driver: 'h2load', baseline: false, expect: '0', target: warmTarget,
      run: onService(b, 'policy-h2load', undefined, (srv) => measureH2load(srv, warmBody, s), { policy: true, revocations: 100 }),
    });
  }
  if (want('http')) {
    const target = h1Target(warmToken);
    const none = Buffer.alloc(0);
    cases.push({
      key: 'empty-http-h1', scenario: 'bare node:http responder (HTTP/1.1 keep-alive)', driver: 'h2load-h1', baseline: true, expect: '0',
      run: async () => around(await startEmptyHttp('empty-http-h1', s), (srv) => measureH2load(srv, none, s, { port: srv.httpPort ?? srv.port, target })),
    });
    cases.push({
      key: 'http-warm-h1', scenario: 'HTTP mode, warm, 1 token (HTTP/1.1 keep-alive)', driver: 'h2load-h1', baseline: false, expect: '0',
      run: onService(b, 'http-warm-h1', undefined, (srv) => measureH2load(srv, none, s, { port: srv.httpPort ?? 0, target }), { http: true }),
    });
  }
  if (want('warm-1')) {
    cases.push({ key: 'warm-1-node', scenario: 'warm, 1 token (cache on)', driver: 'node', baseline: false, expect: '0', target: warmTarget, run: onService(b, 'warm-1-node', undefined, (srv) => measureNode(srv, singleFile, s)) });
  }
  if (want('warm-rr')) {
    cases.push({
      key: 'warm-rr-node', scenario: `warm, ${fmtInt(s.roundRobin)} tokens round robin (cache on)`, driver: 'node', baseline: false, expect: '0', target: warmTarget,
      run: onService(b, 'warm-rr-node', undefined, (srv) => measureNode(srv, tokensFile, s, { tokens: s.roundRobin })),
    });
  }
  if (want('cold')) {
    cases.push({
      key: 'cold-node', scenario: `cold, ${fmtInt(s.distinct)} distinct RS256 tokens (cache off)`, driver: 'node', baseline: false, expect: '0', target: { minRps: 0.55 },
      run: onService(b, 'cold-node', 0, (srv) => measureNode(srv, tokensFile, s, { tokens: s.distinct })),
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
    cases.push({ key: 'bad-sig-h2load', scenario: 'bad-signature flood, 1 token', driver: 'h2load', baseline: false, expect: '16', target: t, run: onService(b, 'bad-sig-h2load', undefined, (srv) => measureH2load(srv, badBody, s)) });
    cases.push({ key: 'bad-sig-node', scenario: 'bad-signature flood, 1 token', driver: 'node', baseline: false, expect: '16', target: t, run: onService(b, 'bad-sig-node', undefined, (srv) => measureNode(srv, badFile, s)) });
  }
  const fetchRuns: FetchRun[] = [];
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
      run: onService(b, 'unknown-kid-h2load', undefined, (srv) => measureH2load(srv, fixedBody, s)), after: count('one fixed unknown kid (h2load)'),
    });
    cases.push({
      key: 'unknown-kid-node', scenario: `unknown-kid flood, ${fmtInt(unknownCount)} random kids`, driver: 'node', baseline: false, expect: '16',
      run: onService(b, 'unknown-kid-node', undefined, (srv) => measureNode(srv, unknownFile, s)), after: count(`${fmtInt(unknownCount)} random kids (node)`),
    });
  }
  const fetchChecks = (): Check[] =>
    [...new Set(fetchRuns.map((f) => f.label))].map((label) => {
      const runs = fetchRuns.filter((f) => f.label === label);
      const perRound = runs.map((f) => `${f.fetches} in ${(f.spanMs / 1000).toFixed(1)} s (${fmtInt(f.requests)} checks)`).join('; ');
      const allowed = Math.min(...runs.map((f) => f.allowed));
      return {
        what: `unknown-kid flood, ${label}: JWKS fetches during the flood`,
        measured: runs.length > 1 ? `per round: ${perRound}` : perRound,
        target: `≤ 1 per min-refresh-interval (${s.minRefreshS} s): ≤ ${allowed}${runs.some((f) => f.allowed !== allowed) ? '–' + String(Math.max(...runs.map((f) => f.allowed))) : ''}`,
        pass: runs.every((f) => f.fetches <= f.allowed),
      };
    });
  const ratioChecks = (results: ReadonlyMap<string, Measurement[]>): Check[] => {
    const out: Check[] = [];
    const rounds = (r: number[]): string => r.map((x) => `${x.toFixed(2)}×`).join(' / ');
    if (want('http')) {
      const mode = pairRatio(results, 'http-warm-h1', 'warm-1-h2load');
      const bare = pairRatio(results, 'empty-http-h1', 'empty-h2load');
      out.push({
        what: 'HTTP mode warm (h2load --h1, keep-alive) vs gRPC mode warm (h2load), req/s',
        measured: `${mode.median.toFixed(2)}× (per round ${rounds(mode.perRound)}); for reference the bare node:http responder does ${bare.median.toFixed(2)}× the empty grpc-js handler`,
        target: '≥ 2×',
        pass: mode.median >= 2,
      });
    }
    if (want('routes')) {
      const r = pairRatio(results, 'routes-100-h2load', 'warm-1-h2load');
      out.push({
        what: 'warm with a 100-route table vs warm without routes (h2load), req/s',
        measured: `${r.median.toFixed(2)}× (per round ${rounds(r.perRound)})`,
        target: '≥ 0.95× (costs ≤ 5 %)',
        pass: r.median >= 0.95,
      });
    }
    if (want('revocations')) {
      const r = pairRatio(results, 'revocations-100-h2load', 'warm-1-h2load');
      out.push({
        what: 'warm with 100 revocation rules vs warm without (h2load), req/s',
        measured: `${r.median.toFixed(2)}× (per round ${rounds(r.perRound)})`,
        target: '≥ 0.95× (costs ≤ 5 %)',
        pass: r.median >= 0.95,
      });
    }
    if (want('policy')) {
      const r = pairRatio(results, 'policy-h2load', 'warm-1-h2load');
      out.push({
        what: 'warm with the policy of §14 on its route vs warm without (h2load), req/s',
        measured: `${r.median.toFixed(2)}× (per round ${rounds(r.perRound)})`,
        target: '≥ 0.95× (issue 13: within 5 %)',
        pass: r.median >= 0.95,
      });
    }
    return out;
  };
  return { cases, fetchChecks, ratioChecks };
}

/** `s.repeat` rounds of every case, in order; the measurements of each case by its key. */
export async function runRounds(cases: readonly Case[], s: Settings): Promise<Map<string, Measurement[]>> {
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
  return results;
}

// ---------------------------------------------------------------------------------------------
// rss

/** RSS after many checks over many tokens, and the empty handler's after the same checks. */
export async function memoryAfterChurn(b: Bench): Promise<{ rows: Row[]; checks: Check[] }> {
  const { s } = b;
  const { tokensFile } = b.inputs;
  const rows: Row[] = [];
  const checks: Check[] = [];
  const cacheText = s.rssCache === undefined ? `default cache: ${defaultCacheText()}` : `cache ${fmtInt(s.rssCache)} entries`;
  const how = viaLauncher(s, { launcher: true }) ? 'started through bin/jwt-ext-authz' : 'node with --node-options/--cpu-prof, not the launcher';
  log(`rss: ${s.rssChecks} checks over ${s.distinct} distinct tokens, ${cacheText}; service ${how}`);
  let atReady: ReturnType<typeof memory>;
  let atEnd: ReturnType<typeof memory>;
  let heap: Record<string, number> = {};
  const c: Case = {
    key: 'rss', scenario: `churn: ${fmtInt(s.rssChecks)} checks over ${fmtInt(s.distinct)} tokens (${cacheText})`, driver: 'node', baseline: false, expect: '0',
    run: onService(b, 'rss-node', s.rssCache, async (srv) => {
      atReady = memory(srv.proc.pid);
      const r = await measureNode(srv, tokensFile, s, { tokens: s.distinct, requests: s.rssChecks });
      atEnd = memory(srv.proc.pid);
      if (srv.admin !== undefined) heap = await scrapeMetrics(srv.admin, HEAP_METRICS);
      return r;
    }, { launcher: true }),
  };
  const m = await c.run();
  rows.push(...aggregate([c], new Map([[c.key, [m]]])).map((r) => ({ ...r, rpsX: NaN, p99X: NaN })));
  const end = atEnd as ReturnType<typeof memory>;
  const start = atReady as ReturnType<typeof memory>;
  log(`  ${fmtInt(m.rps)} req/s; RSS ${end?.rssMiB.toFixed(1) ?? '?'} MiB at the end (peak ${end?.hwmMiB.toFixed(1) ?? '?'} MiB, ${start?.rssMiB.toFixed(1) ?? '?'} MiB when ready)`);
  log(`  the same ${fmtInt(s.rssChecks)} checks against the empty grpc-js handler, for comparison`);
  let emptyEnd: ReturnType<typeof memory>;
  const em = await onEmpty(b, 'rss-empty', async (srv) => {
    const r = await measureNode(srv, tokensFile, s, { tokens: s.distinct, requests: s.rssChecks });
    emptyEnd = memory(srv.proc.pid);
    return r;
  })();
  const eEnd = emptyEnd as ReturnType<typeof memory>;
  log(`  empty handler: ${fmtInt(em.rps)} req/s; RSS ${eEnd?.rssMiB.toFixed(1) ?? '?'} MiB at the end (peak ${eEnd?.hwmMiB.toFixed(1) ?? '?'} MiB)`);
  const mb = (v: number | undefined): string => (v === undefined ? '?' : (v / 1e6).toFixed(1));
  const heapText = Object.keys(heap).length === 0 ? '' : `; from /metrics just after: V8 heap used ${mb(heap['nodejs_heap_size_used_bytes'])} MB of ${mb(heap['nodejs_heap_size_total_bytes'])} MB, external ${mb(heap['nodejs_external_memory_bytes'])} MB`;
  log(`  ${heapText.slice(2)}`);
  checks.push({
    what: `RSS after ${fmtInt(m.completed)} checks over ${fmtInt(s.distinct)} distinct tokens (${cacheText}; service ${how})`,
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
  return { rows, checks };
}

// ---------------------------------------------------------------------------------------------
// steady

/**
 * A fixed rate instead of saturation: h2load --rps against the empty grpc-js handler, the
 * service warm (one RS256 token, cached) started as users start it (bin/jwt-ext-authz), the same
 * with node's defaults for comparison, the bare node:http responder and the HTTP mode warm (h2load
 * --h1), and the service cold (every request a new token, default cache) through the Node
 * driver at the same rate, since h2load sends one body. Latency percentiles at that rate and the
 * server's peak RSS.
 */
export async function steadyPhase(b: Bench): Promise<{ section: string; checks: Check[] }> {
  const { s } = b;
  const { warmToken, tokensFile } = b.inputs;
  const rate = s.steadyClients * s.steadyRps;
  const coldSent = Math.ceil((rate * (s.steadyWarmupMs + s.steadyMs)) / 1000);
  const coldText = s.distinct >= coldSent ? 'every request a new token' : `${fmtInt(s.distinct)} tokens round robin`;
  const launcher = viaLauncher(s, { launcher: true });
  log(`steady: ${fmtInt(rate)} checks/s (h2load -c ${s.steadyClients} -m 1 --rps ${s.steadyRps}), ${s.steadyWarmupMs / 1000} s warm-up + ${s.steadyMs / 1000} s measured`);
  const warmBody = frameFor(warmToken, 0);
  const target = h1Target(warmToken);
  const none = Buffer.alloc(0);
  const yaml = (extras: ServiceExtras): string => serviceYaml(b.jwks.url, s, undefined, extras);
  interface Target { readonly key: string; readonly label: string; readonly driver: string; readonly start: () => Promise<Server>; readonly run: (srv: Server) => Promise<SteadyMeasurement> }
  const grpc = (srv: Server): Promise<SteadyMeasurement> => measureSteady(srv, warmBody, s);
  const http = (srv: Server): Promise<SteadyMeasurement> => measureSteady(srv, none, s, { port: srv.httpPort ?? 0, target });
  const how = launcher ? 'bin/jwt-ext-authz' : `node ${s.nodeOptions.join(' ')}${s.cpuProf ? ' --cpu-prof' : ''} (not the launcher)`;
  const targets: Target[] = [
    { key: 'empty', label: `empty grpc-js handler (${s.baseline} codec), node defaults`, driver: 'h2load', start: () => startEmpty('steady-empty', s), run: grpc },
    ...(launcher ? [{ key: 'empty-flags', label: `empty grpc-js handler, the launcher's V8 flags and MALLOC_ARENA_MAX=${LAUNCHER_MALLOC_ARENA_MAX} (for comparison)`, driver: 'h2load', start: () => startEmpty('steady-empty-flags', { ...s, nodeOptions: [...LAUNCHER_FLAGS] }, 'none', { MALLOC_ARENA_MAX: LAUNCHER_MALLOC_ARENA_MAX }), run: grpc }] : []),
    { key: 'warm', label: `service, warm, 1 token (${how})`, driver: 'h2load', start: () => startService('steady-warm', yaml({ launcher: true }), s, { launcher: true }), run: grpc },
    { key: 'cold', label: `service, cold, ${coldText}, default cache (${how})`, driver: 'node', start: () => startService('steady-cold', yaml({ launcher: true }), s, { launcher: true }), run: (srv) => measureSteadyNode(srv, tokensFile, s.distinct, s) },
    ...(launcher ? [{ key: 'warm-defaults', label: 'service, warm, 1 token (node defaults, for comparison)', driver: 'h2load', start: () => startService('steady-warm-defaults', yaml({}), s), run: grpc }] : []),
    { key: 'empty-http', label: 'bare node:http responder, node defaults', driver: 'h2load --h1', start: () => startEmptyHttp('steady-empty-http', s), run: http },
    { key: 'http-warm', label: `HTTP mode, warm, 1 token (${how})`, driver: 'h2load --h1', start: () => startService('steady-http-warm', yaml({ http: true, launcher: true }), s, { http: true, launcher: true }), run: http },
  ];
  const results = new Map<string, SteadyMeasurement>();
  for (const t of targets) {
    const srv = await t.start();
    let m: SteadyMeasurement;
    try {
      m = await t.run(srv);
    } finally {
      await stopServer(srv);
    }
    results.set(t.key, m);
    log(`  ${t.label}: ${fmtInt(m.rps)} req/s, p50 ${fmtMs(m.p50Us)} ms, p99 ${fmtMs(m.p99Us)} ms, p99.9 ${fmtMs(m.p999Us)} ms, server core ${fmtPct(m.serverCpu)}; peak RSS ${mbOf(peakMiB(m))} MB; ${decisionsText(m.decisions)}`);
  }
  const empty = results.get('empty');
  const warm = results.get('warm');
  const emptyHttp = results.get('empty-http');
  const x = (a: number | undefined, base: number | undefined): string => (a === undefined || base === undefined || !Number.isFinite(a / base) ? '–' : `${(a / base).toFixed(2)}×`);
  const lines = [
    `## Fixed rate: ${fmtInt(rate)} checks/s`,
    '',
    `h2load \`-t 1 -c ${s.steadyClients} -m 1 --rps ${s.steadyRps}\` (HTTP/2 gRPC, or \`--h1\` keep-alive GETs for the HTTP rows), ${s.steadyWarmupMs / 1000} s warm-up then`,
    `${s.steadyMs / 1000} s measured, one fresh server per row (pinned to core ${SERVER_CORE}), one run each. Latency from h2load's`,
    '--log-file over the measured window. "peak RSS" is the larger of VmHWM up to the start of the window',
    '(start-up, probe, warm-up) and VmHWM over the window (reset through /proc/PID/clear_refs when it starts);',
    '"max sampled" is the largest VmRSS read every 100 ms during the window. MB = 10⁶ bytes.',
    `The service rows${launcher ? ' marked bin/jwt-ext-authz' : ''} run as the README and the Dockerfile start it${launcher ? ` (${launcherText()})` : ': **not here, --node-options or --cpu-prof were given**'};`,
    'the empty handlers run with node\'s defaults. The cold row runs the Node driver (bench/lib/load.ts) at the same rate and',
    `connections, one request in flight each, over ${fmtInt(s.distinct)} distinct RS256 tokens (${coldText}); its latency is`,
    'measured from when the request is written, as h2load does.',
    '',
    '| target | driver | req/s | p50 ms | p99 ms | p99.9 ms | max ms | p99 vs its baseline | server core | peak RSS MB | max sampled RSS MB | RSS at end MB | answers |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...targets.map((t) => {
      const m = results.get(t.key);
      if (m === undefined) return `| ${t.label} | ${t.driver} | – |`;
      const base = t.driver === 'h2load --h1' ? emptyHttp : empty;
      const isBase = t.key === 'empty' || t.key === 'empty-http';
      return `| ${t.label} | ${t.driver} | ${fmtInt(m.rps)} | ${fmtMs(m.p50Us)} | ${fmtMs(m.p99Us)} | ${fmtMs(m.p999Us)} | ${fmtMs(m.maxUs)} | ${isBase ? 'baseline' : x(m.p99Us, base?.p99Us)} | ${fmtPct(m.serverCpu)} | ${mbOf(peakMiB(m))} | ${mbOf(m.rssMaxMiB)} | ${mbOf(m.rssEndMiB)} | ${decisionsText(m.decisions)}${m.failed > 0 ? `; ${fmtInt(m.failed)} failed` : ''} |`;
    }),
    '',
  ];
  const checks: Check[] = [];
  const ratio = warm !== undefined && empty !== undefined ? warm.p99Us / empty.p99Us : NaN;
  checks.push({
    what: `p99 at a steady ${fmtInt(rate)} checks/s: service warm (1 token, ${how}) vs the empty grpc-js handler (h2load)`,
    measured: `${Number.isFinite(ratio) ? ratio.toFixed(2) : '–'}× (${fmtMs(warm?.p99Us ?? NaN)} ms vs ${fmtMs(empty?.p99Us ?? NaN)} ms)`,
    target: '≤ 1.2×',
    pass: Number.isFinite(ratio) ? ratio <= 1.2 : false,
  });
  const emptyFlags = results.get('empty-flags');
  if (warm !== undefined && emptyFlags !== undefined) {
    checks.push({
      what: `(for comparison) the same p99 against the empty handler run with the launcher's V8 flags and MALLOC_ARENA_MAX=${LAUNCHER_MALLOC_ARENA_MAX}`,
      measured: `${(warm.p99Us / emptyFlags.p99Us).toFixed(2)}× (${fmtMs(warm.p99Us)} ms vs ${fmtMs(emptyFlags.p99Us)} ms)`,
      target: '–',
      pass: undefined,
    });
  }
  for (const [key, what] of [['warm', 'gRPC mode, warm'], ['http-warm', 'HTTP mode, warm'], ['cold', `gRPC mode, cold, ${coldText}, default cache`]] as const) {
    const m = results.get(key);
    const peak = m === undefined ? undefined : peakMiB(m);
    checks.push({
      what: `peak RSS at a steady ${fmtInt(rate)} checks/s (${what}, ${how})`,
      measured: peak === undefined ? 'unreadable' : `${mbOf(peak)} MB = ${peak.toFixed(1)} MiB (VmHWM; start-up and warm-up ${mbOf(m?.hwmBeforeMiB)} MB, measured window ${mbOf(m?.hwmWindowMiB)} MB)`,
      target: '≤ 80 MB',
      pass: peak === undefined ? false : peak * 1.048576 <= 80,
    });
  }
  return { section: lines.join('\n'), checks };
}

const peakMiB = (m: SteadyMeasurement): number | undefined => {
  const xs = [m.hwmBeforeMiB, m.hwmWindowMiB ?? m.rssMaxMiB].filter((v): v is number => v !== undefined && Number.isFinite(v));
  return xs.length === 0 ? undefined : Math.max(...xs);
};

const mbOf = (mib: number | undefined): string => (mib === undefined || !Number.isFinite(mib) ? '–' : (mib * 1.048576).toFixed(1));
