/**
 * One measured run of a driver against a server, pinned to the load core: h2load (lib/h2load.ts,
 * one body for every request), h2load --h1 against an HTTP/1.1 listener (the HTTP mode), or the
 * Node HTTP/2 driver (bench/driver.ts around lib/load.ts, many tokens), with the CPU use of both
 * processes over the measured window.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { DriverJob } from '../driver.js';
import { runH2load } from './h2load.js';
import { runLoad, type LoadResult } from './load.js';
import { cpuWindow, memory, spawnPinned } from './proc.js';
import type { Server } from './servers.js';
import { DRIVER, LOAD_CORE, TMP, log, type Settings } from './settings.js';

export type Driver = 'h2load' | 'h2load-h1' | 'node';

export interface Measurement {
  readonly driver: Driver;
  readonly rps: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** The Node driver only. */
  readonly p999Us?: number;
  readonly maxUs?: number;
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

const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** One request through the same HTTP/2 path, to learn the decision h2load cannot see. */
async function probe(server: Server, body: Buffer): Promise<Readonly<Record<string, number>>> {
  const r = await runLoad({ port: server.port, bodies: [body], connections: 1, streams: 1, warmupMs: 0, durationMs: 0, requests: 3, timeoutMs: 10_000, drainMs: 1000 });
  if (r.failed > 0 || r.completed !== 3) throw new Error(`probe of ${server.name} failed: ${r.errors.join('; ')}`);
  return r.decisions;
}

/** The HTTP mode's answer as the CheckResponse status.code it stands for, so the report reads both alike. */
const CODE_OF_STATUS: Readonly<Record<number, string>> = { 200: '0', 401: '16', 403: '7', 503: '14' };

