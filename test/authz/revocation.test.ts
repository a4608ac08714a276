import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RevocationFile } from '../../src/authz/revocation-file.js';
import { describeRule, lifetimeBound, parseRfc3339, readRevocationRules, RevocationList, type RevocationRule } from '../../src/authz/revocation.js';
import { parseConfig } from '../../src/config/load.js';
import { checkClaims } from '../../src/token/claims.js';
import { ConfigError, type ConfigProblem } from '../../src/errors.js';
import { tempDir } from '../helpers/service.js';

const ISS = 'https://idp.test/';
const OTHER = 'https://other.test/';
const T = '2026-11-29T00:00:00Z';
const T_S = Date.parse(T) / 1000;

function compile(rules: unknown[]): RevocationList {
  const problems: ConfigProblem[] = [];
  const list = new RevocationList(readRevocationRules({ rules }, 'revoked.json', problems));
  assert.deepEqual(problems, []);
  return list;
}

const matched = (list: RevocationList, claims: Record<string, unknown>): string | undefined => {
  const r = list.match(claims);
  return r === undefined ? undefined : describeRule(r);
};

describe('revocation rules (SPEC §14): each shape matching and not matching', () => {
  it('{jti} revokes that jti from any issuer, and nothing else', () => {
    const list = compile([{ jti: 'leaked' }]);
    assert.equal(matched(list, { iss: ISS, sub: 'a', jti: 'leaked' }), 'rules[0] {jti}');
    assert.equal(matched(list, { iss: OTHER, jti: 'leaked' }), 'rules[0] {jti}');
    assert.equal(matched(list, { jti: 'leaked' }), 'rules[0] {jti}', 'a token without iss too');
    assert.equal(matched(list, { iss: ISS, sub: 'a', jti: 'other' }), undefined);
    assert.equal(matched(list, { iss: ISS, sub: 'a' }), undefined, 'no jti');
  });

  it('{jti, iss} revokes that jti only from that issuer', () => {
    const list = compile([{ jti: 'leaked', iss: ISS }]);
    assert.equal(matched(list, { iss: ISS, jti: 'leaked' }), 'rules[0] {jti, iss}');
    assert.equal(matched(list, { iss: OTHER, jti: 'leaked' }), undefined, 'different iss');
    assert.equal(matched(list, { jti: 'leaked' }), undefined, 'no iss');
  });

  it('{iss, sub} revokes every token of that subject of that issuer', () => {
    const list = compile([{ iss: ISS, sub: 'mallory' }]);
    assert.equal(matched(list, { iss: ISS, sub: 'mallory', iat: T_S + 10_000 }), 'rules[0] {iss, sub}');
    assert.equal(matched(list, { iss: ISS, sub: 'mallory' }), 'rules[0] {iss, sub}');
    assert.equal(matched(list, { iss: OTHER, sub: 'mallory' }), undefined, 'different iss');
    assert.equal(matched(list, { iss: ISS, sub: 'alice' }), undefined, 'different sub');
  });

  it('{iss, sub, issued-before} revokes an older iat and a missing iat, not one at or after the time', () => {
    const list = compile([{ iss: ISS, sub: 'alice', 'issued-before': T }]);
    assert.equal(matched(list, { iss: ISS, sub: 'alice', iat: T_S - 1 }), 'rules[0] {iss, sub, issued-before}');
    assert.equal(matched(list, { iss: ISS, sub: 'alice' }), 'rules[0] {iss, sub, issued-before}', 'missing iat is revoked');
    assert.equal(matched(list, { iss: ISS, sub: 'alice', iat: T_S }), undefined, 'issued at the time');
    assert.equal(matched(list, { iss: ISS, sub: 'alice', iat: T_S + 60 }), undefined, 'newer iat');
    assert.equal(matched(list, { iss: OTHER, sub: 'alice', iat: T_S - 1 }), undefined, 'different iss');
    assert.equal(matched(list, { iss: ISS, sub: 'bob', iat: T_S - 1 }), undefined, 'different sub');
  });

  it('{iss, issued-before} revokes every older token of the issuer', () => {
    const list = compile([{ iss: ISS, 'issued-before': T }]);
    assert.equal(matched(list, { iss: ISS, sub: 'anyone', iat: T_S - 3600 }), 'rules[0] {iss, issued-before}');
    assert.equal(matched(list, { iss: ISS, sub: 'anyone' }), 'rules[0] {iss, issued-before}', 'missing iat is revoked');
    assert.equal(matched(list, { iss: ISS, sub: 'anyone', iat: T_S + 1 }), undefined, 'newer iat');
    assert.equal(matched(list, { iss: OTHER, iat: T_S - 3600 }), undefined, 'different iss');
  });

  it('an empty list revokes nothing', () => {
    const list = compile([]);
    assert.equal(list.size, 0);
    assert.equal(list.match({ iss: ISS, sub: 'a', jti: 'x' }), undefined);
  });

  it('of several rules on one key the widest wins; the index named is a rule that matches', () => {
    const list = compile([
      { iss: ISS, sub: 'alice', 'issued-before': '2026-01-01T00:00:00Z' },
      { iss: ISS, sub: 'alice', 'issued-before': T },
      { iss: ISS, 'issued-before': '2025-01-01T00:00:00Z' },
      { iss: ISS, 'issued-before': '2025-06-01T00:00:00Z' },
      { jti: 'j', iss: ISS },
      { jti: 'j' },
    ]);
    assert.equal(matched(list, { iss: ISS, sub: 'alice', iat: T_S - 1 }), 'rules[1] {iss, sub, issued-before}');
    assert.equal(matched(list, { iss: ISS, sub: 'bob', iat: Date.parse('2025-03-01T00:00:00Z') / 1000 }), 'rules[3] {iss, issued-before}');
    assert.equal(matched(list, { iss: OTHER, jti: 'j' }), 'rules[5] {jti}');
    // A subject rule that does not reach this iat still leaves the issuer rule to match.
    assert.equal(matched(list, { iss: ISS, sub: 'alice', iat: Date.parse('2025-03-01T00:00:00Z') / 1000 }), 'rules[1] {iss, sub, issued-before}');
    assert.equal(matched(list, { iss: ISS, sub: 'alice', iat: T_S + 1 }), undefined);
  });

  it('a subject rule whose time has not come does not hide the issuer rule', () => {
    const list = compile([
      { iss: ISS, sub: 'alice', 'issued-before': '2025-01-01T00:00:00Z' },
      { iss: ISS, 'issued-before': T },
    ]);
    assert.equal(matched(list, { iss: ISS, sub: 'alice', iat: T_S - 60 }), 'rules[1] {iss, issued-before}');
  });
});

