import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, fingerprint } from '../src/log.js';

describe('logging', () => {
  it('redacts authorization, cookie, token and secret fields wherever they appear', async () => {
    const sink = new PassThrough();
    const lines: string[] = [];
    sink.on('data', (d: Buffer) => lines.push(d.toString()));
    const log = createLogger('info', sink);
    log.info({ token: 'T1', authorization: 'Bearer T2', cookie: 'a=T3', secret: 'T4', headers: { authorization: 'Bearer T5', cookie: 'T6' }, req: { headers: { authorization: 'T7' } } }, 'x');
    await new Promise((r) => setImmediate(r));
    const out = lines.join('');
    for (const secret of ['T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7']) assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
    assert.ok(out.includes('[redacted]'));
  });

  it('fingerprints a token with 16 hex digits of its SHA-256, stable and not the token', () => {
    assert.match(fingerprint('abc'), /^[0-9a-f]{16}$/);
    assert.equal(fingerprint('abc'), fingerprint('abc'));
    assert.notEqual(fingerprint('abc'), fingerprint('abd'));
  });
});
