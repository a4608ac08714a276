/**
 * Trino's `UserMapping` (SPEC §5 step 4): ordered rules, the first whose pattern matches the
 * whole principal wins. Everything that could fail in Java at request time (bad regex, bad
 * replacement template) is found here, at load time, and reported as a ConfigError.
 */
import { isObject } from '../util/strings.js';
import { readFileSync } from 'node:fs';
import type { UserMappingConfig } from '../config/types.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { reject, type Rejection } from '../reasons.js';
import { compileJavaRegex } from './java-regex.js';
import { compileJavaTemplate, javaReplaceAll, type TemplatePart } from './java-template.js';
import { javaTrim } from '../util/strings.js';

export const USER_CASES = ['keep', 'lower', 'upper'] as const;
export type UserCase = (typeof USER_CASES)[number];

export interface UserMappingRule {
  readonly pattern: string;
  readonly user: string;
  readonly allow: boolean;
  readonly case: UserCase;
}

export interface UserMapper {
  readonly rules: readonly UserMappingRule[];
  /** The mapped user, or why not. Synchronous, never throws. */
  map(principal: string): string | Rejection;
}

// Trino's messages, shared instances so that a denial allocates nothing.
const NOT_ALLOWED = reject('user_not_allowed', 'Principal is not allowed');
const NO_MATCH = reject('user_mapping_failed', 'No user mapping patterns match the principal');
const EMPTY_USER = reject('user_mapping_failed', 'Principal matched, but mapped user is empty');
const FAILED = reject('internal_error', 'User mapping failed unexpectedly');

const DEFAULT_USER = '$1';
const RULE_KEYS: ReadonlySet<string> = new Set(['pattern', 'user', 'allow', 'case']);

interface CompiledRule {
  readonly whole: RegExp;
  readonly global: RegExp;
  readonly parts: readonly TemplatePart[];
  /** `(.*)` → `$1`: once the whole principal matched, replaceAll gives it back unchanged. */
  readonly identity: boolean;
  readonly allow: boolean;
  readonly case: UserCase;
}

/** Where a rule came from, to report its problems. */
interface RuleSource {
  readonly file: string;
  /** Key path of the rule's pattern and user, e.g. `rules[2].pattern`. */
  readonly patternKey: string;
  readonly userKey: string;
}

class RuleMapper implements UserMapper {
  constructor(
    readonly rules: readonly UserMappingRule[],
    private readonly compiled: readonly CompiledRule[],
  ) {}

  map(principal: string): string | Rejection {
    try {
      for (const rule of this.compiled) {
        if (!rule.whole.test(principal)) continue;
        if (!rule.allow) return NOT_ALLOWED;
        const user = javaTrim(rule.identity ? principal : javaReplaceAll(rule.global, principal, rule.parts));
        if (user === '') return EMPTY_USER;
        // Plain JS case mapping is locale-independent, like Java's Locale.ENGLISH.
        return rule.case === 'keep' ? user : rule.case === 'lower' ? user.toLowerCase() : user.toUpperCase();
      }
      return NO_MATCH;
    } catch {
      return FAILED; // fail closed (SPEC §8); nothing above is expected to throw
    }
  }
}

function compileRule(rule: UserMappingRule, src: RuleSource, problems: ConfigProblem[]): CompiledRule | undefined {
  const regex = compileJavaRegex(rule.pattern);
  if ('error' in regex) {
    problems.push({ file: src.file, key: src.patternKey, message: `invalid pattern ${JSON.stringify(rule.pattern)}: ${regex.error}` });
    return undefined;
  }
  // Trino ignores the template of a deny rule, so a broken one there is harmless.
  if (!rule.allow) return { whole: regex.whole, global: regex.global, parts: [], identity: false, allow: false, case: rule.case };
  const template = compileJavaTemplate(rule.user, regex.groupCount, regex.groupNames);
  if ('error' in template) {
    const what = src.userKey === src.patternKey
      ? `pattern ${JSON.stringify(rule.pattern)} with the user template "$1"` // `pattern` mode: $1 is implicit
      : `user ${JSON.stringify(rule.user)} for pattern ${JSON.stringify(rule.pattern)}`;
    const hint = regex.groupCount === 0 ? '; put the part that is the user in parentheses, e.g. (.*)@example\\.com' : '';
    problems.push({ file: src.file, key: src.userKey, message: `${what}: ${template.error}${hint}` });
    return undefined;
  }
  const identity = rule.pattern === '(.*)' && rule.user === DEFAULT_USER;
  return { whole: regex.whole, global: regex.global, parts: template.parts, identity, allow: true, case: rule.case };
}

const errnoText = (e: unknown): string => {
  const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? (e instanceof Error ? e.message : String(e));
};


