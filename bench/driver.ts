/**
 * The Node load generator as its own process (the bench runs it pinned to core 1):
 * `node dist/bench/driver.js JOB.json`. Reads tokens (one per line), pre-encodes one Check
 * request per token, runs lib/load.ts and prints JSON lines: phase events, then the result.
 */
import { readFileSync } from 'node:fs';
import { runLoad, type LoadOptions } from './lib/load.js';
import { frameFor } from './lib/requests.js';

export interface DriverJob {
  readonly port: number;
  readonly tokensFile: string;
  /** Use only the first N tokens of the file. */
  readonly tokens?: number;
  readonly connections: number;
  readonly streams: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly requests?: number;
  /** Fixed rate per connection (open loop, as h2load --rps). */
  readonly rps?: number;
}

const emit = (v: object): void => void process.stdout.write(`${JSON.stringify(v)}\n`);

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: driver.js JOB.json');
  const job = JSON.parse(readFileSync(file, 'utf8')) as DriverJob;
  let tokens = readFileSync(job.tokensFile, 'utf8').split('\n').filter((t) => t !== '');
  if (job.tokens !== undefined) tokens = tokens.slice(0, job.tokens);
  const bodies = tokens.map((t, i) => frameFor(t, i));
  tokens = [];
  const options: LoadOptions = {
    port: job.port,
    bodies,
    connections: job.connections,
    streams: job.streams,
    warmupMs: job.warmupMs,
    durationMs: job.durationMs,
    ...(job.requests === undefined ? {} : { requests: job.requests }),
    ...(job.rps === undefined ? {} : { rps: job.rps }),
    onPhase: (phase) => emit({ event: phase, at: Date.now() }),
  };
  const result = await runLoad(options);
  emit({ event: 'result', result });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`driver: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
