import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reusedAnswer, reuseOf, setHeader, type CheckResponse } from '../../src/envoy/check-response.js';
import { fastAuthorizationServiceDefinition } from '../../src/grpc/codec.js';
import { encodeCheckResponse } from '../../src/grpc/response-encoder.js';

const serialize = fastAuthorizationServiceDefinition()['Check']?.responseSerialize as (value: CheckResponse) => Buffer;

const token = (length: number): string => `eyJ.${'x'.repeat(length - 8)}.sig`;

/** An allow as the responder builds it: the token in the pass-through header, between other parts. */
const allow = (carried: string): CheckResponse => ({
  status: { code: 0 },
  ok_response: {
    headers: [setHeader('x-jwt-principal', 'alice'), setHeader('x-forwarded-access-token', carried), setHeader('x-jwt-groups', 'a,b')],
    headers_to_remove: ['x_jwt_principal'],
    query_parameters_to_remove: [],
  },
  dynamic_metadata: { fields: { user: { stringValue: 'alice' }, sub: { stringValue: 'alice@example.com' } } },
});

describe('reused answers (encode once)', () => {
  it('encodes an answer marked reusedAnswer once and sends the same bytes again', () => {
    const answer = reusedAnswer(allow(token(700)));
    const first = serialize(answer);
    assert.equal(serialize(answer), first, 'the kept bytes, not a new encoding');
    assert.ok(first.equals(encodeCheckResponse(answer)));
    assert.ok(Object.isFrozen(answer));
  });

  it('encodes every other answer each time, frozen or not: freezing alone is no promise', () => {
    const frozen = Object.freeze(allow(token(700)));
    assert.equal(reuseOf(frozen), undefined);
    assert.notEqual(serialize(frozen), serialize(frozen));
  });

  for (const length of [40, 730, 1_024, 4_131, 8_150, 70_000]) {
    it(`sends exactly the bytes of the full encoding when it splices a carried ${length}-character token in`, () => {
      const carried = token(length);
      const answer = reusedAnswer(allow(carried), { carries: carried });
      const expected = encodeCheckResponse(answer);
      for (let i = 0; i < 3; i++) assert.ok(serialize(answer).equals(expected), `send #${i + 1}`);
    });
  }

  it('keeps a carried token, short or long, out of the kept bytes: each send is a fresh buffer with the token written in', () => {
    for (const carried of [token(300), token(4_131)]) {
      const answer = reusedAnswer(allow(carried), { carries: carried });
      const a = serialize(answer);
      const b = serialize(answer);
      assert.notEqual(a, b);
      assert.ok(a.equals(b));
      assert.ok(a.toString('latin1').includes(carried));
    }
  });

  it('keeps the whole bytes when the carried string is not ASCII or not in the answer', () => {
    const wide = `${'é'.repeat(1_024)}`;
    const withWide = reusedAnswer(allow(wide), { carries: wide });
    assert.equal(serialize(withWide), serialize(withWide));
    assert.ok(serialize(withWide).equals(encodeCheckResponse(withWide)));
    const absent = reusedAnswer(allow(token(700)), { carries: token(2_000) });
    assert.equal(serialize(absent), serialize(absent));
    assert.ok(serialize(absent).equals(encodeCheckResponse(absent)));
  });
});
