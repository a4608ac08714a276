import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileJavaRegex, type JavaRegex } from '../../src/identity/java-regex.js';

const compile = (pattern: string): JavaRegex => {
  const r = compileJavaRegex(pattern);
  assert.ok(!('error' in r), `unexpected error for ${pattern}: ${'error' in r ? r.error : ''}`);
  return r;
};
const matches = (pattern: string, input: string): boolean => compile(pattern).whole.test(input);
const finds = (pattern: string, input: string): boolean => {
  const re = compile(pattern).global;
  re.lastIndex = 0;
  return re.test(input);
};
const error = (pattern: string): string => {
  const r = compileJavaRegex(pattern);
  assert.ok('error' in r, `expected ${pattern} to be refused`);
  return r.error;
};

describe('compileJavaRegex: Java semantics in JavaScript', () => {
  it('anchors whole matching like Matcher.matches()', () => {
    assert.equal(matches('a|ab', 'ab'), true);
    assert.equal(matches('a', 'ba'), false);
  });
  it('keeps . away from all five Java line terminators, unless (?s)', () => {
    for (const t of ['\n', '\r', '\u0085', '\u2028', '\u2029']) {
      assert.equal(matches('.', t), false, JSON.stringify(t));
      assert.equal(matches('(?s).', t), true, JSON.stringify(t));
    }
    assert.equal(matches('.', '😀'), true);
  });
  it('translates $, \\Z, \\z and \\A', () => {
    assert.equal(finds('a$', 'a\n'), true);
    assert.equal(finds('a\\Z', 'a\r\n'), true);
    assert.equal(finds('a$', 'a\n\n'), false);
    assert.equal(finds('a\\z', 'a\n'), false);
    assert.equal(finds('\\Aa', 'ba'), false);
    assert.equal(matches('\\Aab\\z', 'ab'), true);
  });
  it('keeps \\s ASCII-only and translates \\h, \\v, \\R', () => {
    assert.equal(matches('\\s', '\u00a0'), false);
    assert.equal(matches('\\S', '\u00a0'), true);
    assert.equal(matches('[\\S]', ' '), false);
    assert.equal(matches('\\h', '\u00a0'), true);
    assert.equal(matches('\\v', '\u0085'), true);
    assert.equal(matches('a\\Rb', 'a\r\nb'), true);
  });
  it('keeps POSIX classes ASCII-only and maps Unicode properties', () => {
    assert.equal(matches('\\p{Alpha}', 'é'), false);
    assert.equal(matches('\\P{Alpha}', 'é'), true);
    assert.equal(matches('[\\p{Digit}x]+', '1x2'), true);
    assert.equal(matches('\\p{L}\\pL\\p{IsL}', 'éaß'), true);
    assert.equal(matches('\\p{IsLatin}\\p{sc=Greek}', 'aα'), true);
  });
  it('supports Java-only escapes and literals', () => {
    assert.equal(matches('\\Q.*\\E', '.*'), true);
    assert.equal(matches('\\Q.*\\E', 'ab'), false);
    assert.equal(matches('a\\@b\\#c', 'a@b#c'), true);
    assert.equal(matches('\\e\\a', '\u001b\u0007'), true);
    assert.equal(matches('\\x{1F600}\\0101', '😀A'), true);
    assert.equal(matches('\\cA', '\u0001'), true);
    assert.equal(matches('a}]', 'a}]'), true);
    assert.equal(matches('[]a]+', ']a'), true);
    assert.equal(matches('[^]a]', 'b'), true);
  });
  it('reads back references with Java digit rules', () => {
    assert.equal(matches('(a)\\11', 'aa1'), true);
    assert.equal(matches('(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10', 'abcdefghijj'), true);
  });
  it('turns a leading (?i) into case-insensitive matching', () => {
    assert.equal(matches('(?i)abc', 'ABC'), true);
    assert.equal(matches('(?iu)é', 'É'), true);
  });
  it('keeps quantifiers, lazy quantifiers and lookarounds', () => {
    assert.equal(matches('a{2,3}?b+?(?=c)c(?<=c)', 'aabc'), true);
  });
  it('counts groups and numbers named groups', () => {
    const r = compile('(a)(?:b)(?<user>c)[(](?<region>d)\\(');
    assert.equal(r.groupCount, 3);
    assert.deepEqual([...r.groupNames], [['user', 2], ['region', 3]]);
  });
});

describe('compileJavaRegex: refused syntax', () => {
  it('refuses what JavaScript cannot express, with a reason', () => {
    assert.match(error('a++'), /possessive/);
    assert.match(error('a*+'), /possessive/);
    assert.match(error('a{2}+'), /possessive/);
    assert.match(error('(?>a)'), /atomic/);
    assert.match(error('[a[b]]'), /nested character classes/);
    assert.match(error('[a&&b]'), /intersections/);
    assert.match(error('a(?i)b'), /only supported at the very start/);
    assert.match(error('(?i:a)'), /only supported at the very start/);
    assert.match(error('(?m)a'), /\(\?m\) is not supported/);
    assert.match(error('(?x)a'), /\(\?x\) is not supported/);
    assert.match(error('(?<user_name>a)'), /invalid group name/);
    assert.match(error('(?<a>x)(?<a>y)'), /defined twice/);
    assert.match(error('\\Ga'), /\\G is not supported/);
    assert.match(error('\\p{InGreek}'), /blocks/);
    assert.match(error('[\\P{Alpha}]'), /inside a character class/);
    assert.match(error('a\\'), /trailing/);
    assert.match(error('\\0'), /octal/);
  });
  it('reports JavaScript syntax errors without the translated source', () => {
    assert.equal(error('(a'), 'Unterminated group');
    assert.equal(error('a)'), "Unmatched ')'");
    assert.equal(error('*a'), 'Nothing to repeat');
  });
});
