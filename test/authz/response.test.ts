import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createResponder } from '../../src/authz/response.js';
import { parseConfig } from '../../src/config/load.js';
import { reject } from '../../src/reasons.js';

// A config without key files: parseConfig validates shape only.
const config = parseConfig('providers:\n  - name: corp\n    key-file: https://idp.test/jwks.json\n', '/tmp/config.yaml');

describe('responder', () => {
  it('answers a repeated deny with one frozen answer, so its bytes are encoded once', () => {
    const r = createResponder(config);
    const a = r.deny(reject('expired', 'the JWT has expired'), true);
    assert.equal(r.deny(reject('expired', 'the JWT has expired'), true), a);
    assert.ok(Object.isFrozen(a));
  });

  it('keeps denies with another message, reason or token presence apart', () => {
    const r = createResponder(config);
    const body = (m: string, present = true) => r.deny(reject('algorithm_not_allowed', m), present).denied_response?.body ?? '';
    assert.match(body('unsupported algorithm "a"'), /"a\\"/);
    assert.match(body('unsupported algorithm "b"'), /"b\\"/);
    const withToken = r.deny(reject('missing_token', 'no token'), true);
    const without = r.deny(reject('missing_token', 'no token'), false);
    assert.notEqual(withToken, without);
    assert.notDeepEqual(withToken.denied_response?.headers, without.denied_response?.headers);
  });

  it('answers each of a stream of distinct messages right, across the bounded store clearing itself', () => {
    const r = createResponder(config);
    for (let i = 0; i < 1000; i++) {
      const body = JSON.parse(r.deny(reject('algorithm_not_allowed', `unsupported algorithm "x${i}"`), true).denied_response?.body ?? '{}') as { message: string };
      assert.equal(body.message, `unsupported algorithm "x${i}"`);
    }
  });
});
