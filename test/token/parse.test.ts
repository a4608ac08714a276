import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseToken, type ParsedToken } from '../../src/token/parse.js';
import { Rejection } from '../../src/reasons.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const token = (header: unknown, payload: unknown = { sub: 'alice' }): string => `${b64(header)}.${b64(payload)}.c2ln`;

function parsed(t: string): ParsedToken {
  const p = parseToken(t);
  assert.ok(!(p instanceof Rejection), p instanceof Rejection ? p.message : '');
  return p;
}

describe('parseToken', () => {
  it('reads alg and kid of every header right while the decoded-header memo fills, clears and refills', () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 200; i++) {
        const p = parsed(token({ alg: i % 2 === 0 ? 'RS256' : 'ES256', kid: `k${i}` }, { sub: `u${i}` }));
        assert.equal(p.kid, `k${i}`);
        assert.equal(p.alg, i % 2 === 0 ? 'RS256' : 'ES256');
        assert.equal(p.payload['sub'], `u${i}`);
      }
    }
  });

  it('rejects a remembered header on its own merits each time (crit, bad kid type)', () => {
    const crit = token({ alg: 'RS256', crit: ['exp'] });
    for (let i = 0; i < 3; i++) assert.equal((parseToken(crit) as Rejection).reason, 'malformed_token');
    const numericKid = token({ alg: 'RS256', kid: 7 });
    for (let i = 0; i < 3; i++) assert.equal((parseToken(numericKid) as Rejection).reason, 'malformed_token');
  });

  it('reads a long header (not remembered) right every time', () => {
    const long = { alg: 'RS256', kid: 'k'.repeat(1000) };
    for (let i = 0; i < 3; i++) assert.equal(parsed(token(long)).kid, long.kid);
  });

  it('decodes a payload far larger than its first buffer', () => {
    const big = 'x'.repeat(50_000);
    assert.equal(parsed(token({ alg: 'HS256' }, { sub: 'a', big })).payload['big'], big);
  });

  it('denies a payload with characters outside base64url as malformed', () => {
    const t = `${b64({ alg: 'RS256' })}.${b64({ sub: 'a' })}+.c2ln`;
    assert.equal((parseToken(t) as Rejection).reason, 'malformed_token');
  });
});
