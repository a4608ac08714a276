/**
 * The route table of SPEC §11, compiled once per config generation.
 *
 * Matching reads the request path two ways (src/util/url-path.ts): as Envoy normalises it, and
 * as the most liberal upstream could. Each reading picks its first matching route; when they
 * pick different routes, both apply: a token is needed unless both allow a missing one, and it
 * must come from a provider both accept. So spelling a path differently (`/ADMIN`, `/admin;x`,
 * `/admin%2Fx`, `/public/..;/admin`) never gets less checking than the path it may stand for.
 *
 * Cheap on the hot path: no routes, nothing to do; no route with a path condition, the path is
 * never normalised; a plain lower-case path is read once; the candidates for a path come from
 * an index by first segment; results, combined ones included, are objects built here, once.
 */
import type { RouteConfig } from '../config/types.js';
import { headerValue, requestPath, type HttpRequestAttributes } from '../envoy/check-request.js';
import type { Rejection } from '../reasons.js';
import { BoundedMap } from '../util/bounded-map.js';
import { bothRequirements, compileRequirements, type CompiledRequirements } from './requirements.js';
import { canonicalHost, envoyPath, hasOneReading, lenientPath, opaqueSeparatorPath } from '../util/url-path.js';

/** What a route decides, after the table (and, in decide.ts, context_extensions) had their say. */
export interface RouteSettings {
  /** The route's name, `routes[N]`, both names joined by `+`; undefined when no route matched. */
  readonly label: string | undefined;
  readonly allowMissing: boolean;
  /** Only these providers may accept the token; undefined: every provider. */
  readonly providers: ReadonlySet<string> | undefined;
  /** Scopes and claims the verified token must hold (SPEC §14). */
  readonly require: CompiledRequirements;
  /** A would-be deny is answered as an allow without identity, and counted (SPEC §14). */
  readonly reportOnly: boolean;
}

const NO_REQUIREMENTS: CompiledRequirements = Object.freeze(compileRequirements(undefined));

/**
 * No route matched (or there is no table): every provider, token required, enforced. Also what
 * a request that could not be checked at all is answered under, so never report-only.
 */
export const DEFAULT_ROUTE: RouteSettings = Object.freeze({
  label: undefined, allowMissing: false, providers: undefined, require: NO_REQUIREMENTS, reportOnly: false,
});
/**
 * Whether report-only answers this deny as an allow (SPEC §14). Never an internal_error: SPEC
 * §8 fails closed on every one (an exception, a proxy sending what cannot be read), so a dry
 * run does not let through what the service could not judge.
 */
export const reportsOnly = (route: RouteSettings, rejection: Rejection): boolean =>
  route.reportOnly && rejection.reason !== 'internal_error';
/** How the default shows in a combined label and in verify. */
export const DEFAULT_LABEL = '(default)';
const MAX_COMBINED = 1024;

type PathRule = { readonly exact: string } | { readonly base: string; readonly baseSlash: string };

interface Compiled {
  readonly index: number;
  readonly settings: RouteSettings;
  readonly hosts: ReadonlySet<string> | undefined;
  /** `.example.com` for `*.example.com`. */
  readonly suffixes: readonly string[];
  readonly methods: ReadonlySet<string> | undefined;
  /** The path rule in the Envoy reading [0] and the lenient reading [1]. */
  readonly paths: readonly [PathRule | undefined, PathRule | undefined];
}

/** One reading's index: the candidates for a path by its first segment, in table order. */
interface Index {
  readonly byFirst: ReadonlyMap<string, readonly Compiled[]>;
  /** Routes whose path condition does not pin a first segment (none, or prefix `/`). */
  readonly anyFirst: readonly Compiled[];
}

function pathRule(prefix: string | undefined, exact: string | undefined, read: (p: string) => string): PathRule | undefined {
  if (exact !== undefined) return { exact: read(exact) };
  if (prefix === undefined) return undefined;
  const read1 = read(prefix);
  const base = read1.endsWith('/') ? read1.slice(0, -1) : read1;
  return { base, baseSlash: `${base}/` };
}

/** The first segment a rule pins (`/v1/x` → `v1`, `/` exact → ``), or undefined for any. */
function firstSegment(rule: PathRule | undefined): string | undefined {
  if (rule === undefined) return undefined;
  const p = 'exact' in rule ? rule.exact : rule.base;
  if (p === '') return undefined;
  const slash = p.indexOf('/', 1);
  return slash < 0 ? p.slice(1) : p.slice(1, slash);
}

const firstOf = (path: string): string => {
  const slash = path.indexOf('/', 1);
  return slash < 0 ? path.slice(1) : path.slice(1, slash);
};

function buildIndex(routes: readonly Compiled[], reading: 0 | 1): Index {
  const keys = new Set<string>();
  for (const r of routes) {
    const k = firstSegment(r.paths[reading]);
    if (k !== undefined) keys.add(k);
  }
  const byFirst = new Map<string, Compiled[]>();
  for (const k of keys) byFirst.set(k, routes.filter((r) => { const f = firstSegment(r.paths[reading]); return f === undefined || f === k; }));
  return { byFirst, anyFirst: routes.filter((r) => firstSegment(r.paths[reading]) === undefined) };
}

const pathMatches = (rule: PathRule | undefined, path: string): boolean =>
  rule === undefined || ('exact' in rule ? path === rule.exact : rule.base === '' || path === rule.base || path.startsWith(rule.baseSlash));

function hostMatches(r: Compiled, host: string): boolean {
  if (r.hosts === undefined) return true;
  if (r.hosts.has(host)) return true;
  for (const s of r.suffixes) if (host.length > s.length && host.endsWith(s)) return true;
  return false;
}

