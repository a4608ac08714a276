import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decide } from '../../src/authz/decide.js';
import { closePolicy } from '../../src/authz/key-lifecycle.js';
import { buildPolicy } from '../../src/authz/policy.js';
import { createResponder } from '../../src/authz/response.js';
import { DEFAULT_ROUTE } from '../../src/authz/routes.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { reuseOf, type CheckResponse } from '../../src/envoy/check-response.js';
import { fastAuthorizationServiceDefinition } from '../../src/grpc/codec.js';
import { reject } from '../../src/reasons.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { tempDir } from '../helpers/service.js';

const serialize = fastAuthorizationServiceDefinition()['Check']?.responseSerialize as (value: CheckResponse) => Buffer;

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

describe('allow answers kept for cache hits', () => {
  const settings = [
    '',
    'response:\n  claim-headers: { x-jwt-email: email, x-jwt-groups: groups, x-jwt-none: absent }\n',
    'response:\n  forward-original: false\n  dynamic-metadata: false\n',
    'response:\n  pass-through-header: ""\n',
  ];
  for (const extra of settings) {
    it(`send the bytes and read the parts of a freshly built allow (${extra === '' ? 'defaults' : extra.trim().replaceAll('\n', ' ')})`, async () => {
      const dir = tempDir();
      writeKey(dir, 'k.pem', testKeys().rsa.publicKey);
      const yaml = (cache: string) => `${extra}${cache}providers:\n  - name: corp\n    key-file: k.pem\n    required-issuer: https://idp.test/\n`;
      writeFileSync(join(dir, 'kept.yaml'), yaml(''));
      writeFileSync(join(dir, 'fresh.yaml'), yaml('cache: { max-entries: 0 }\n'));
      const policy = buildPolicy(loadConfigFile(join(dir, 'kept.yaml')));
      try {
        const token = await sign({ iss: 'https://idp.test/', sub: 'alice', email: 'a@example.com', groups: ['x', 'y'], exp: nowSeconds() + 600 }, testKeys().rsa.privateKey);
        const decision = await decide(bearer(token), policy, Date.now());
        assert.equal(decision.kind, 'allow');
        if (decision.kind !== 'allow') return;
        const route = { ...DEFAULT_ROUTE, label: 'trino' };
        const kept = createResponder(policy.config).allow(decision.identity, decision.found, route);
        const fresh = createResponder(loadConfigFile(join(dir, 'fresh.yaml'))).allow(decision.identity, decision.found, route);
        assert.notEqual(reuseOf(kept), undefined, 'kept for reuse');
        assert.equal(reuseOf(fresh), undefined, 'built for one request');
        assert.deepEqual(kept.ok_response, fresh.ok_response);
        assert.deepEqual(kept.dynamic_metadata, fresh.dynamic_metadata);
        assert.equal('dynamic_metadata' in fresh, kept.dynamic_metadata !== undefined);
        for (let i = 0; i < 3; i++) assert.ok(serialize(kept).equals(serialize(fresh)), `send #${i + 1}`);
      } finally {
        closePolicy(policy);
      }
    });
  }
});
