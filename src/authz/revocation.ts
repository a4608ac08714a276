/**
 * Revocation rules (SPEC §14): parsed from a `{"rules": [...]}` file and compiled into maps, so
 * a check costs a few Map lookups however many rules there are, and allocates nothing.
 */
import type { Config } from '../config/types.js';
import type { ConfigProblem } from '../errors.js';
import { isObject } from '../util/strings.js';

/** The five rule shapes, as written in messages and `verify`. */
const RULE_SHAPES = ['{jti}', '{jti, iss}', '{iss, sub}', '{iss, sub, issued-before}', '{iss, issued-before}'] as const;
export type RuleShape = (typeof RULE_SHAPES)[number];

export interface RevocationRule {
  /** 0-based position in the file's `rules` list. */
  readonly index: number;
  readonly shape: RuleShape;
  readonly jti?: string;
  readonly iss?: string;
  readonly sub?: string;
  /** Epoch seconds: tokens with an older `iat`, or none, are revoked. */
  readonly issuedBefore?: number;
}

/** What the check asks; implemented by a compiled list and by the watched file. */
export interface Revocations {
  /** The rule that revokes a token with these (verified) claims, or undefined. Allocates nothing. */
  match(claims: Readonly<Record<string, unknown>>): RevocationRule | undefined;
}

/** `rules[3] {iss, sub, issued-before}`: the same index as a config error about that rule. */
export const describeRule = (rule: RevocationRule): string => `rules[${rule.index}] ${rule.shape}`;

const RULE_KEYS: ReadonlySet<string> = new Set(['jti', 'iss', 'sub', 'issued-before']);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** An RFC 3339 date-time (with `Z` or a numeric offset; no leap second) in epoch seconds, or undefined. */
export function parseRfc3339(s: string): number | undefined {
  const m = RFC3339.exec(s);
  if (m === null) return undefined;
  const n = (i: number): number => Number(m[i] ?? 0);
  const [year, month, day, hour, minute, second, offH, offM] = [n(1), n(2), n(3), n(4), n(5), n(6), n(9), n(10)];
  const days = (DAYS[month - 1] ?? 0) + (month === 2 && isLeap(year) ? 1 : 0);
  if (day < 1 || day > days || hour > 23 || minute > 59 || second > 59 || offH > 23 || offM > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // Date.UTC would read years below 100 as 19xx
  date.setUTCHours(hour, minute, second, 0);
  const offset = (m[8] === '-' ? -1 : 1) * (offH * 3600 + offM * 60);
  return date.getTime() / 1000 + Number(`0${m[7] ?? ''}`) - offset;
}

/**
 * Reads the rules of a parsed revocation file. Problems name `file` and the rule
 * (`rules[2].iss`), in the style of user-mapping files; a rule with a problem is left out.
 */
export function readRevocationRules(doc: unknown, file: string, problems: ConfigProblem[]): RevocationRule[] {
  const problem = (key: string, message: string): void => void problems.push({ file, key, message });
  if (!isObject(doc)) {
    problem('', 'expected a JSON object {"rules": [...]}');
    return [];
  }
  for (const key of Object.keys(doc)) if (key !== 'rules') problem(key, `unknown key "${key}" (expected "rules")`);
  const list = doc['rules'];
  if (list === undefined || list === null) problem('rules', 'is required (a list of rules; [] revokes nothing)');
  else if (!Array.isArray(list)) problem('rules', 'must be a list of rules');
  if (!Array.isArray(list)) return [];
  const rules: RevocationRule[] = [];
  list.forEach((raw: unknown, index) => {
    const at = `rules[${index}]`;
    if (!isObject(raw)) {
      problem(at, `must be an object, one of ${RULE_SHAPES.join(', ')}`);
      return;
    }
    let ok = true;
    const bad = (key: string, message: string): void => {
      problem(`${at}.${key}`, message);
      ok = false;
    };
    for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) bad(key, `unknown key "${key}" (expected jti, iss, sub or issued-before)`);
    const strings: Record<string, string> = {};
    for (const key of RULE_KEYS) {
      const v = raw[key];
      if (v === undefined) continue;
      if (typeof v !== 'string') bad(key, 'must be a string');
      else if (v === '') bad(key, 'must not be empty');
      else strings[key] = v;
    }
    const { jti, iss, sub } = strings;
    const before = strings['issued-before'];
    const issuedBefore = before === undefined ? undefined : parseRfc3339(before);
    if (before !== undefined && issuedBefore === undefined) {
      bad('issued-before', `${JSON.stringify(before)} is not an RFC 3339 date-time such as 2026-11-29T00:00:00Z`);
    }
    const keys = Object.keys(raw).filter((k) => RULE_KEYS.has(k));
    const shape = shapeOf(keys);
    if (shape === undefined) {
      problem(at, `{${keys.join(', ')}} is none of the rule shapes ${RULE_SHAPES.join(', ')}`);
      return;
    }
    if (!ok) return;
    rules.push(Object.freeze({
      index, shape,
      ...(jti === undefined ? {} : { jti }),
      ...(iss === undefined ? {} : { iss }),
      ...(sub === undefined ? {} : { sub }),
      ...(issuedBefore === undefined ? {} : { issuedBefore }),
    }));
  });
  return rules;
}