describe('RFC 3339 times', () => {
  it('reads Z, offsets and fractions, and refuses what is not a date-time', () => {
    assert.equal(parseRfc3339('2026-11-29T00:00:00Z'), T_S);
    assert.equal(parseRfc3339('2026-11-29t01:30:00+01:30'), T_S);
    assert.equal(parseRfc3339('2026-11-28T22:00:00-02:00'), T_S);
    assert.equal(parseRfc3339('2026-11-29T00:00:00.250Z'), T_S + 0.25);
    assert.equal(parseRfc3339('2024-02-29T00:00:00Z'), Date.parse('2024-02-29T00:00:00Z') / 1000);
    for (const bad of ['2026-11-29', '2026-11-29T00:00:00', '2026-11-29 00:00:00Z', '2026-13-01T00:00:00Z', '2026-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z', '2026-11-29T24:00:00Z', '2026-11-29T00:60:00Z', '2026-11-29T00:00:60Z', '2026-11-29T00:00:00+24:00', 'yesterday', '']) {
      assert.equal(parseRfc3339(bad), undefined, bad);
    }
  });
});

describe('malformed revocation rules are config errors naming the file and the rule', () => {
  it('reports unknown keys, non-strings, empty strings, bad times and rules of no shape, each at its rule', () => {
    const problems: ConfigProblem[] = [];
    const rules = readRevocationRules({
      rules: [
        { jti: 'ok' },
        {},
        { sub: 'alice' },
        { iss: ISS },
        { jti: 'j', sub: 'alice' },
        { iss: ISS, sub: 'alice', 'issued-before': '2026-11-29' },
        { iss: 5, sub: 'alice' },
        { iss: ISS, sub: 'alice', colour: 'red' },
        { iss: '', sub: 'alice' },
        'jti',
      ],
    }, '/etc/revoked.json', problems);
    const at = (key: string, message: string): ConfigProblem => ({ file: '/etc/revoked.json', key, message });
    const shapes = '{jti}, {jti, iss}, {iss, sub}, {iss, sub, issued-before}, {iss, issued-before}';
    assert.deepEqual(problems, [
      at('rules[1]', `{} is none of the rule shapes ${shapes}`),
      at('rules[2]', `{sub} is none of the rule shapes ${shapes}`),
      at('rules[3]', `{iss} is none of the rule shapes ${shapes}`),
      at('rules[4]', `{jti, sub} is none of the rule shapes ${shapes}`),
      at('rules[5].issued-before', '"2026-11-29" is not an RFC 3339 date-time such as 2026-11-29T00:00:00Z'),
      at('rules[6].iss', 'must be a string'),
      at('rules[7].colour', 'unknown key "colour" (expected jti, iss, sub or issued-before)'),
      at('rules[8].iss', 'must not be empty'),
      at('rules[9]', `must be an object, one of ${shapes}`),
    ]);
    assert.deepEqual(rules.map((r) => r.index), [0]);
  });

  it('refuses a document that is no {"rules": [...]}', () => {
    for (const [doc, key, message] of [
      [[], '', 'expected a JSON object {"rules": [...]}'],
      [{}, 'rules', 'is required (a list of rules; [] revokes nothing)'],
      [{ rules: {} }, 'rules', 'must be a list of rules'],
      [{ rules: [], extra: 1 }, 'extra', 'unknown key "extra" (expected "rules")'],
    ] as const) {
      const problems: ConfigProblem[] = [];
      readRevocationRules(doc, 'f.json', problems);
      assert.deepEqual(problems, [{ file: 'f.json', key, message }], JSON.stringify(doc));
    }
  });

  it('a missing file names the config key; invalid JSON names the file', () => {
    const dir = tempDir();
    const bound = () => undefined;
    const where = { file: '/c.yaml', key: 'revocations.file' };
    const problemsOf = (path: string): readonly ConfigProblem[] => {
      try {
        new RevocationFile(path, where, bound).close();
      } catch (e: unknown) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
      }
      return [];
    };
    assert.deepEqual(problemsOf(join(dir, 'missing.json')), [
      { file: '/c.yaml', key: 'revocations.file', message: `cannot read revocation file ${join(dir, 'missing.json')}: file not found` },
    ]);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"rules": [\n  {"jti": "a"},\n  {"jti": }\n]}');
    const [p] = problemsOf(broken);
    assert.equal(p?.file, broken);
    assert.match(p?.message ?? '', /^invalid JSON: /);
  });
});

