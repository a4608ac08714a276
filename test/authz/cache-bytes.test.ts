import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { entryBytes } from '../../src/authz/cache.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { tempDir } from '../helpers/service.js';

const CHILD = fileURLToPath(new URL('../helpers/entry-bytes-child.js', import.meta.url));

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
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'cache: { max-entries: 100000, max-bytes: 1000000000 }\nproviders:\n  - name: corp\n    key-file: k.key\n    required-issuer: https://idp.test/\n    user-mapping:\n      pattern: (.*)@example\\.com\n');
  const n = 2000;
  const wrong: string[] = [];
  for (const groups of [0, 2, 20, 75, 150]) {
    const tokens = await Promise.all(Array.from({ length: n + 600 }, (_, i) => sign(claimsOf(i, groups), testKeys().hmac)));
    const file = join(dir, `tokens-${groups}.txt`);
    writeFileSync(file, tokens.join('\n'));
    // A process of its own: nothing else this test did is collected while it measures.
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--no-flush-bytecode', CHILD, config, file, String(n)]);
    const { perEntry } = JSON.parse(stdout) as { perEntry: number };
    const length = tokens[0]?.length ?? 0;
    const estimate = entryBytes(tokens[0] ?? '');
    t.diagnostic(`${length} characters (${groups} groups): ${perEntry.toFixed(0)} bytes per entry, estimated ${estimate}`);
    if (estimate < perEntry) wrong.push(`${length}-character token: estimated ${estimate} < measured ${perEntry.toFixed(0)}`);
    if (estimate > perEntry * 1.75) wrong.push(`${length}-character token: estimated ${estimate} > 1.75 × measured ${perEntry.toFixed(0)}`);
  }
  assert.deepEqual(wrong, []);
});