function shapeOf(keys: readonly string[]): RuleShape | undefined {
  const has = (k: string): boolean => keys.includes(k);
  if (has('jti')) return has('sub') || has('issued-before') ? undefined : has('iss') ? '{jti, iss}' : '{jti}';
  if (!has('iss')) return undefined;
  if (has('sub')) return has('issued-before') ? '{iss, sub, issued-before}' : '{iss, sub}';
  return has('issued-before') ? '{iss, issued-before}' : undefined;
}

/**
 * How long after its `iat` a token of issuer `iss` can still be accepted, in ms (max-lifetime
 * plus clock-skew of every provider that would verify it); undefined when some such provider
 * sets no max-lifetime; null when no provider would verify it at all.
 */
export type LifetimeBound = (iss: string) => number | undefined | null;

/** The bound for a config: the providers SPEC §5 step 2 would pick for `iss`. */
export function lifetimeBound(config: Config): LifetimeBound {
  const hasIssuer = (p: Config['providers'][number]): boolean => p.requiredIssuer !== undefined && p.requiredIssuer !== '';
  return (iss) => {
    const named = config.providers.filter((p) => hasIssuer(p) && p.requiredIssuer === iss);
    const accepting = named.length > 0 ? named : config.providers.filter((p) => !hasIssuer(p));
    if (accepting.length === 0) return null;
    let max = 0;
    for (const p of accepting) {
      if (p.maxLifetimeMs === undefined) return undefined;
      max = Math.max(max, p.maxLifetimeMs + (p.clockSkewMs ?? config.clockSkewMs));
    }
    return max;
  };
}

/** A rule that can never match a token the service would accept, and why. */
export interface DeadRule {
  readonly rule: RevocationRule;
  readonly why: string;
  /**
   * `expired`: every token it revoked has expired, it can go. `unknown-issuer`: it never
   * revoked anything, which an operator who wrote it rarely meant (a typo, a missing "/").
   */
  readonly kind: 'expired' | 'unknown-issuer';
}

/**
 * Why `rule` can never match a token the service accepts now or later, or undefined. Only
 * rules that bound the token's age can die: with `issued-before` T and every provider of the
 * issuer setting max-lifetime L (which requires exp and iat), an accepted token has
 * exp <= iat + L < T + L, so a second after T + L + clock-skew none is left (time checks
 * compare whole seconds). A rule naming an issuer no
 * provider accepts can never match either (usually a typo).
 */
function deadRule(rule: RevocationRule, bound: LifetimeBound, nowMs: number): Omit<DeadRule, 'rule'> | undefined {
  if (rule.iss === undefined) return undefined;
  const b = bound(rule.iss);
  if (b === null) {
    return { kind: 'unknown-issuer', why: `no provider accepts issuer ${JSON.stringify(rule.iss)}, so it revokes nothing (issuers compare exactly, a trailing "/" included)` };
  }
  if (rule.issuedBefore === undefined || b === undefined) return undefined;
  // + 1 s: checkClaims compares exp with the current whole second, so a token can outlive
  // exp + clock-skew by up to a second (and issued-before and iat may hold fractions).
  const deadAt = rule.issuedBefore * 1000 + b + 1000;
  return nowMs >= deadAt
    ? { kind: 'expired', why: `every token it revokes expired by ${new Date(deadAt).toISOString()} (issued-before + max-lifetime + clock-skew + 1 s)` }
    : undefined;
}

