import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { TokenCache } from '../../src/authz/cache.js';
import { decide } from '../../src/authz/decide.js';
import { closePolicy } from '../../src/authz/key-lifecycle.js';
import { buildPolicy } from '../../src/authz/policy.js';
import { loadConfigFile } from '../../src/config/load.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { tempDir } from '../helpers/service.js';

describe('verified-token cache keys', () => {
  it('finds a token by its last characters but never hands its identity to another token ending the same way', async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', testKeys().rsa.publicKey);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'providers:\n  - name: corp\n    key-file: k.pem\n');
    const policy = buildPolicy(loadConfigFile(file));
    try {
      const token = await sign({ sub: 'alice', exp: nowSeconds() + 600 }, testKeys().rsa.privateKey);
      const now = Date.now();
      const decision = await decide(bearer(token), policy, now);
      assert.equal(decision.kind, 'allow');
      if (decision.kind !== 'allow') return;
      const cache = new TokenCache({ maxEntries: 10, maxBytes: 1_000_000 });
      assert.ok(cache.set(token, decision.identity, undefined, 'RS256', now) !== undefined);
      // A fresh copy of the same token, as the next request carries it: a hit.
      assert.equal(cache.get(`x${token}`.slice(1), now), decision.identity);
      // Another token with the same ending (the signature): a miss, never the cached identity.
      const lookalike = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
      assert.notEqual(lookalike, token);
      assert.equal(cache.get(lookalike, now), undefined);
      assert.equal(cache.get(token.slice(-40), now), undefined);
    } finally {
      closePolicy(policy);
    }
  });
});
