import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { CONFIG_KEYS } from '../../src/config/schema.js';
import { SPEC_EXAMPLE } from './helpers.js';

/** Every documented path in a parsed YAML value: `a.b`, `providers[].x`. */
function paths(value: unknown, prefix: string, out: Set<string>): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) paths(item, `${prefix}[]`, out);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const p = prefix === '' ? k : `${prefix}.${k}`;
      out.add(p);
      if (k !== 'claim-headers') paths(v, p, out);
    }
  }
  return out;
}

test('documents every key of the SPEC example, and each path once', () => {
  const documented = CONFIG_KEYS.map((k) => k.path);
  assert.equal(new Set(documented).size, documented.length);
  const missing = [...paths(parse(SPEC_EXAMPLE), '', new Set())].filter((p) => !documented.includes(p));
  assert.deepEqual(missing, []);
  for (const p of ['providers[].user-mapping.file', 'token.sources[].cookie', 'token.sources[].query']) {
    assert.ok(documented.includes(p), p);
  }
  assert.ok(CONFIG_KEYS.every((k) => k.type !== '' && k.description !== ''));
});

test('documents the SPEC defaults', () => {
  const defaults = Object.fromEntries(CONFIG_KEYS.map((k) => [k.path, k.default]));
  assert.equal(defaults['listen'], '127.0.0.1:9191');
  assert.equal(defaults['admin-listen'], '127.0.0.1:9901');
  assert.equal(defaults['clock-skew'], '60s');
  assert.equal(defaults['token.max-bytes'], '8192');
  assert.equal(defaults['cache.max-entries'], '10000');
  assert.equal(defaults['providers[].principal-field'], 'sub');
  assert.equal(defaults['providers[].jwks.refresh-interval'], '15m');
  assert.equal(defaults['providers[].jwks.max-stale'], '24h');
  assert.equal(defaults['providers[].key-file'], '');
});

test('parses durations with ms, s, m and h, and explains a missing unit', () => {
  assert.deepEqual(parseDuration('500ms'), { ok: true, ms: 500 });
  assert.deepEqual(parseDuration('30s'), { ok: true, ms: 30_000 });
  assert.deepEqual(parseDuration('15m'), { ok: true, ms: 900_000 });
  assert.deepEqual(parseDuration('1h'), { ok: true, ms: 3_600_000 });
  assert.deepEqual(parseDuration('1.5h'), { ok: true, ms: 5_400_000 });
  const bare = parseDuration('30');
  assert.ok(!bare.ok && /no unit \(write 30s or 30ms\)/.test(bare.message));
  for (const bad of ['', 's', '-1s', '1d', '1 hour', '1e3ms']) assert.equal(parseDuration(bad).ok, false, bad);
});

test('writes durations back in the unit the docs use', () => {
  assert.deepEqual([0, 1, 500, 1000, 1500, 30_000, 60_000, 90_000, 900_000, 3_600_000, 86_400_000].map(formatDuration),
    ['0ms', '1ms', '500ms', '1s', '1500ms', '30s', '60s', '90s', '15m', '1h', '24h']);
  for (const ms of [0, 7, 60_000, 61_000, 7_200_000]) {
    const r = parseDuration(formatDuration(ms));
    assert.ok(r.ok && r.ms === ms);
  }
});