/** Three requests through the same HTTP/1.1 path, to learn the decision h2load --h1 does not report. */
async function probeH1(port: number, target: H1Target): Promise<Readonly<Record<string, number>>> {
  const decisions: Record<string, number> = {};
  for (let i = 0; i < 3; i++) {
    const status = await new Promise<number>((resolve, reject) => {
      const headers = Object.fromEntries(target.headers.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()]));
      const req = request({ host: '127.0.0.1', port, path: target.path, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    const code = CODE_OF_STATUS[status] ?? `http ${status}`;
    decisions[code] = (decisions[code] ?? 0) + 1;
  }
  return decisions;
}

/** What h2load --h1 asks for: a GET of `path` with `headers` ("name: value"). */
export interface H1Target {
  readonly path: string;
  readonly headers: readonly string[];
}

/** h2load sending `body` (one pre-encoded Check frame) with every request, or with `h1` HTTP/1.1 GETs to `port`. */
export async function measureH2load(server: Server, body: Buffer, s: Settings, h1?: { readonly port: number; readonly target: H1Target }): Promise<Measurement> {
  const decisions = h1 === undefined ? await probe(server, body) : await probeH1(h1.port, h1.target);
  const bodyFile = join(TMP, `body-${server.name}.bin`);
  writeFileSync(bodyFile, body);
  let window: ReturnType<typeof cpuWindow> | undefined;
  let cpu: (number | undefined)[] = [];
  const mono: number[] = [];
  const startedAt = Date.now();
  rmSync(join(TMP, 'h2load.log'), { force: true });
  const r = await runH2load({
    core: LOAD_CORE,
    port: h1?.port ?? server.port,
    ...(h1 === undefined ? { bodyFile } : { h1: h1.target }),
    // HTTP/1.1 has one request in flight per connection: as many connections as HTTP/2 streams.
    connections: h1 === undefined ? s.connections : s.connections * s.streams,
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
    driver: h1 === undefined ? 'h2load' : 'h2load-h1',
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

/** What a Node driver run changes: only the first `tokens` tokens, exactly `requests` requests, a fixed rate. */
interface NodeExtra {
  readonly tokens?: number;
  readonly requests?: number;
  /** Fixed rate: `rps` per connection over `connections` connections of `streams` streams, warm-up and duration in ms. */
  readonly steady?: { readonly rps: number; readonly connections: number; readonly streams: number; readonly warmupMs: number; readonly durationMs: number };
  /** Called when the measured window starts and ends. */
  readonly onPhase?: (phase: 'measure' | 'end', driverPid: number) => void;
}

/**
 * The Node driver as its own process (bench/driver.ts), over the tokens of `tokensFile` (one per
 * line; `extra.tokens`: only the first N), for warm-up + duration or exactly `extra.requests`.
 */
export async function measureNode(server: Server, tokensFile: string, s: Settings, extra: NodeExtra = {}): Promise<Measurement> {
  const { steady } = extra;
  const job: DriverJob = {
    port: server.port,
    tokensFile,
    connections: steady?.connections ?? s.connections,
    streams: steady?.streams ?? s.streams,
    warmupMs: steady?.warmupMs ?? s.warmupMs,
    durationMs: steady?.durationMs ?? s.durationMs,
    ...(extra.tokens === undefined ? {} : { tokens: extra.tokens }),
    ...(extra.requests === undefined ? {} : { requests: extra.requests }),
    ...(steady === undefined ? {} : { rps: steady.rps }),
  };
  const jobFile = join(TMP, 'driver-job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  const p = spawnPinned(LOAD_CORE, process.execPath, ['--max-old-space-size=2048', DRIVER, jobFile]);
  const limitMs = extra.requests === undefined ? job.warmupMs + job.durationMs + 120_000 : Math.max(300_000, extra.requests * 2);
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
        extra.onPhase?.('measure', p.pid);
        (window = cpuWindow([server.proc.pid, p.pid])).begin();
        mono[0] = monoUs();
      }
      if (e.event === 'end') {
        endedAt = e.at ?? Date.now();
        if (window !== undefined) cpu = window.end();
        mono[1] = monoUs();
        extra.onPhase?.('end', p.pid);
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
    p999Us: result.latencyUs.p999,
    maxUs: result.latencyUs.max,
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

/** One fixed-rate run (h2load --rps) and the server's memory during it. */
export interface SteadyMeasurement {
  /** Requests per second asked for, over all connections. */
  readonly targetRps: number;
  readonly rps: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly measured: number;
  readonly failed: number;
  readonly serverCpu: number | undefined;
  readonly decisions: Readonly<Record<string, number>>;
  /** VmHWM (MiB) from spawn to the start of the measured window (start-up, probe, warm-up). */
  readonly hwmBeforeMiB: number | undefined;
  /** VmHWM (MiB) over the measured window alone (reset through /proc/PID/clear_refs at its start), when the kernel allowed the reset. */
  readonly hwmWindowMiB: number | undefined;
  /** Largest VmRSS (MiB) sampled every 100 ms during the measured window. */
  readonly rssMaxMiB: number | undefined;
  /** VmRSS (MiB) at the end of the window. */
  readonly rssEndMiB: number | undefined;
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, own processes); false when refused. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The server's memory over a measured window: VmHWM before it, VmHWM over it (reset at its start), VmRSS sampled every 100 ms. */
function memoryWatch(pid: number) {
  let hwmBeforeMiB: number | undefined;
  let reset = false;
  let rssMaxMiB: number | undefined;
  let end: ReturnType<typeof memory>;
  let sampler: NodeJS.Timeout | undefined;
  const sample = (): void => {
    const m = memory(pid);
    if (m !== undefined && Number.isFinite(m.rssMiB)) rssMaxMiB = Math.max(rssMaxMiB ?? 0, m.rssMiB);
  };
  return {
    begin(): void {
      hwmBeforeMiB = memory(pid)?.hwmMiB;
      reset = resetPeakRss(pid);
      sample();
      sampler = setInterval(sample, 100);
    },
    end(): void {
      this.stop();
      sample();
      end = memory(pid);
    },
    /** Stops sampling only (also when a run failed before its end). */
    stop(): void {
      if (sampler !== undefined) clearInterval(sampler);
      sampler = undefined;
    },
    result(): Pick<SteadyMeasurement, 'hwmBeforeMiB' | 'hwmWindowMiB' | 'rssMaxMiB' | 'rssEndMiB'> {
      this.stop();
      const last = end as ReturnType<typeof memory>;
      return { hwmBeforeMiB, hwmWindowMiB: reset ? last?.hwmMiB : undefined, rssMaxMiB, rssEndMiB: last?.rssMiB };
    },
  };
}

/**
 * h2load at a fixed rate: `s.steadyClients` connections, one request in flight each, `--rps
 * s.steadyRps` per connection, `s.steadyWarmupMs` warm-up then `s.steadyMs` measured; HTTP/2
 * gRPC with `body`, or HTTP/1.1 GETs with `h1`.
 */
export async function measureSteady(server: Server, body: Buffer, s: Settings, h1?: { readonly port: number; readonly target: H1Target }): Promise<SteadyMeasurement> {
  const decisions = h1 === undefined ? await probe(server, body) : await probeH1(h1.port, h1.target);
  const bodyFile = join(TMP, `body-${server.name}.bin`);
  writeFileSync(bodyFile, body);
  const pid = server.proc.pid;
  let window: ReturnType<typeof cpuWindow> | undefined;
  let cpu: (number | undefined)[] = [];
  const watch = memoryWatch(pid);
  const logFile = join(TMP, 'h2load-steady.log');
  rmSync(logFile, { force: true });
  // A failed run must not leave the 100 ms sampler keeping the bench alive.
  let r: Awaited<ReturnType<typeof runH2load>>;
  try {
    r = await runH2load({
      core: LOAD_CORE,
      port: h1?.port ?? server.port,
      ...(h1 === undefined ? { bodyFile } : { h1: h1.target }),
      connections: s.steadyClients,
      streams: 1,
      rps: s.steadyRps,
      warmupMs: s.steadyWarmupMs,
      durationMs: s.steadyMs,
      logFile,
      onPhase: (phase, loadPid) => {
        if (phase === 'measure') {
          watch.begin();
          (window = cpuWindow([pid, loadPid])).begin();
        }
        if (phase === 'end') {
          watch.end();
          if (window !== undefined) cpu = window.end();
        }
      },
    });
  } finally {
    watch.stop();
  }
  rmSync(logFile, { force: true });
  if (r.non2xx > 0) throw new Error(`h2load against ${server.name}: ${r.non2xx} non-2xx answers\n${r.summary}`);
  return {
    targetRps: s.steadyClients * s.steadyRps,
    rps: r.rps,
    p50Us: r.latencyUs.p50,
    p99Us: r.latencyUs.p99,
    p999Us: r.latencyUs.p999,
    maxUs: r.latencyUs.max,
    measured: r.measured,
    failed: r.failed,
    serverCpu: cpu[0],
    decisions,
    ...watch.result(),
  };
}

/**
 * The Node driver at the same fixed rate (`s.steadyClients` connections, one request in flight
 * each, `s.steadyRps` a second each) over the distinct tokens of `tokensFile`: what h2load,
 * which sends one body, cannot do. Every request carries a token the server has not seen while
 * the file has more tokens than the run sends.
 */
export async function measureSteadyNode(server: Server, tokensFile: string, tokens: number, s: Settings): Promise<SteadyMeasurement> {
  const watch = memoryWatch(server.proc.pid);
  let m: Measurement;
  try {
    m = await measureNode(server, tokensFile, s, {
      tokens,
      steady: { rps: s.steadyRps, connections: s.steadyClients, streams: 1, warmupMs: s.steadyWarmupMs, durationMs: s.steadyMs },
      onPhase: (phase) => (phase === 'measure' ? watch.begin() : watch.end()),
    });
  } finally {
    watch.stop();
  }
  return {
    targetRps: s.steadyClients * s.steadyRps,
    rps: m.rps,
    p50Us: m.p50Us,
    p99Us: m.p99Us,
    p999Us: m.p999Us ?? NaN,
    maxUs: m.maxUs ?? NaN,
    measured: m.measured,
    failed: m.failed,
    serverCpu: m.serverCpu,
    decisions: m.decisions,
    ...watch.result(),
  };
}