describe('rules that can never match again are left out (pruning)', () => {
  const config = (providers: string) => parseConfig(`clock-skew: 60s\nproviders:\n${providers}`, '/c.yaml');
  const rules = (list: unknown[]): RevocationRule[] => readRevocationRules({ rules: list }, 'r.json', []);
  const before = (iso: string) => [{ iss: ISS, 'issued-before': iso }, { iss: ISS, sub: 'a', 'issued-before': iso }, { jti: 'j', iss: ISS }, { iss: ISS, sub: 'b' }];

  it('drops issued-before rules past issued-before + max-lifetime + clock-skew of every provider of the issuer, and only those', () => {
    const cfg = config(`  - { name: a, key-file: /a.pem, required-issuer: "${ISS}", max-lifetime: 1h }\n  - { name: b, key-file: /b.pem, required-issuer: "${ISS}", max-lifetime: 2h, clock-skew: 5s }\n`);
    const now = Date.parse(T);
    const old = new RevocationList(rules(before(new Date(now - 2 * 3600_000 - 6_000).toISOString())), lifetimeBound(cfg), now);
    assert.deepEqual(old.dead.map((d) => describeRule(d.rule)), ['rules[0] {iss, issued-before}', 'rules[1] {iss, sub, issued-before}']);
    assert.match(old.dead[0]?.why ?? '', /expired by/);
    assert.equal(old.size, 2, 'jti and subject rules stay: nothing bounds when those tokens were issued');
    // 2h + 5 s of provider b is the bound: 4 s short of it the rules still count.
    const recent = new RevocationList(rules(before(new Date(now - 2 * 3600_000 - 4_000).toISOString())), lifetimeBound(cfg), now);
    assert.equal(recent.dead.length, 0);
  });

  it('keeps issued-before rules when a provider of the issuer sets no max-lifetime, or an issuerless one would verify it', () => {
    const now = Date.parse(T);
    const long = new Date(now - 365 * 86400_000).toISOString();
    const mixed = config(`  - { name: a, key-file: /a.pem, required-issuer: "${ISS}", max-lifetime: 1h }\n  - { name: b, key-file: /b.pem, required-issuer: "${ISS}" }\n`);
    assert.equal(new RevocationList(rules(before(long)), lifetimeBound(mixed), now).dead.length, 0);
    const issuerless = config('  - { name: a, key-file: /a.pem }\n');
    assert.equal(new RevocationList(rules(before(long)), lifetimeBound(issuerless), now).dead.length, 0);
  });

  it('keeps a rule with a fractional issued-before while a token it revokes can still be accepted (whole-second time checks)', () => {
    const cfg = parseConfig(`clock-skew: 0s\nproviders:\n  - { name: a, key-file: /a.pem, required-issuer: "${ISS}", max-lifetime: 10s }\n`, '/c.yaml');
    // Issued 0.25 s before the rule's time, living the whole 10 s max-lifetime.
    const claims = { iss: ISS, sub: 'a', iat: T_S + 0.25, exp: T_S + 10.25 };
    const now = (T_S + 10.6) * 1000;
    const rules = { requiredIssuer: ISS, requiredAudience: [], clockSkewMs: 0, requireExpiration: false, maxLifetimeMs: 10_000 };
    assert.equal(checkClaims(claims, rules, now), undefined, 'exp is compared in whole seconds: still accepted');
    const list = new RevocationList(readRevocationRules({ rules: [{ iss: ISS, 'issued-before': '2026-11-29T00:00:00.5Z' }] }, 'r.json', []), lifetimeBound(cfg), now);
    assert.deepEqual(list.dead, []);
    assert.equal(matched(list, claims), 'rules[0] {iss, issued-before}');
  });

  it('drops rules naming an issuer no provider accepts, saying so', () => {
    const cfg = config(`  - { name: a, key-file: /a.pem, required-issuer: "${ISS}" }\n`);
    const list = new RevocationList(rules([{ iss: 'https://typo.test/', sub: 'a' }, { jti: 'j' }]), lifetimeBound(cfg));
    assert.deepEqual(list.dead.map((d) => [describeRule(d.rule), d.why]), [['rules[0] {iss, sub}', 'no provider accepts issuer "https://typo.test/", so it revokes nothing (issuers compare exactly, a trailing "/" included)']]);
    assert.equal(list.size, 1);
  });
});
