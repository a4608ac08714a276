/**
 * Run by test/authz/cache-bytes.test.ts in a process of its own (node --expose-gc
 * --no-flush-bytecode): `node entry-bytes-child.js CONFIG TOKENS N` fills a fresh cache with the
 * first N tokens of the TOKENS file (one a line) through the real authorizer and codec and
 * prints the heap + off-heap bytes that added, per entry. The rest of the tokens warm the code
 * paths first, on an authorizer that is garbage by then.
 */
import { readFileSync } from 'node:fs';
import { createAuthorizer, type Authorizer } from '../../src/authz/authorizer.js';
import { buildPolicy } from '../../src/authz/policy.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { CheckResponse } from '../../src/envoy/check-response.js';
import { fastAuthorizationServiceDefinition } from '../../src/grpc/codec.js';
import { bearer } from './requests.js';

const [config = '', tokensFile = '', count = '0'] = process.argv.slice(2);
// `node --test dist/test/` runs every file, helpers too: without arguments there is nothing to do.
if (config === '') process.exit(0);
const gc = (globalThis as { gc?: () => void }).gc ?? ((): never => { throw new Error('run with --expose-gc'); });
const serialize = fastAuthorizationServiceDefinition()['Check']?.responseSerialize as (value: CheckResponse) => Buffer;
const used = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

async function fill(authorizer: Authorizer, tokens: readonly string[]): Promise<void> {
  for (const token of tokens) {
    const answer = await authorizer.check(bearer(token));
    if (answer.status.code !== 0) throw new Error(`not allowed: ${JSON.stringify(answer)}`);
    serialize(answer); // as grpc-js does: the codec keeps the bytes of a reused answer
  }
}

const n = Number(count);
const tokens = readFileSync(tokensFile, 'utf8').split('\n');
const policy = buildPolicy(loadConfigFile(config));
await fill(createAuthorizer(policy), tokens.slice(n));
const authorizer = createAuthorizer(policy);
const before = used();
await fill(authorizer, tokens.slice(0, n));
const perEntry = (used() - before) / n;
process.stdout.write(`${JSON.stringify({ perEntry, size: authorizer.policy === policy ? n : -1 })}\n`);
process.exit(0);