/** Parses a Trino rules file (`UserMapping$UserMappingRules`): strict keys and types. */
function readRuleFile(
  path: string,
  where: { file: string; key: string },
  problems: ConfigProblem[],
  onRule: (index: number, rule: UserMappingRule) => void,
): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e: unknown) {
    problems.push({ file: where.file, key: `${where.key}.file`, message: `cannot read user mapping file ${path}: ${errnoText(e)}` });
    return;
  }
  const problem = (key: string, message: string): void => {
    problems.push({ file: path, key, message });
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text); // Jackson skips a BOM too
  } catch (e: unknown) {
    const message = e instanceof Error ? e.message : String(e);
    const at = /at position (\d+)/.exec(message)?.[1];
    const line = at === undefined ? undefined : text.slice(0, Number(at)).split('\n').length;
    problems.push({ file: path, key: '', ...(line === undefined ? {} : { line }), message: `invalid JSON: ${message}` });
    return;
  }
  if (!isObject(doc)) {
    problem('', 'expected a JSON object {"rules": [...]}');
    return;
  }
  for (const key of Object.keys(doc)) if (key !== 'rules') problem(key, `unknown key "${key}" (expected "rules")`);
  const list = doc['rules'];
  if (list === undefined || list === null) problem('rules', 'is required (a list of rules)');
  else if (!Array.isArray(list)) problem('rules', 'must be a list of rules');
  else if (list.length === 0) problem('rules', 'rules list is empty');
  if (!Array.isArray(list)) return;

  list.forEach((raw: unknown, i) => {
    const at = `rules[${i}]`;
    if (!isObject(raw)) {
      problem(at, 'must be an object with "pattern" and optional "user", "allow", "case"');
      return;
    }
    let ok = true;
    const bad = (key: string, message: string): void => {
      problem(`${at}.${key}`, message);
      ok = false;
    };
    for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) bad(key, `unknown key "${key}" (expected pattern, user, allow or case)`);
    // Trino reads user/allow/case as Optional, so an explicit null means the default.
    const { pattern, user = null, allow = null, case: userCase = null } = raw;
    if (pattern === undefined || pattern === null) bad('pattern', 'is required');
    else if (typeof pattern !== 'string') bad('pattern', 'must be a string (a Java regular expression)');
    if (user !== null && typeof user !== 'string') bad('user', 'must be a string (a replacement template such as "$1")');
    if (allow !== null && typeof allow !== 'boolean') bad('allow', 'must be true or false');
    const caseName = typeof userCase === 'string' ? userCase.toLowerCase() : undefined;
    const validCase = USER_CASES.find((c) => c === caseName);
    if (userCase !== null && validCase === undefined) bad('case', `must be one of ${USER_CASES.join(', ')} (any letter case)`);
    if (!ok || typeof pattern !== 'string') return;
    // Compiled right away, so problems come out in rule order.
    onRule(i, { pattern, user: typeof user === 'string' ? user : DEFAULT_USER, allow: allow !== false, case: validCase ?? 'keep' });
  });
}

/**
 * Builds the mapper: no pattern or file → the identity rule `(.*)` → `$1`; `pattern` → one rule
 * with user `$1`; `file` → the rules of a Trino JSON file (read synchronously). Throws one
 * ConfigError listing every problem.
 */
export function createUserMapper(cfg: UserMappingConfig, where: { file: string; key: string }): UserMapper {
  const problems: ConfigProblem[] = [];
  if (cfg.pattern !== undefined && cfg.file !== undefined) {
    problems.push({ file: where.file, key: where.key, message: 'user mapping pattern and file can not both be set' });
  }
  const compiled: CompiledRule[] = [];
  const rules: UserMappingRule[] = [];
  const add = (rule: UserMappingRule, src: RuleSource): void => {
    const c = compileRule(rule, src, problems);
    if (c !== undefined) compiled.push(c);
    rules.push(Object.freeze(rule));
  };
  if (cfg.pattern !== undefined) {
    const key = `${where.key}.pattern`;
    add({ pattern: cfg.pattern, user: DEFAULT_USER, allow: true, case: 'keep' }, { file: where.file, patternKey: key, userKey: key });
  }
  if (cfg.file !== undefined) {
    const path = cfg.file;
    readRuleFile(path, where, problems, (i, rule) => {
      add(rule, { file: path, patternKey: `rules[${i}].pattern`, userKey: `rules[${i}].user` });
    });
  }
  if (cfg.pattern === undefined && cfg.file === undefined) {
    add({ pattern: '(.*)', user: DEFAULT_USER, allow: true, case: 'keep' }, { file: where.file, patternKey: where.key, userKey: where.key });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return new RuleMapper(Object.freeze(rules), compiled);
}
