/**
 * h2load (Debian nghttp2-client), pinned to a core, latency from --log-file: against the Check
 * RPC (HTTP/2, one pre-encoded gRPC frame as the body of every request), or with `--h1` against
 * an HTTP/1.1 keep-alive listener (the HTTP mode, SPEC §12: a GET with fixed headers).
 */
import { readFileSync } from 'node:fs';
import { Samples, type Percentiles } from './load.js';
import { spawnPinned } from './proc.js';
import { CHECK_PATH } from './requests.js';

export interface H2loadOptions {
  readonly core: number;
  readonly port: number;
  /** One pre-encoded gRPC frame: h2load sends it as the body of every request. */
  readonly bodyFile?: string;
  /** HTTP/1.1 instead: a GET of `path` with these headers, `streams` ignored (one request in flight per connection). */
  readonly h1?: { readonly path: string; readonly headers: readonly string[] };
  readonly connections: number;
  readonly streams: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly logFile: string;
  /** Fixed rate: h2load --rps, requests per second per client (connection). */
  readonly rps?: number;
  readonly onPhase?: (phase: 'start' | 'measure' | 'end', pid: number) => void;
}

export interface H2loadResult {
  readonly measured: number;
  readonly failed: number;
  readonly seconds: number;
  readonly rps: number;
  readonly latencyUs: Percentiles;
  readonly non2xx: number;
  readonly summary: string;
}

export async function runH2load(o: H2loadOptions): Promise<H2loadResult> {
  const request = o.h1 === undefined
    ? ['-m', String(o.streams), '-d', o.bodyFile ?? '', '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${o.port}${CHECK_PATH}`]
    : ['--h1', '-m', '1', ...o.h1.headers.flatMap((h) => ['-H', h]), `http://127.0.0.1:${o.port}${o.h1.path}`];
  const args = [
    '-t', '1',
    '-c', String(o.connections),
    '-D', `${Math.round(o.durationMs)}ms`,
    '--warm-up-time', `${Math.round(o.warmupMs)}ms`,
    '--log-file', o.logFile,
    ...(o.rps === undefined ? [] : ['--rps', String(o.rps)]),
    ...request,
  ];
  const p = spawnPinned(o.core, 'h2load', args);
  let out = '';
  p.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  o.onPhase?.('start', p.pid);
  const measure = setTimeout(() => o.onPhase?.('measure', p.pid), o.warmupMs);
  const kill = setTimeout(() => p.child.kill('SIGKILL'), o.warmupMs + o.durationMs + 20_000);
  const end = setTimeout(() => o.onPhase?.('end', p.pid), o.warmupMs + o.durationMs);
  const code = await p.exited;
  clearTimeout(measure);
  clearTimeout(kill);
  clearTimeout(end);
  if (code !== 0) throw new Error(`h2load exited with ${code}:\n${out}`);

  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(out);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (finished === null || requests === null || codes === null) throw new Error(`unexpected h2load output:\n${out}`);
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);

  const samples = new Samples();
  for (const line of readFileSync(o.logFile, 'utf8').split('\n')) {
    const cols = line.split('\t');
    if (cols.length < 3 || cols[1] !== '200') continue;
    samples.push(Number(cols[2]));
  }
  return {
    measured: Number(requests[4]),
    failed: Number(requests[5]) + Number(requests[6]) + Number(requests[7]),
    seconds,
    rps: Number(finished[3]),
    latencyUs: samples.percentiles(),
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    summary: out.split('\n').filter((l) => /^(finished|requests|status codes|time for request)/.test(l.trim())).join('\n'),
  };
}
