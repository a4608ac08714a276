/**
 * One measured run of a driver against a server, pinned to the load core: h2load (lib/h2load.ts,
 * one body for every request) or the Node HTTP/2 driver (bench/driver.ts around lib/load.ts, many
 * tokens), with the CPU use of both processes over the measured window.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DriverJob } from '../driver.js';
import { runH2load } from './h2load.js';
import { runLoad, type LoadResult } from './load.js';
import { cpuWindow, spawnPinned } from './proc.js';
import type { Server } from './servers.js';
import { DRIVER, LOAD_CORE, TMP, log, type Settings } from './settings.js';

export type Driver = 'h2load' | 'node';

export interface Measurement {
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

const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** One request through the same HTTP/2 path, to learn the decision h2load cannot see. */
async function probe(server: Server, body: Buffer): Promise<Readonly<Record<string, number>>> {
  const r = await runLoad({ port: server.port, bodies: [body], connections: 1, streams: 1, warmupMs: 0, durationMs: 0, requests: 3, timeoutMs: 10_000, drainMs: 1000 });
  if (r.failed > 0 || r.completed !== 3) throw new Error(`probe of ${server.name} failed: ${r.errors.join('; ')}`);
  return r.decisions;
}

/** h2load sending `body` (one pre-encoded Check frame) with every request. */
export async function measureH2load(server: Server, body: Buffer, s: Settings): Promise<Measurement> {
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

/**
 * The Node driver as its own process (bench/driver.ts), over the tokens of `tokensFile` (one per
 * line; `extra.tokens`: only the first N), for warm-up + duration or exactly `extra.requests`.
 */
export async function measureNode(server: Server, tokensFile: string, s: Settings, extra: { tokens?: number; requests?: number } = {}): Promise<Measurement> {
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
