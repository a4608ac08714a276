/**
 * Smoke test of the bench's HTTP/2 load driver (bench/lib/load.ts) against the real service in
 * this process: a small fixed number of requests, so it stays well under a second. The main
 * build compiles the bench modules this file imports into dist/bench/lib/, where
 * bench/tsconfig.json puts them too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runLoad, type LoadResult } from '../../bench/lib/load.js';
import { frameFor } from '../../bench/lib/requests.js';
import { badSignature } from '../../bench/lib/tokens.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const IDP = 'https://idp.test/';
const REQUESTS = 200;

describe('bench HTTP/2 load driver against the service', { timeout: 10_000 }, () => {
  let t: TestService;
  let result: LoadResult;
  let paced: LoadResult;
  const phases: string[] = [];

  before(async () => {
    const dir = tempDir();
    const keys = testKeys();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    t = await startTestService(
      `providers:\n  - name: corp\n    key-file: rsa.pem\n    required-issuer: ${IDP}\n    required-audience: trino\n    user-mapping:\n      pattern: (.*)@example\\.com\n`,
      { dir },
    );
    const token = (sub: string): Promise<string> => sign({ iss: IDP, aud: 'trino', sub, exp: nowSeconds() + 600 }, keys.rsa.privateKey);
    const alice = await token('alice@example.com');
    const bob = await token('bob@example.com');
    // Round robin over the bodies: every other request carries a valid token, the others a bad signature.
    const bodies = [frameFor(alice, 0), frameFor(badSignature(alice), 1), frameFor(bob, 2), frameFor(badSignature(bob), 3)];
    const address = t.service.grpcAddress;
    result = await runLoad({
      port: Number(address.slice(address.lastIndexOf(':') + 1)),
      bodies,
      connections: 2,
      streams: 4,
      warmupMs: 0,
      durationMs: 0,
      requests: REQUESTS,
      timeoutMs: 5000,
      drainMs: 1000,
      onPhase: (phase) => phases.push(phase),
    });
    // Fixed rate (the cold row of the bench's steady phase): 2 connections × 100/s for 1 s.
    paced = await runLoad({
      port: Number(address.slice(address.lastIndexOf(':') + 1)),
      bodies,
      connections: 2,
      streams: 1,
      warmupMs: 0,
      durationMs: 1000,
      rps: 100,
      timeoutMs: 5000,
      drainMs: 1000,
    });
  });
  after(() => t.close());

  it('completes exactly the requested number of requests, all measured, none failed', () => {
    assert.deepEqual(result.errors, []);
    assert.equal(result.completed, REQUESTS);
    assert.equal(result.measured, REQUESTS);
    assert.equal(result.failed, 0);
    assert.equal(result.distinctBodies, 4);
    assert.deepEqual(phases, ['start', 'measure', 'end']);
  });

  it('reads the decision of every response: OK for valid tokens, UNAUTHENTICATED for bad signatures', () => {
    assert.deepEqual({ ...result.decisions }, { '0': REQUESTS / 2, '16': REQUESTS / 2 });
  });

  it('reports positive, ordered latency percentiles and a request rate', () => {
    const l = result.latencyUs;
    for (const [name, v] of Object.entries(l)) assert.ok(Number.isFinite(v) && v > 0, `${name} = ${v}`);
    assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
    assert.ok(l.mean <= l.max, JSON.stringify(l));
    assert.ok(result.seconds > 0 && Number.isFinite(result.seconds), `seconds = ${result.seconds}`);
    assert.ok(result.rps > 0 && Number.isFinite(result.rps), `rps = ${result.rps}`);
  });

  it('has every field the bench turns into a table row (bench/lib/drivers.ts measureNode)', () => {
    // rps, p50, p99, measured, completed, failed and decisions become a Measurement; errors are logged.
    const { rps, latencyUs, measured, completed, failed, decisions, errors } = result;
    for (const n of [rps, latencyUs.p50, latencyUs.p99, measured, completed, failed]) assert.equal(typeof n, 'number');
    assert.ok(Object.values(decisions).every((n) => Number.isInteger(n) && n > 0));
    assert.ok(Array.isArray(errors));
  });

  it('at a fixed rate never sends more than the rate asks for', () => {
    assert.deepEqual(paced.errors, []);
    // 200 due in the window (a closed loop does thousands); a busy machine may fall behind.
    assert.ok(paced.measured <= 202 && paced.measured >= 20, `measured ${paced.measured}`);
    assert.equal(paced.failed, 0);
  });
});
