import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { createAuthorizer } from '../../src/authz/authorizer.js';
import { DENY_LINES_PER_SECOND, DenyLog } from '../../src/authz/deny-log.js';
import { closePolicy } from '../../src/authz/key-lifecycle.js';
import { buildPolicy } from '../../src/authz/policy.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { rawToken } from '../helpers/keys.js';
import { bearer, checkRequest } from '../helpers/requests.js';
import { sample } from '../helpers/scrape.js';
import { tempDir } from '../helpers/service.js';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { logger: createLogger(level, sink), lines };
}

/** An authorizer's policy on a 32-byte HMAC key file (the config file lives in a temp dir). */
function hmacPolicy() {
  const dir = tempDir();
  writeFileSync(join(dir, 'k.key'), Buffer.alloc(32, 7).toString('base64'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'providers:\n  - name: corp\n    key-file: k.key\n');
  return buildPolicy(loadConfigFile(file));
}

// pino's destination here is a stream: lines arrive on a later tick.
const settle = () => sleep(20);

describe('deny log', () => {
  it('writes the first lines of a second, then counts the rest by reason and reports them once the next window opens', async () => {
    const { logger, lines } = capture('info');
    const clock = { now: 1000 };
    const log = new DenyLog(logger, () => clock.now, 3);
    const admitted = ['expired', 'expired', 'invalid_signature', 'expired', 'invalid_signature', 'expired'].map((r) => log.admit(r));
    assert.deepEqual(admitted, [true, true, true, false, false, false]);
    clock.now += 1000;
    assert.equal(log.admit('expired'), true, 'a new window admits again');
    await settle();
    const summary = lines.find((l) => l['msg'] === 'deny lines suppressed');
    assert.ok(summary !== undefined, 'a summary line');
    assert.equal(summary['suppressed'], 3);
    assert.deepEqual(summary['byReason'], { expired: 2, invalid_signature: 1 });
    assert.equal(summary['limitPerSecond'], 3);
  });

  it('reports suppressed denies at the end of the window even when the flood stops', async () => {
    const { logger, lines } = capture('info');
    const log = new DenyLog(logger, Date.now, 1);
    assert.equal(log.admit('expired'), true);
    assert.equal(log.admit('expired'), false);
    await sleep(1100);
    assert.equal(lines.filter((l) => l['msg'] === 'deny lines suppressed').length, 1);
  });

  it('writes every deny at level debug and none above info', () => {
    assert.ok(Array.from({ length: 10 }, () => new DenyLog(capture('debug').logger, () => 0, 1)).every((l) => l.admit('expired')));
    const quiet = new DenyLog(capture('warn').logger, () => 0, 1);
    assert.equal(quiet.admit('expired'), false);
  });

  it(`logs at most ${DENY_LINES_PER_SECOND} deny lines per second from the authorizer, metrics count every deny, and closing reports the rest`, async (t) => {
    const { logger, lines } = capture('info');
    const metrics = createMetrics({ defaultMetrics: false });
    const authorizer = createAuthorizer(hmacPolicy(), { metrics, logger });
    t.after(() => closePolicy(authorizer.policy));
    const floods = DENY_LINES_PER_SECOND + 50;
    const started = Date.now();
    for (let i = 0; i < floods; i++) await authorizer.check(bearer('not-a-jwt'));
    await settle();
    const denyLines = lines.filter((l) => l['msg'] === 'check denied').length;
    // All in one window unless this machine took over a second for the loop.
    if (Date.now() - started < 900) assert.equal(denyLines, DENY_LINES_PER_SECOND);
    assert.ok(denyLines < floods, 'some lines were suppressed');
    const counted = sample(await metrics.registry.metrics(), 'jwt_ext_authz_checks_total{decision="deny",transport="grpc"}');
    assert.equal(counted, floods);
    // Stopping reports what the last window held back, instead of losing it.
    authorizer.close();
    await settle();
    const suppressed = lines.filter((l) => l['msg'] === 'deny lines suppressed').reduce((n, l) => n + Number(l['suppressed']), 0);
    assert.equal(denyLines + suppressed, floods);
  });

  it('names the request by the first 128 characters of x-request-id and the token by a 16-hex-digit SHA-256 fingerprint, never the token itself', async (t) => {
    const { logger, lines } = capture('info');
    const authorizer = createAuthorizer(hmacPolicy(), { logger });
    t.after(() => closePolicy(authorizer.policy));
    const token = rawToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: 4_000_000_000 });
    const longId = `${'a'.repeat(128)}${'b'.repeat(72)}`;
    await authorizer.check(checkRequest({ authorization: `Bearer ${token}`, 'x-request-id': longId }));
    await authorizer.check(checkRequest({ 'x-request-id': 'req-2' }));
    await settle();
    const denies = lines.filter((l) => l['msg'] === 'check denied');
    assert.equal(denies.length, 2);
    const [withToken, withoutToken] = denies;
    assert.equal(withToken?.['reason'], 'invalid_signature');
    assert.equal(withToken?.['requestId'], 'a'.repeat(128));
    // Computed here, not with the service's own helper: a changed fingerprint must show.
    assert.equal(withToken?.['tokenFingerprint'], createHash('sha256').update(token).digest('hex').slice(0, 16));
    assert.match(String(withToken?.['tokenFingerprint']), /^[0-9a-f]{16}$/);
    assert.equal(withoutToken?.['reason'], 'missing_token');
    assert.equal(withoutToken?.['requestId'], 'req-2');
    assert.equal(withoutToken?.['tokenFingerprint'], undefined, 'no token, no fingerprint');
    const text = JSON.stringify(lines);
    assert.ok(!text.includes(token) && !text.includes(token.split('.')[1] ?? token), 'the token never reaches the log');
  });
});
