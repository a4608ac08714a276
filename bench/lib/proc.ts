/**
 * Child processes of the bench: every one is tracked and SIGKILLed when the bench exits for any
 * reason, so a crash or Ctrl-C never leaves a server or a load generator behind.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';

const children = new Set<ChildProcess>();

export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
}

let installed = false;

/** Kill every child on exit, Ctrl-C, SIGTERM and crashes. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every child process\n`);
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (e) => {
    process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
    killAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    killAll();
    process.exit(1);
  });
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) when the process has exited. */
  readonly exited: Promise<number | string>;
  alive(): boolean;
}

/**
 * `taskset -c CORE cmd args...`: taskset execs the command, so the pid is the command's, and
 * every thread it creates (libuv pool, V8 helpers) inherits the single-core affinity.
 */
export function spawnPinned(core: number, cmd: string, args: readonly string[], options: { logFile?: string; env?: NodeJS.ProcessEnv } = {}): Spawned {
  let fd: number | undefined;
  let stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
  if (options.logFile !== undefined) {
    // Straight into a file: the bench never spends CPU relaying the service's log lines.
    fd = openSync(options.logFile, 'w');
    stdio = ['ignore', fd, fd];
  }
  const child = spawn('taskset', ['-c', String(core), cmd, ...args], { stdio, env: { ...process.env, ...options.env } });
  if (fd !== undefined) closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  children.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, pid: child.pid, exited, alive: () => child.exitCode === null && child.signalCode === null };
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function stop(p: Spawned, graceMs = 10_000): Promise<number | string> {
  if (!p.alive()) return p.exited;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

/** Pins this process (all its threads) to one core, so the bench never runs on the server's core. */
export function pinSelf(core: number): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -p failed: ${r.stderr}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One JSON log line (pino, or our own children's). */
export type LogLine = Record<string, unknown>;

/**
 * Waits until a line of the (growing) log file satisfies `match`; rejects when the process
 * exits first or after `timeoutMs`. Lines that are not JSON are skipped.
 */
export async function waitForLogLine(file: string, p: Spawned, match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  let offset = 0;
  let pending = '';
  const fd = openSync(file, 'r');
  try {
    for (;;) {
      const size = fstatSync(fd).size;
      if (size > offset) {
        const buf = Buffer.alloc(size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        offset = size;
        pending += buf.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(l);
          } catch {
            continue;
          }
          if (typeof parsed === 'object' && parsed !== null && match(parsed as LogLine)) return parsed as LogLine;
        }
      }
      if (!p.alive()) throw new Error(`process ${p.pid} exited before the expected log line:\n${tail(file)}`);
      if (Date.now() > deadline) throw new Error(`no expected log line from ${p.pid} within ${timeoutMs} ms:\n${tail(file)}`);
      await sleep(5);
    }
  } finally {
    closeSync(fd);
  }
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU seconds of a process (all threads), from /proc/PID/stat. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM of a process, in MiB. */
export function memory(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Samples the CPU use of some processes over a window: call `begin()` then `end()`. */
export function cpuWindow(pids: readonly number[]): { begin(): void; end(): (number | undefined)[] } {
  let t0 = 0;
  let c0: (number | undefined)[] = [];
  return {
    begin() {
      t0 = performance.now();
      c0 = pids.map(cpuSeconds);
    },
    end() {
      const seconds = (performance.now() - t0) / 1000;
      return pids.map((pid, i) => {
        const a = c0[i];
        const b = cpuSeconds(pid);
        return a === undefined || b === undefined || seconds <= 0 ? undefined : (b - a) / seconds;
      });
    },
  };
}
