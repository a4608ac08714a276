/**
 * Claim and scope requirements (SPEC §14): authorization after authentication. A route's
 * `require` is compiled once per config generation; a `context_extensions` value
 * (`jwt.require-scopes`, `jwt.require-claims`) is compiled once per distinct string and kept in
 * a bounded memo, so no check parses JSON or splits strings. Checked against the verified
 * identity's claims on every check, verified-token cache hits included.
 */
import type { RouteRequireConfig } from '../config/types.js';
import { reject, Rejection } from '../reasons.js';
import { BoundedMap } from '../util/bounded-map.js';
import { SCOPE_TOKEN } from '../util/strings.js';

/** context_extensions keys (SPEC §14); each replaces the route's value of the same setting. */
const REQUIRE_SCOPES_KEY = 'jwt.require-scopes';
const REQUIRE_CLAIMS_KEY = 'jwt.require-claims';

/** Distinct context_extensions values kept compiled: Envoy's route config has a few. */
const MAX_EXT_VALUES = 256;
/** A longer value is a proxy misconfiguration, refused rather than parsed. */
const MAX_EXT_CHARS = 4096;

/**
 * Rejections by provider, built on first use: a flood of insufficient tokens reuses them (and
 * the deny answers cached by message).
 */
class Denials {
  private readonly byProvider = new Map<string, (Rejection | undefined)[]>();
  constructor(private readonly make: (i: number, provider: string) => Rejection) {}
  get(i: number, provider: string): Rejection {
    let list = this.byProvider.get(provider);
    if (list === undefined) {
      list = [];
      this.byProvider.set(provider, list);
    }
    return (list[i] ??= this.make(i, provider));
  }
}

/** Every listed scope must be in the token's `scope` (space-separated) or `scp` (string or list). */
class ScopeRequirement {
  /** Every required scope, space-separated: the challenge's `scope` (RFC 6750 §3.1). */
  readonly scope: string;
  private readonly denials: Denials;

  constructor(readonly scopes: readonly string[]) {
    this.scope = scopes.join(' ');
    this.denials = new Denials((i, provider) =>
      new Rejection('insufficient_scope', `the token lacks the scope "${scopes[i] ?? ''}"`, provider, this.scope));
  }

  /** The first unmet scope's rejection, or undefined. */
  check(claims: Readonly<Record<string, unknown>>, provider: string): Rejection | undefined {
    const scope = claims['scope'];
    const scp = claims['scp'];
    for (let i = 0; i < this.scopes.length; i++) {
      const wanted = this.scopes[i] as string;
      if (typeof scope === 'string' && holdsWord(scope, wanted)) continue;
      if (typeof scp === 'string' ? holdsWord(scp, wanted) : Array.isArray(scp) && scp.includes(wanted)) continue;
      return this.denials.get(i, provider);
    }
    return undefined;
  }
}

/** `word` as one space-separated item of `list`, without splitting it. */
function holdsWord(list: string, word: string): boolean {
  for (let from = 0; ;) {
    const i = list.indexOf(word, from);
    if (i < 0) return false;
    const end = i + word.length;
    if ((i === 0 || list.charCodeAt(i - 1) === 0x20) && (end === list.length || list.charCodeAt(end) === 0x20)) return true;
    from = i + 1;
  }
}

interface ClaimRule {
  readonly path: string;
  /** The path's names when it has dots; a literal top-level name with dots wins (as for claim headers). */
  readonly parts: readonly string[] | undefined;
  readonly values: ReadonlySet<string>;
}

/** For every claim path, the claim (a string or a list of strings) must hold one listed value. */
class ClaimRequirement {
  private readonly denials: Denials;

  constructor(readonly rules: readonly ClaimRule[]) {
    this.denials = new Denials((i, provider) => {
      const rule = rules[i];
      const values = [...(rule?.values ?? [])].join(', ');
      return reject('claim_mismatch', `the claim "${rule?.path ?? ''}" holds none of: ${values}`, provider);
    });
  }

  static of(claims: Readonly<Record<string, readonly string[]>>): ClaimRequirement {
    return new ClaimRequirement(Object.entries(claims).map(([path, values]) => ({
      path,
      parts: path.includes('.') ? path.split('.') : undefined,
      values: new Set(values),
    })));
  }

  check(claims: Readonly<Record<string, unknown>>, provider: string): Rejection | undefined {
    for (let i = 0; i < this.rules.length; i++) {
      if (!holds(claims, this.rules[i] as ClaimRule)) return this.denials.get(i, provider);
    }
    return undefined;
  }
}

function holds(claims: Readonly<Record<string, unknown>>, rule: ClaimRule): boolean {
  let v: unknown = Object.hasOwn(claims, rule.path) ? claims[rule.path] : undefined;
  if (v === undefined && rule.parts !== undefined) {
    v = claims;
    for (const part of rule.parts) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, part)) return false;
      v = (v as Record<string, unknown>)[part];
    }
  }
  if (typeof v === 'string') return rule.values.has(v);
  if (!Array.isArray(v)) return false;
  for (const x of v) if (typeof x === 'string' && rule.values.has(x)) return true;
  return false;
}

/** A route's requirements, compiled (undefined parts: nothing required). */
export interface CompiledRequirements {
  readonly scopes: ScopeRequirement | undefined;
  readonly claims: ClaimRequirement | undefined;
}

