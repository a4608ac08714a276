import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { UserMappingConfig } from '../../src/config/types.js';
import { ConfigError, type ConfigProblem } from '../../src/errors.js';
import { createUserMapper, type UserMapper } from '../../src/identity/user-mapping.js';
import { Rejection } from '../../src/reasons.js';

const CONFIG = '/etc/jwt-ext-authz/config.yaml';
const WHERE = { file: CONFIG, key: 'providers[0].user-mapping' };
const dir = mkdtempSync(join(tmpdir(), 'jwt-ext-authz-user-mapping-'));
let files = 0;

/** Writes a rule file (an object is JSON-encoded, a string written as is) and returns its path. */
const ruleFile = (content: unknown): string => {
  const path = join(dir, `rules-${files++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};
const fromRules = (rules: unknown[]): UserMapper => createUserMapper({ file: ruleFile({ rules }) }, WHERE);

const NOT_ALLOWED = { reason: 'user_not_allowed', message: 'Principal is not allowed' };
const NO_MATCH = { reason: 'user_mapping_failed', message: 'No user mapping patterns match the principal' };
const EMPTY = { reason: 'user_mapping_failed', message: 'Principal matched, but mapped user is empty' };

const assertDenied = (result: string | Rejection, expected: { reason: string; message: string }): void => {
  assert.ok(result instanceof Rejection, `expected a rejection, got ${JSON.stringify(result)}`);
  assert.equal(result.reason, expected.reason);
  assert.equal(result.message, expected.message);
};

/** Runs createUserMapper and returns the problems of the ConfigError it must throw. */
const problemsOf = (cfg: UserMappingConfig): readonly ConfigProblem[] => {
  try {
    createUserMapper(cfg, WHERE);
  } catch (e: unknown) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
};
const ruleProblems = (rules: unknown[]): readonly ConfigProblem[] => problemsOf({ file: ruleFile({ rules }) });

describe('Trino docs user-mapping example (four rules)', () => {
  const mapper = fromRules([
    { pattern: 'test@example\\.com', allow: false },
    { pattern: '(.+)@example\\.com' },
    { pattern: '(?<user>.+)@(?<region>.+)\\.example\\.com', user: '${user}_${region}' },
    { pattern: '(.*)@uppercase.com', case: 'upper' },
  ]);

  it('maps apple@example.com to apple', () => assert.equal(mapper.map('apple@example.com'), 'apple'));
  it('maps regional addresses with named groups to apple_uk and apple_de', () => {
    assert.equal(mapper.map('apple@uk.example.com'), 'apple_uk');
    assert.equal(mapper.map('apple@de.example.com'), 'apple_de');
  });
  it('denies apple@unknown.com with user_mapping_failed', () => assertDenied(mapper.map('apple@unknown.com'), NO_MATCH));
  it('denies test@example.com with user_not_allowed under the docs example rules', () =>
    assertDenied(mapper.map('test@example.com'), NOT_ALLOWED));
  it('upper-cases test@uppercase.com to TEST', () => assert.equal(mapper.map('test@uppercase.com'), 'TEST'));
  it('exposes the rules with defaults filled in, in file order', () => {
    assert.deepEqual(mapper.rules, [
      { pattern: 'test@example\\.com', user: '$1', allow: false, case: 'keep' },
      { pattern: '(.+)@example\\.com', user: '$1', allow: true, case: 'keep' },
      { pattern: '(?<user>.+)@(?<region>.+)\\.example\\.com', user: '${user}_${region}', allow: true, case: 'keep' },
      { pattern: '(.*)@uppercase.com', user: '$1', allow: true, case: 'upper' },
    ]);
  });
});

describe("Trino's test resource rules (user-mapping.json)", () => {
  const mapper = fromRules([
    { pattern: '(.+?)@example.com', user: '$1_file' },
    { pattern: 'test', allow: false },
    { pattern: '(.*)' },
  ]);
  it('maps test@example.com to test_file with a lazy group', () => assert.equal(mapper.map('test@example.com'), 'test_file'));
  it('lets the unescaped dot match any character', () => assert.equal(mapper.map('test@exampleXcom'), 'test_file'));
  it('passes other principals through the catch-all rule', () => {
    assert.equal(mapper.map('user'), 'user');
    assert.equal(mapper.map('user@invalid.com'), 'user@invalid.com');
  });
  it('denies exactly "test" with user_not_allowed', () => assertDenied(mapper.map('test'), NOT_ALLOWED));
  it('denies the empty principal with "mapped user is empty"', () => assertDenied(mapper.map(''), EMPTY));
});

describe('default identity mapping (no pattern, no file)', () => {
  const mapper = createUserMapper({}, WHERE);
  it('is the single rule (.*) -> $1', () =>
    assert.deepEqual(mapper.rules, [{ pattern: '(.*)', user: '$1', allow: true, case: 'keep' }]));
  it('returns the principal unchanged', () => assert.equal(mapper.map('alice@example.com'), 'alice@example.com'));
  it('trims spaces, tabs and control characters like Java String.trim', () =>
    assert.equal(mapper.map(' \t\u0001alice \u0000\u001f'), 'alice'));
  it('keeps a no-break space, which Java trim does not strip', () => assert.equal(mapper.map('\u00a0alice\u00a0'), '\u00a0alice\u00a0'));
  it('rejects a principal with a line terminator, which Java . does not match', () => {
    for (const p of ['ali\nce', 'alice\n', 'ali\rce', 'ali\u0085ce', 'ali\u2028ce', 'ali\u2029ce']) assertDenied(mapper.map(p), NO_MATCH);
  });
  it('denies an empty or blank principal with "mapped user is empty"', () => {
    assertDenied(mapper.map(''), EMPTY);
    assertDenied(mapper.map(' \t '), EMPTY);
  });
  it('keeps characters outside the BMP and lone surrogates', () => {
    assert.equal(mapper.map('😀 user'), '😀 user');
    assert.equal(mapper.map('a\ud800b'), 'a\ud800b');
  });
});

describe('pattern mapping', () => {
  const mapper = createUserMapper({ pattern: '(.*)@example\\.com' }, WHERE);
  it('is one rule with user $1', () =>
    assert.deepEqual(mapper.rules, [{ pattern: '(.*)@example\\.com', user: '$1', allow: true, case: 'keep' }]));
  it('maps alice@example.com to alice', () => assert.equal(mapper.map('alice@example.com'), 'alice'));
  it('requires the pattern to match the whole principal', () => {
    assertDenied(mapper.map('alice@example.com.evil.org'), NO_MATCH);
    assertDenied(mapper.map('alice@example.org'), NO_MATCH);
  });
  it('supports a leading (?i) as case-insensitive matching', () =>
    assert.equal(createUserMapper({ pattern: '(?i)(.*)@EXAMPLE\\.com' }, WHERE).map('bob@example.COM'), 'bob'));
});

describe('replacement with Java Matcher.replaceAll semantics', () => {
  const one = (pattern: string, user: string, principal: string): string | Rejection =>
    fromRules([{ pattern, user }]).map(principal);
  it('replaces the trailing empty match too: (.*) with x$1 on alice gives xalicex', () => assert.equal(one('(.*)', 'x$1', 'alice'), 'xalicex'));
  it('replaces every empty match of a lazy group: (.*?) with x$1 on abc gives xaxbxcx', () => assert.equal(one('(.*?)', 'x$1', 'abc'), 'xaxbxcx'));
  it('uses find semantics, not the whole match: (a|ab) with $1-x on ab gives a-xb', () => assert.equal(one('(a|ab)', '$1-x', 'ab'), 'a-xb'));
  it('inserts "" for a group that did not take part', () => assert.equal(one('([^@]+)(@.*)?', '$1$2', 'user'), 'user'));
  it('reads $10 as group 1 then "0" when there is one group', () => assert.equal(one('(.+)', '$10', 'ab'), 'ab0'));
  it('reads $10 as group 10 when there are ten groups', () =>
    assert.equal(one('(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)', '$10$1', 'abcdefghij'), 'ja'));
  it('takes \\$ and \\\\ literally', () => assert.equal(one('(.+)', '\\$$1\\\\', 'ab'), '$ab\\'));
  it('supports $0 as the whole match', () => assert.equal(one('(.+)@x', '$0!', 'a@x'), 'a@x!'));
  it('trims the result after replacing', () => assert.equal(one('(.+)', '  $1\t', 'bob'), 'bob'));
  it('denies a result that is empty after trimming', () => assertDenied(one('(.*)@x', ' ', 'bob@x'), EMPTY));
  it('ignores the template of a deny rule, even an invalid one', () => {
    const mapper = fromRules([{ pattern: 'root', user: '$$ $9 ${x} \\', allow: false }, { pattern: '(.*)' }]);
    assertDenied(mapper.map('root'), NOT_ALLOWED);
    assert.equal(mapper.map('bob'), 'bob');
  });
  it('uses the first matching rule only', () =>
    assert.equal(fromRules([{ pattern: '(.*)@a', user: 'first' }, { pattern: '(.*)@a', user: 'second' }]).map('x@a'), 'first'));
});

describe('case', () => {
  it('accepts keep, lower and upper in any letter case', () => {
    const mapper = fromRules([
      { pattern: '(.*)@u', case: 'UPPER' },
      { pattern: '(.*)@l', case: 'Lower' },
      { pattern: '(.*)@k', case: 'kEeP' },
    ]);
    assert.deepEqual(mapper.rules.map((r) => r.case), ['upper', 'lower', 'keep']);
    assert.equal(mapper.map('Bob@u'), 'BOB');
    assert.equal(mapper.map('Bob@l'), 'bob');
    assert.equal(mapper.map('Bob@k'), 'Bob');
  });
  it('upper-cases straße to STRASSE like Java', () => assert.equal(fromRules([{ pattern: '(.*)', case: 'upper' }]).map('straße'), 'STRASSE'));
  it('applies case after trimming and after the empty check', () =>
    assert.equal(fromRules([{ pattern: '(.*)', case: 'lower' }]).map('  ALICE '), 'alice'));
});

describe('config errors', () => {
  it('refuses pattern and file together', () => {
    const problems = problemsOf({ pattern: '(.*)', file: ruleFile({ rules: [{ pattern: '(.*)' }] }) });
    assert.deepEqual(problems, [{ file: CONFIG, key: WHERE.key, message: 'user mapping pattern and file can not both be set' }]);
  });
  it('refuses a pattern without a group, since the user is $1', () => {
    const [p, ...rest] = problemsOf({ pattern: 'alice' });
    assert.equal(rest.length, 0);
    assert.equal(p?.file, CONFIG);
    assert.equal(p?.key, 'providers[0].user-mapping.pattern');
    assert.match(p?.message ?? '', /^pattern "alice" with the user template "\$1": "\$1" refers to group 1, but the pattern has no capturing groups/);
  });
  it('refuses Java regex syntax JavaScript cannot run, naming the pattern', () => {
    for (const [pattern, message] of [
      ['(a++)', /possessive/],
      ['(?>a)(b)', /atomic/],
      ['(a', /Unterminated group/],
      ['[a-z&&[^q]](.*)', /nested character classes|intersections/],
    ] as const) {
      const [p] = problemsOf({ pattern });
      assert.equal(p?.key, 'providers[0].user-mapping.pattern');
      assert.ok(p?.message.startsWith(`invalid pattern ${JSON.stringify(pattern)}: `), p?.message);
      assert.match(p?.message ?? '', message);
    }
  });

  it('refuses every broken replacement template in an allow rule, at rules[i].user', () => {
    const cases = [
      ['(.*)', '$2', /"\$2" refers to group 2, but the pattern has 1 capturing group/],
      ['(?<a>.*)', '${nope}', /no group named "nope"/],
      ['(.*)', 'x$', /lone "\$" at the end: group index is missing/],
      ['(.*)', '$$1', /illegal group reference "\$\$"/],
      ['(.*)', '$x', /illegal group reference "\$x"/],
      ['(.*)', 'x\\', /trailing "\\": character to be escaped is missing/],
      ['(.*)', '${}', /0 length name/],
      ['(?<ab>.*)', '${a_b}', /missing trailing "}"/],
      ['(?<ab>.*)', '${1a}', /starts with a digit/],
      ['.*', '$1', /refers to group 1, but the pattern has no capturing groups/],
    ] as const;
    const problems = ruleProblems(cases.map(([pattern, user]) => ({ pattern, user })));
    assert.equal(problems.length, cases.length);
    cases.forEach(([, , message], i) => {
      assert.equal(problems[i]?.key, `rules[${i}].user`);
      assert.match(problems[i]?.message ?? '', message);
    });
  });

  it('reports every rule file problem at once, naming the file and the key', () => {
    const path = ruleFile({
      extra: 1,
      rules: [
        { pattern: '(.*)', colour: 'red' },
        { user: '$1' },
        { pattern: null },
        { pattern: 5, user: 7, allow: 'true', case: 'title' },
        'not a rule',
        { pattern: '(a++)' },
        { pattern: '(.*)', case: 1 },
      ],
    });
    assert.deepEqual(problemsOf({ file: path }), [
      { file: path, key: 'extra', message: 'unknown key "extra" (expected "rules")' },
      { file: path, key: 'rules[0].colour', message: 'unknown key "colour" (expected pattern, user, allow or case)' },
      { file: path, key: 'rules[1].pattern', message: 'is required' },
      { file: path, key: 'rules[2].pattern', message: 'is required' },
      { file: path, key: 'rules[3].pattern', message: 'must be a string (a Java regular expression)' },
      { file: path, key: 'rules[3].user', message: 'must be a string (a replacement template such as "$1")' },
      { file: path, key: 'rules[3].allow', message: 'must be true or false' },
      { file: path, key: 'rules[3].case', message: 'must be one of keep, lower, upper (any letter case)' },
      { file: path, key: 'rules[4]', message: 'must be an object with "pattern" and optional "user", "allow", "case"' },
      { file: path, key: 'rules[5].pattern', message: 'invalid pattern "(a++)": possessive quantifiers (such as a++ or a*+) are not supported' },
      { file: path, key: 'rules[6].case', message: 'must be one of keep, lower, upper (any letter case)' },
    ]);
  });

  it('refuses a missing, non-list or empty rules list', () => {
    for (const [doc, message] of [
      [{}, 'is required (a list of rules)'],
      [{ rules: null }, 'is required (a list of rules)'],
      [{ rules: {} }, 'must be a list of rules'],
      [{ rules: [] }, 'rules list is empty'],
    ] as const) {
      const path = ruleFile(doc);
      assert.deepEqual(problemsOf({ file: path }), [{ file: path, key: 'rules', message }]);
    }
  });

  it('refuses a file that is not a JSON object', () => {
    const path = ruleFile('[]');
    assert.deepEqual(problemsOf({ file: path }), [{ file: path, key: '', message: 'expected a JSON object {"rules": [...]}' }]);
  });

  it('refuses invalid JSON with the line when known', () => {
    const path = ruleFile('{\n  "rules": [\n    {"pattern": "(.*)",}\n  ]\n}');
    const [p, ...rest] = problemsOf({ file: path });
    assert.equal(rest.length, 0);
    assert.equal(p?.file, path);
    assert.equal(p?.line, 3);
    assert.match(p?.message ?? '', /^invalid JSON: /);
    const trailing = ruleFile('{"rules": [{"pattern": "(.*)"}]} x');
    assert.match(problemsOf({ file: trailing })[0]?.message ?? '', /^invalid JSON: /);
  });

  it('refuses a missing file, naming it under the config key', () => {
    const path = join(dir, 'does-not-exist.json');
    assert.deepEqual(problemsOf({ file: path }), [
      { file: CONFIG, key: 'providers[0].user-mapping.file', message: `cannot read user mapping file ${path}: no such file` },
    ]);
    assert.match(problemsOf({ file: dir })[0]?.message ?? '', /is a directory/);
  });

  it('accepts explicit nulls as defaults and a UTF-8 byte order mark', () => {
    const path = ruleFile(`\ufeff${JSON.stringify({ rules: [{ pattern: '(.*)', user: null, allow: null, case: null }] })}`);
    const mapper = createUserMapper({ file: path }, WHERE);
    assert.deepEqual(mapper.rules, [{ pattern: '(.*)', user: '$1', allow: true, case: 'keep' }]);
  });
});

describe('map robustness', () => {
  it('never throws on odd principals', () => {
    const mapper = fromRules([{ pattern: '(?<u>[^@]*)@(.*)', user: '${u}$2' }, { pattern: '(.*?)', user: 'x$1' }]);
    for (const p of ['', '@', '\ud83d', '\ude00x', 'a'.repeat(10000), '😀@😀', '\u0000@\u0000']) {
      const result = mapper.map(p);
      assert.ok(typeof result === 'string' || result instanceof Rejection);
    }
    assert.equal(mapper.map('😀'), 'x😀x');
  });
  it('is repeatable: the global regex state is reset between calls', () => {
    const mapper = fromRules([{ pattern: '(.+)@(.+)', user: '$2.$1' }]);
    for (let i = 0; i < 3; i++) assert.equal(mapper.map('bob@corp'), 'corp.bob');
  });
});