interface JtiEntry {
  /** A `{jti}` rule: every issuer. */
  any: RevocationRule | undefined;
  /** `{jti, iss}` rules by issuer. */
  byIss: Map<string, RevocationRule> | undefined;
}

/** Of two rules on the same key, the one that revokes more: no `issued-before`, else the later one. */
const wider = (a: RevocationRule | undefined, b: RevocationRule): RevocationRule =>
  a === undefined ? b
  : a.issuedBefore === undefined ? a
  : b.issuedBefore === undefined || b.issuedBefore > a.issuedBefore ? b
  : a;

/** Revoked by a rule with `issued-before` (or none): `iat` older than it, or no `iat`. */
const issuedBeforeMatches = (rule: RevocationRule, iat: unknown): boolean =>
  rule.issuedBefore === undefined || typeof iat !== 'number' || iat < rule.issuedBefore;

/** The compiled rules of one version of the file. */
export class RevocationList implements Revocations {
  private readonly byJti = new Map<string, JtiEntry>();
  /** iss → sub → the widest `{iss, sub}` / `{iss, sub, issued-before}` rule. */
  private readonly bySub = new Map<string, Map<string, RevocationRule>>();
  /** iss → the latest `{iss, issued-before}` rule. */
  private readonly byIss = new Map<string, RevocationRule>();
  /** Rules that take part in matching. */
  readonly size: number;
  /** Rules left out because they can never match (see deadRule). */
  readonly dead: readonly DeadRule[];

  constructor(rules: readonly RevocationRule[], bound?: LifetimeBound, nowMs = Date.now()) {
    const dead: DeadRule[] = [];
    let size = 0;
    for (const rule of rules) {
      const d = bound === undefined ? undefined : deadRule(rule, bound, nowMs);
      if (d !== undefined) {
        dead.push({ rule, ...d });
        continue;
      }
      size++;
      this.add(rule);
    }
    this.size = size;
    this.dead = dead;
  }

  private add(rule: RevocationRule): void {
    const { jti, iss, sub } = rule;
    if (jti !== undefined) {
      let e = this.byJti.get(jti);
      if (e === undefined) this.byJti.set(jti, (e = { any: undefined, byIss: undefined }));
      if (iss === undefined) e.any ??= rule;
      else if (!(e.byIss ??= new Map()).has(iss)) e.byIss.set(iss, rule);
    } else if (iss !== undefined && sub !== undefined) {
      let subs = this.bySub.get(iss);
      if (subs === undefined) this.bySub.set(iss, (subs = new Map()));
      subs.set(sub, wider(subs.get(sub), rule));
    } else if (iss !== undefined) {
      this.byIss.set(iss, wider(this.byIss.get(iss), rule));
    }
  }

  match(claims: Readonly<Record<string, unknown>>): RevocationRule | undefined {
    if (this.size === 0) return undefined;
    const iss = claims['iss'];
    if (this.byJti.size > 0) {
      const jti = claims['jti'];
      const e = typeof jti === 'string' ? this.byJti.get(jti) : undefined;
      if (e !== undefined) {
        if (e.any !== undefined) return e.any;
        const r = typeof iss === 'string' ? e.byIss?.get(iss) : undefined;
        if (r !== undefined) return r;
      }
    }
    if (typeof iss !== 'string') return undefined;
    const sub = claims['sub'];
    const r = typeof sub === 'string' ? this.bySub.get(iss)?.get(sub) : undefined;
    if (r !== undefined && issuedBeforeMatches(r, claims['iat'])) return r;
    const all = this.byIss.get(iss);
    return all !== undefined && issuedBeforeMatches(all, claims['iat']) ? all : undefined;
  }
}

/** Nothing is revoked (no `revocations` configured). */
export const NO_REVOCATIONS: Revocations = new RevocationList([]);
