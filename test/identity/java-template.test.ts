import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileJavaTemplate, javaReplaceAll, type TemplatePart } from '../../src/identity/java-template.js';
import { javaTrim } from '../../src/util/strings.js';

const NONE: ReadonlyMap<string, number> = new Map();

const parts = (template: string, groups: number, names: ReadonlyMap<string, number> = NONE): readonly TemplatePart[] => {
  const r = compileJavaTemplate(template, groups, names);
  assert.ok('parts' in r, `unexpected error: ${JSON.stringify(r)}`);
  return r.parts;
};
const error = (template: string, groups: number, names: ReadonlyMap<string, number> = NONE): string => {
  const r = compileJavaTemplate(template, groups, names);
  assert.ok('error' in r, `expected an error for ${template}`);
  return r.error;
};

describe('compileJavaTemplate', () => {
  it('splits a template into literal and group parts, merging adjacent literals', () => {
    assert.deepEqual(parts('a\\$b$1c${n}', 2, new Map([['n', 2]])), ['a$b', 1, 'c', 2]);
    assert.deepEqual(parts('', 0), []);
    assert.deepEqual(parts('$0', 0), [0]);
  });
  it('takes the longest digit run that names an existing group', () => {
    assert.deepEqual(parts('$10', 1), [1, '0']);
    assert.deepEqual(parts('$10', 10), [10]);
    assert.deepEqual(parts('$123', 12), [12, '3']);
    assert.deepEqual(parts('$01', 1), [1]);
  });
  it('treats any escaped character literally', () => assert.deepEqual(parts('\\a\\\\\\{', 0), ['a\\{']));
  it('rejects what Java would throw on', () => {
    assert.match(error('$2', 1), /group 2, but the pattern has 1 capturing group$/);
    assert.match(error('$1', 0), /no capturing groups/);
    assert.match(error('$3', 2), /2 capturing groups/);
    assert.match(error('${nope}', 1, new Map([['user', 1]])), /no group named "nope"/);
    assert.match(error('$', 1), /group index is missing/);
    assert.match(error('$$', 1), /illegal group reference "\$\$" at offset 0/);
    assert.match(error('a$ ', 1), /illegal group reference "\$ " at offset 1/);
    assert.match(error('\\', 1), /character to be escaped is missing/);
    assert.match(error('${}', 1), /0 length name/);
    assert.match(error('${ab', 1, new Map([['ab', 1]])), /missing trailing "}"/);
    assert.match(error('${9a}', 1), /starts with a digit/);
  });
});

describe('javaReplaceAll', () => {
  const replace = (re: RegExp, input: string, template: string, groups: number): string =>
    javaReplaceAll(re, input, parts(template, groups));
  it('replaces every find() match including a trailing empty one', () => {
    assert.equal(replace(/(.*)/gu, 'alice', 'x$1', 1), 'xalicex');
    assert.equal(replace(/(.*?)/gu, 'abc', 'x$1', 1), 'xaxbxcx');
    assert.equal(replace(/(a|ab)/gu, 'ab', '$1-x', 1), 'a-xb');
  });
  it('inserts "" for a non-participating group', () => assert.equal(replace(/([^@]+)(@.*)?/gu, 'user', '$1$2', 2), 'user'));
  it('returns the input when nothing matches', () => assert.equal(replace(/(z)/gu, 'abc', '$1', 1), 'abc'));
  it('steps over an empty match by a whole code point', () => assert.equal(replace(/(.*?)/gu, '😀', 'x$1', 1), 'x😀x'));
});

describe('javaTrim', () => {
  it('strips chars <= U+0020 at both ends only', () => {
    assert.equal(javaTrim(' \t\n\r\u0000\u001f a b \u0001'), 'a b');
    assert.equal(javaTrim('   '), '');
    assert.equal(javaTrim('abc'), 'abc');
  });
  it('keeps NBSP and other Unicode spaces, unlike String.prototype.trim', () => {
    assert.equal(javaTrim('\u00a0a\u2003'), '\u00a0a\u2003');
    assert.equal(javaTrim('\ufeffa'), '\ufeffa');
  });
});