const intersect = (a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): ReadonlySet<string> | undefined =>
  a === undefined ? b : b === undefined ? a : new Set([...a].filter((n) => b.has(n)));

/** Both routes apply: a token unless both allow none, and only providers both accept. */
function merge(x: RouteSettings, y: RouteSettings): RouteSettings {
  return Object.freeze({
    label: `${x.label ?? DEFAULT_LABEL}+${y.label ?? DEFAULT_LABEL}`,
    allowMissing: x.allowMissing && y.allowMissing,
    providers: intersect(x.providers, y.providers),
    require: bothRequirements(x.require, y.require),
    reportOnly: x.reportOnly && y.reportOnly,
  });
}

export class RouteTable {
  private readonly routes: readonly Compiled[];
  private readonly needsHost: boolean;
  private readonly needsMethod: boolean;
  private readonly needsPath: boolean;
  /** Some route's path reads differently in the two readings (upper case, `;`, a trailing `/`...). */
  private readonly patternsDiffer: boolean;
  private readonly indexes: readonly [Index, Index];
  /**
   * Settings of two routes that both apply, by `a * (n + 1) + b` (n = no route). Crafted paths
   * can pick many pairs of a large table: bounded.
   */
  private readonly combined = new BoundedMap<number, RouteSettings>(MAX_COMBINED);
  /** No route matched: DEFAULT_ROUTE, report-only when the config says so globally. */
  private readonly fallback: RouteSettings;

  /** `reportOnly`: the global `report-only`, for routes that do not set their own. */
  constructor(configs: readonly RouteConfig[], reportOnly = false) {
    this.fallback = reportOnly ? Object.freeze({ ...DEFAULT_ROUTE, reportOnly }) : DEFAULT_ROUTE;
    this.routes = configs.map((rc, index): Compiled => {
      const { hosts, pathPrefix, path, methods } = rc.match;
      const methodSet = methods === undefined ? undefined : new Set(methods.includes('GET') ? [...methods, 'HEAD'] : methods);
      return {
        index,
        settings: Object.freeze({
          label: rc.name ?? `routes[${index}]`,
          allowMissing: rc.allowMissing,
          providers: rc.providers === undefined ? undefined : new Set(rc.providers),
          require: rc.require === undefined ? NO_REQUIREMENTS : compileRequirements(rc.require),
          reportOnly: rc.reportOnly ?? reportOnly,
        }),
        hosts: hosts === undefined ? undefined : new Set(hosts.filter((h) => !h.startsWith('*.'))),
        suffixes: (hosts ?? []).filter((h) => h.startsWith('*.')).map((h) => h.slice(1)),
        methods: methodSet,
        paths: [pathRule(pathPrefix, path, envoyPath), pathRule(pathPrefix, path, lenientPath)],
      };
    });
    this.needsHost = this.routes.some((r) => r.hosts !== undefined);
    this.needsMethod = this.routes.some((r) => r.methods !== undefined);
    this.needsPath = this.routes.some((r) => r.paths[0] !== undefined);
    this.patternsDiffer = this.routes.some((r) => JSON.stringify(r.paths[0]) !== JSON.stringify(r.paths[1]));
    this.indexes = [buildIndex(this.routes, 0), buildIndex(this.routes, 1)];
  }

  get size(): number {
    return this.routes.length;
  }

  /** The settings for `http`: its route's, both routes' when the readings disagree, or DEFAULT_ROUTE. */
  select(http: HttpRequestAttributes): RouteSettings {
    if (this.routes.length === 0) return this.fallback;
    const host = this.needsHost ? canonicalHost(http.host || headerValue(http, ':authority') || headerValue(http, 'host') || '') : '';
    const method = this.needsMethod ? (http.method || headerValue(http, ':method') || '').toUpperCase() : '';
    if (!this.needsPath) return this.settingsOf(this.scan(this.routes, '', host, method, 0));
    const raw = requestPath(http);
    const envoy = envoyPath(raw);
    const a = this.scan(this.candidates(0, envoy), envoy, host, method, 0);
    if (!this.patternsDiffer && hasOneReading(raw)) return this.settingsOf(a);
    const lenient = lenientPath(raw);
    const b = this.scan(this.candidates(1, lenient), lenient, host, method, 1);
    const ab = a === b ? this.settingsOf(a) : this.both(a, b);
    // Rare (an encoded separator in the path): a third reading, applied on top of the two.
    const opaque = opaqueSeparatorPath(raw);
    if (opaque === undefined) return ab;
    const c = this.scan(this.candidates(1, opaque), opaque, host, method, 1);
    return c === a || c === b ? ab : merge(ab, this.settingsOf(c));
  }

  private candidates(reading: 0 | 1, path: string): readonly Compiled[] {
    const index = this.indexes[reading];
    return index.byFirst.get(firstOf(path)) ?? index.anyFirst;
  }

  /** Index of the first route of `list` that matches, or -1. */
  private scan(list: readonly Compiled[], path: string, host: string, method: string, reading: 0 | 1): number {
    for (const r of list) {
      if (!pathMatches(r.paths[reading], path)) continue;
      if (!hostMatches(r, host)) continue;
      if (r.methods !== undefined && !r.methods.has(method)) continue;
      return r.index;
    }
    return -1;
  }

  private settingsOf(i: number): RouteSettings {
    return this.routes[i]?.settings ?? this.fallback;
  }

  private both(a: number, b: number): RouteSettings {
    const n = this.routes.length;
    const key = (a < 0 ? n : a) * (n + 1) + (b < 0 ? n : b);
    let s = this.combined.get(key);
    if (s === undefined) {
      s = merge(this.settingsOf(a), this.settingsOf(b));
      this.combined.set(key, s);
    }
    return s;
  }
}