export function compileRequirements(config: RouteRequireConfig | undefined): CompiledRequirements {
  const scopes = config?.scopes;
  const claims = config?.claims;
  return {
    scopes: scopes === undefined || scopes.length === 0 ? undefined : new ScopeRequirement(scopes),
    claims: claims === undefined || Object.keys(claims).length === 0 ? undefined : ClaimRequirement.of(claims),
  };
}

/** Both routes apply (SPEC §11's two readings): every scope of both, every claim rule of both. */
export function bothRequirements(a: CompiledRequirements, b: CompiledRequirements): CompiledRequirements {
  const scopes = a.scopes === undefined ? b.scopes : b.scopes === undefined ? a.scopes
    : new ScopeRequirement([...new Set([...a.scopes.scopes, ...b.scopes.scopes])]);
  const claims = a.claims === undefined ? b.claims : b.claims === undefined ? a.claims
    : new ClaimRequirement([...a.claims.rules, ...b.claims.rules]);
  return { scopes, claims };
}

/** For `verify`: what a route requires, as written; undefined when nothing. */
export function describeRequirements(r: CompiledRequirements): { scopes?: readonly string[]; claims?: Record<string, string[]> } | undefined {
  if (r.scopes === undefined && r.claims === undefined) return undefined;
  return {
    ...(r.scopes === undefined ? {} : { scopes: r.scopes.scopes }),
    ...(r.claims === undefined ? {} : { claims: Object.fromEntries(r.claims.rules.map((c) => [c.path, [...c.values]])) }),
  };
}

// ---------------------------------------------------------------------------------------
// context_extensions values

/** A proxy that sends a value we can not read is misconfigured: a clear 503 deny, never a guess. */
const badExt = (key: string, why: string): Rejection =>
  reject('internal_error', `context_extensions ${key} ${why}; the proxy configuration must be fixed`);
const TOO_LONG_SCOPES = badExt(REQUIRE_SCOPES_KEY, `is longer than ${MAX_EXT_CHARS} characters`);
const TOO_LONG_CLAIMS = badExt(REQUIRE_CLAIMS_KEY, `is longer than ${MAX_EXT_CHARS} characters`);

/** What "" (or `{}`) replaces the route's value with: nothing required. */
const NOTHING = null;
type Memo<T> = BoundedMap<string, T | Rejection | typeof NOTHING>;
const extScopes: Memo<ScopeRequirement> = new BoundedMap(MAX_EXT_VALUES);
const extClaims: Memo<ClaimRequirement> = new BoundedMap(MAX_EXT_VALUES);

function compileExtScopes(value: string): ScopeRequirement | Rejection | typeof NOTHING {
  const scopes = [...new Set(value.split(' ').filter((s) => s !== ''))];
  if (scopes.length === 0) return NOTHING;
  const bad = scopes.find((s) => !SCOPE_TOKEN.test(s));
  if (bad !== undefined) return badExt(REQUIRE_SCOPES_KEY, 'holds a character no scope may hold (RFC 6749: printable ASCII without ", \\ or space)');
  return new ScopeRequirement(scopes);
}

function compileExtClaims(value: string): ClaimRequirement | Rejection | typeof NOTHING {
  if (value.trim() === '') return NOTHING;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return badExt(REQUIRE_CLAIMS_KEY, 'is not JSON');
  }
  const shape = 'must be a JSON object of claim path to a list of strings, e.g. {"groups": ["ops"]}';
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return badExt(REQUIRE_CLAIMS_KEY, shape);
  const claims = new Map<string, readonly string[]>();
  for (const [path, v] of Object.entries(parsed)) {
    const values: unknown = typeof v === 'string' ? [v] : v;
    if (path === '' || !Array.isArray(values) || values.length === 0 || !values.every((x) => typeof x === 'string')) {
      return badExt(REQUIRE_CLAIMS_KEY, shape);
    }
    claims.set(path, values as string[]);
  }
  return claims.size === 0 ? NOTHING : ClaimRequirement.of(Object.fromEntries(claims));
}

function memoized<T>(memo: Memo<T>, value: string, tooLong: Rejection, compile: (v: string) => T | Rejection | typeof NOTHING): T | Rejection | undefined {
  let c = memo.get(value);
  if (c === undefined) {
    if (value.length > MAX_EXT_CHARS) return tooLong;
    c = compile(value);
    memo.set(value, c);
  }
  return c ?? undefined;
}

/**
 * The first unmet requirement for `claims`, verified by `provider`, on a route with `route`'s
 * requirements and `ext` (context_extensions, which replace the route's parts); undefined when
 * every one holds. Scopes are checked before claims.
 */
export function unmetRequirement(
  claims: Readonly<Record<string, unknown>>,
  provider: string,
  route: CompiledRequirements,
  ext: Readonly<Record<string, string>> | undefined,
): Rejection | undefined {
  let scopes: ScopeRequirement | Rejection | undefined = route.scopes;
  let required: ClaimRequirement | Rejection | undefined = route.claims;
  if (ext !== undefined) {
    const s = ext[REQUIRE_SCOPES_KEY];
    if (s !== undefined) scopes = memoized(extScopes, s, TOO_LONG_SCOPES, compileExtScopes);
    const c = ext[REQUIRE_CLAIMS_KEY];
    if (c !== undefined) required = memoized(extClaims, c, TOO_LONG_CLAIMS, compileExtClaims);
  }
  // A value the proxy got wrong is reported first, whatever the token holds.
  if (scopes instanceof Rejection) return scopes;
  if (required instanceof Rejection) return required;
  return scopes?.check(claims, provider) ?? required?.check(claims, provider);
}
