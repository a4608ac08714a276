import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createAuthorizer, type Authorizer } from '../../src/authz/authorizer.js';
import { entryBytes } from '../../src/authz/cache.js';
import { closePolicy } from '../../src/authz/key-lifecycle.js';
import { buildPolicy } from '../../src/authz/policy.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { CheckResponse } from '../../src/envoy/check-response.js';
import { fastAuthorizationServiceDefinition } from '../../src/grpc/codec.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { tempDir } from '../helpers/service.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const serialize = fastAuthorizationServiceDefinition()['Check']?.responseSerialize as (value: CheckResponse) => Buffer;

/** Heap and off-heap bytes in use after full collections. */
const used = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

/** An IdP access token with `groups` group ids: about 400 characters plus 52 a group. */
const claimsOf = (i: number, groups: number) => ({
  iss: 'https://idp.test/',
  aud: 'trino',
  sub: `user${i}@example.com`,
  jti: `id-${i}-${randomUUID()}`,
  email: `user${i}@example.com`,
  name: `User ${i}`,
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
  groups: Array.from({ length: groups }, () => randomUUID()),
});

it('charges each cached token at least what it keeps alive (token, claims, identity, answer, its bytes), and not much more', async (t) => {
  const dir = tempDir();
  writeKey(dir, 'k.key', testKeys().hmac);
  writeFileSync(join(dir, 'config.yaml'), 'cache: { max-entries: 100000, max-bytes: 1000000000 }\nproviders:\n  - name: corp\n    key-file: k.key\n    required-issuer: https://idp.test/\n');
  const policy = buildPolicy(loadConfigFile(join(dir, 'config.yaml')));
  t.after(() => closePolicy(policy));
  const n = 2000;
  const allow = async (authorizer: Authorizer, token: string): Promise<void> => {
    const answer = await authorizer.check(bearer(token));
    assert.equal(answer.status.code, 0);
    serialize(answer); // as grpc-js does: the codec keeps the bytes of a reused answer
  };
  /** Code paths warm, on an authorizer that is garbage once this returns. */
  const warmUp = async (tokens: readonly string[]): Promise<void> => {
    const authorizer = createAuthorizer(policy);
    for (const token of tokens) await allow(authorizer, token);
  };
  for (const groups of [0, 2, 20, 75, 150]) {
    const tokens = await Promise.all(Array.from({ length: n + 50 }, (_, i) => sign(claimsOf(i, groups), testKeys().hmac)));
    await warmUp(tokens.slice(n));
    // A fresh cache filled from empty: the growth of its tables is part of what an entry costs.
    const authorizer = createAuthorizer(policy);
    const before = used();
    for (const token of tokens.slice(0, n)) await allow(authorizer, token);
    const perEntry = (used() - before) / n;
    assert.equal(authorizer.policy, policy); // still alive when measured
    const estimate = entryBytes(tokens[0] ?? '');
    t.diagnostic(`${tokens[0]?.length} characters (${groups} groups): ${perEntry.toFixed(0)} bytes per entry, estimated ${estimate}`);
    assert.ok(estimate >= perEntry, `${tokens[0]?.length}-character token: estimated ${estimate} < measured ${perEntry.toFixed(0)}`);
    assert.ok(estimate <= perEntry * 1.6, `${tokens[0]?.length}-character token: estimated ${estimate} > 1.6 × measured ${perEntry.toFixed(0)}`);
  }
});
