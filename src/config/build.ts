/**
 * Checks that span several keys (token sources, header collisions, provider names, user
 * mapping), and the two directions between the validated kebab-case tree and the camelCase
 * `Config`: buildConfig and configToDocument. Both are driven by the `field` of each schema
 * row; no key is listed here.
 */
import { isObject } from '../util/strings.js';
import { formatDuration } from './duration.js';
import { isDiscoveryUrl, isKeyUrl } from './key-location.js';
import { type Ctx, at, joinPath, problem, warning } from './raw.js';
import {
  CHILDREN, type ConfigField, type KeySpec, type KindValue, type LeafKind, SCHEMA, type SchemaRow, splitPath, suggest,
} from './schema.js';
import type { Tree } from './validate.js';
import type { Config } from './types.js';

const isTree: (v: unknown) => v is Tree = isObject;
const sub = (t: Tree | undefined, k: string): Tree | undefined => {
  const v = t?.[k];
  return isTree(v) ? v : undefined;
};
const str = (t: Tree | undefined, k: string): string | undefined => {
  const v = t?.[k];
  return typeof v === 'string' ? v : undefined;
};
const trees = (t: Tree | undefined, k: string): Tree[] => {
  const v = t?.[k];
  return Array.isArray(v) ? v.filter(isTree) : [];
};

const keyName = (spec: KeySpec): string => splitPath(spec.path).name;

/** `a, b or c` */
const oneOf = (names: readonly string[]): string =>
  names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.slice(-1).join('')}`;

/** The keys that each make a token source a different variant: header, cookie, query. */
const SOURCE_VARIANTS: readonly string[] = (CHILDREN.get('token.sources[]') ?? [])
  .filter((s) => s.variant !== undefined).map(keyName);

/** Where to report a problem about canonical path `canon`: its node, else the path itself. */
function where(ctx: Ctx, canon: string): { path: string; line?: number } {
  const raw = ctx.nodes.get(canon);
  return raw === undefined ? { path: canon } : { path: raw.path, ...at(raw.line) };
}

/** Keys present in the map read at `canon` (even when their value was invalid). */
function keysAt(ctx: Ctx, canon: string): string[] {
  const raw = ctx.nodes.get(canon);
  return raw?.kind === 'map' ? [...raw.entries.keys()] : [];
}

export function crossCheck(tree: Tree, ctx: Ctx): void {
  const sources = trees(sub(tree, 'token'), 'sources');
  const sourceHeaders = new Set<string>();
  sources.forEach((s, i) => {
    const canon = `token.sources[${i}]`;
    const keys = keysAt(ctx, canon);
    const kinds = SOURCE_VARIANTS.filter((k) => keys.includes(k));
    if (kinds.length !== 1) {
      problem(ctx, where(ctx, canon), `needs exactly one of ${oneOf(SOURCE_VARIANTS)}${kinds.length > 1 ? `, got ${kinds.join(' and ')}` : ''}`);
    }
    if (keys.includes('scheme') && !keys.includes('header')) {
      problem(ctx, where(ctx, `${canon}.scheme`), 'scheme only applies to a header source');
    }
    const h = str(s, 'header');
    if (h !== undefined) sourceHeaders.add(h);
  });

  // One header, one meaning: the answer must never both set and remove a name (SPEC §5).
  const response = sub(tree, 'response');
  const used = new Map<string, string>();
  const claim = (canonName: string, header: string | undefined, at: { path: string; line?: number }): void => {
    if (header === undefined || header === '') return;
    const first = used.get(header);
    if (first !== undefined) problem(ctx, at, `header "${header}" is also used by ${first}`);
    else if (sourceHeaders.has(header)) problem(ctx, at, `header "${header}" is also a token source; the answer would overwrite or remove the token`);
    else used.set(header, canonName);
  };
  for (const k of ['principal-header', 'pass-through-header']) {
    claim(`response.${k}`, str(response, k), where(ctx, `response.${k}`));
  }
  const claimMap = ctx.nodes.get('response.claim-headers');
  for (const header of Object.keys(sub(response, 'claim-headers') ?? {})) {
    const node = claimMap?.kind === 'map' ? [...claimMap.entries].find(([n]) => n.toLowerCase() === header)?.[1] : undefined;
    claim(`response.claim-headers.${header}`, header, node ?? { path: `response.claim-headers.${header}` });
  }

  // An allow that sets a header must not also remove it; removing the token's header is forward-original: false.
  const removed = response?.['remove-headers'];
  for (const h of Array.isArray(removed) ? removed.filter((n): n is string => typeof n === 'string') : []) {
    const owner = used.get(h);
    if (owner !== undefined) problem(ctx, where(ctx, 'response.remove-headers'), `"${h}" is also set by ${owner}`);
    else if (sourceHeaders.has(h)) problem(ctx, where(ctx, 'response.remove-headers'), `"${h}" is a token source; use forward-original: false to remove the token's carrier`);
  }

  const names = new Map<string, number>();
  trees(tree, 'providers').forEach((p, i) => {
    const name = str(p, 'name');
    if (name !== undefined) {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else problem(ctx, where(ctx, `providers[${i}].name`), `duplicate provider name "${name}" (also providers[${first}])`);
    }
    const mapping = `providers[${i}].user-mapping`;
    const mappingKeys = keysAt(ctx, mapping);
    if (mappingKeys.includes('pattern') && mappingKeys.includes('file')) {
      problem(ctx, where(ctx, mapping), 'user mapping pattern and file can not both be set');
    }
    checkKeySource(p, i, ctx);
  });
  checkRoutes(tree, ctx);
  checkHttpMode(tree, ctx);
}

const MATCH_KEYS: readonly string[] = (CHILDREN.get('routes[].match') ?? []).map(keyName);

/**
 * Routes (SPEC §11): a match that says something, one kind of path, known providers, unique
 * names. Every problem inside a named route then says which route it is in.
 */
function checkRoutes(tree: Tree, ctx: Ctx): void {
  const providers = trees(tree, 'providers').map((p) => str(p, 'name')).filter((n): n is string => n !== undefined);
  const names = new Map<string, number>();
  trees(tree, 'routes').forEach((r, i) => {
    const canon = `routes[${i}]`;
    const present = keysAt(ctx, `${canon}.match`).filter((k) => MATCH_KEYS.includes(k));
    if (present.length === 0 && ctx.nodes.has(`${canon}.match`)) {
      problem(ctx, where(ctx, `${canon}.match`), `is empty: give at least one of ${oneOf(MATCH_KEYS)} (a route that matches everything is path-prefix: /)`);
    }
    if (ctx.nodes.has(`${canon}.require`) && keysAt(ctx, `${canon}.require`).length === 0) {
      problem(ctx, where(ctx, `${canon}.require`), 'is empty: give scopes, claims or both');
    }
    if (present.includes('path') && present.includes('path-prefix')) {
      problem(ctx, where(ctx, `${canon}.match`), 'path and path-prefix are exclusive');
    }
    const listed = r['providers'];
    for (const name of Array.isArray(listed) ? listed.filter((n): n is string => typeof n === 'string') : []) {
      if (!providers.includes(name)) problem(ctx, where(ctx, `${canon}.providers`), `unknown provider "${name}"${suggest(name, providers)}; the providers are ${providers.join(', ')}`);
    }
    const name = str(r, 'name');
    if (name === undefined) return;
    const first = names.get(name);
    if (first !== undefined) problem(ctx, where(ctx, `${canon}.name`), `duplicate route name "${name}" (also routes[${first}])`);
    else names.set(name, i);
    const written = ctx.nodes.get(canon)?.path ?? canon;
    ctx.problems.forEach((p, k) => {
      if (p.key === written || p.key.startsWith(`${written}.`)) ctx.problems[k] = { ...p, message: `route "${name}": ${p.message}` };
    });
  });
}

/** Settings that do nothing, or less than they say, in HTTP mode (SPEC §12). */
function checkHttpMode(tree: Tree, ctx: Ctx): void {
  const http = sub(tree, 'http');
  if (str(http, 'path-prefix') !== undefined && str(http, 'original-request') !== 'path') {
    warning(ctx, where(ctx, 'http.path-prefix'), 'only applies to original-request: path; it is ignored');
  }
  const listen = str(tree, 'http-listen');
  for (const other of ['listen', 'admin-listen']) {
    if (listen !== undefined && listen !== 'off' && !listen.endsWith(':0') && listen === str(tree, other)) {
      problem(ctx, where(ctx, 'http-listen'), `is the same address as ${other}`);
    }
  }
  const forwardOriginal = sub(tree, 'response')?.['forward-original'];
  const query = trees(sub(tree, 'token'), 'sources').some((s) => str(s, 'query') !== undefined);
  if (listen !== undefined && listen !== 'off' && forwardOriginal === false && query) {
    warning(ctx, where(ctx, 'response.forward-original'),
      'an HTTP-mode answer can not remove a query parameter (there is no header for it): a token found in the query string still reaches the upstream through http-listen');
  }
}

/** Exactly one of key-file and `discovery: true`; discovery needs an issuer to hold the document to (SPEC §13). */
function checkKeySource(p: Tree, i: number, ctx: Ctx): void {
  const canon = `providers[${i}]`;
  const keys = keysAt(ctx, canon);
  const discovery = p['discovery'] === true;
  if (discovery && keys.includes('key-file')) {
    problem(ctx, where(ctx, `${canon}.key-file`), 'key-file and discovery: true are exclusive: discovery finds the key set through the discovery document of required-issuer');
    return;
  }
  if (!discovery && !keys.includes('key-file')) {
    if (keys.includes('discovery')) {
      problem(ctx, where(ctx, `${canon}.discovery`), 'is false, so key-file is required (jwks-url in Trino OAuth 2.0 lines)');
    } else {
      // Where section() reports a missing required key: the provider's own path and line.
      const raw = ctx.nodes.get(canon);
      problem(ctx, { path: joinPath(raw?.path ?? canon, 'key-file'), ...at(raw?.line) }, 'is required (or discovery: true with required-issuer)');
    }
    return;
  }
  const keyFile = str(p, 'key-file');
  if (!discovery && (keyFile === undefined || !isDiscoveryUrl(keyFile))) return;
  const issuer = str(p, 'required-issuer');
  // Without it any IdP's document would do, and its keys could vouch for any issuer.
  if (issuer === undefined) {
    problem(ctx, where(ctx, `${canon}.${discovery ? 'discovery' : 'key-file'}`),
      'OIDC discovery needs required-issuer: the discovery document is accepted only when its issuer equals it');
  } else if (discovery && (!isKeyUrl(issuer) || !URL.canParse(issuer))) {
    problem(ctx, where(ctx, `${canon}.required-issuer`),
      `discovery: true needs required-issuer to be an https:// URL (the document is read below it), got "${issuer.slice(0, 200)}"`);
  }
}

// ---------------------------------------------------------------------------------------
// Where each row's value lives in Config.

/** A row's field (and variant field) as names below the Config object of its parent: the section, or the list item for `x[].y`. */
interface Place {
  readonly field: readonly string[];
  readonly variant?: readonly string[];
}

/**
 * Each row's field relative to its parent row's field. Throws at load time if a row puts its
 * value outside its parent's field: that is a mistake in the table, not in a config file.
 */
const PLACES: ReadonlyMap<KeySpec, Place> = (() => {
  const byPath = new Map(SCHEMA.map((s) => [s.path, s]));
  const places = new Map<KeySpec, Place>();
  for (const spec of SCHEMA) {
    const { parent } = splitPath(spec.path);
    const item = parent.endsWith('[]');
    const parentSpec = byPath.get(item ? parent.slice(0, -2) : parent);
    const base = parent === '' ? '' : `${parentSpec?.field ?? '?'}${item ? '[]' : ''}`;
    const relative = (field: string): string[] => {
      const rest = base === '' ? field : field.startsWith(`${base}.`) ? field.slice(base.length + 1) : undefined;
      if (rest === undefined || rest.includes('[]')) throw new Error(`schema: ${spec.path} puts its value in ${field}, outside ${base}`);
      return rest.split('.');
    };
    places.set(spec, { field: relative(spec.field), ...(spec.variant === undefined ? {} : { variant: relative(spec.variant) }) });
  }
  return places;
})();

function placeOf(spec: KeySpec): Place {
  const place = PLACES.get(spec);
  if (place === undefined) throw new Error(`internal error: ${spec.path} is not a schema row`);
  return place;
}

const isRecord = isObject;
const isList = (v: unknown): v is readonly unknown[] => Array.isArray(v);

function getIn(source: unknown, names: readonly string[]): unknown {
  let v = source;
  for (const name of names) v = isRecord(v) && Object.hasOwn(v, name) ? v[name] : undefined;
  return v;
}

function setIn(target: Record<string, unknown>, names: readonly string[], value: unknown): void {
  let o = target;
  for (const name of names.slice(0, -1)) {
    const next = o[name];
    if (isRecord(next)) o = next;
    else { const fresh: Record<string, unknown> = {}; o[name] = fresh; o = fresh; }
  }
  o[names[names.length - 1] ?? ''] = value;
}

// ---------------------------------------------------------------------------------------
// Compile-time checks that the table and the Config type agree; they are what make the
// result of buildConfig a Config. An error names the rows or fields at fault.

/** The type of the Config field at `path`: `FieldType<Config, 'providers[].jwks.timeoutMs'>` is number. */
type FieldType<T, P extends string> = T extends unknown
  ? P extends `${infer K}.${infer Rest}` ? FieldType<FieldStep<T, K>, Rest> : FieldStep<T, P>
  : never;
type FieldStep<T, K extends string> = K extends `${infer L}[]`
  ? (L extends keyof T ? (T[L] extends readonly (infer E)[] ? E : never) : never)
  : (K extends keyof T ? T[K] : never);
type LastName<P extends string> = P extends `${string}.${infer Rest}` ? LastName<Rest> : P;
type None<T extends never> = T;

/** Config fields that no row fills (`file`, the config file itself, is set by the loader). */
type Unfilled = Exclude<ConfigField, SchemaRow['field'] | Extract<SchemaRow, { readonly variant: string }>['variant'] | 'file'>;
/** Rows whose validated value does not fit their field. */
type Misfit<R> = R extends { readonly path: infer P; readonly kind: infer K extends LeafKind; readonly field: infer F extends string }
  ? (KindValue[K] extends FieldType<Config, F> ? never : P) : never;
/** Variant rows whose key name is not a value of their variant field. */
type BadVariant<R> = R extends { readonly path: infer P extends string; readonly variant: infer F extends string }
  ? (LastName<P> extends FieldType<Config, F> ? never : P) : never;
/** Rows that can leave a field unset that Config requires. */
type MaybeUnset<R> = R extends { readonly path: infer P; readonly field: infer F extends string }
  ? undefined extends FieldType<Config, F> ? never
  : R extends { readonly optional: true } ? P
  : R extends { readonly required: true } | { readonly unsetIsEmpty: true } | { readonly variant: string } | { readonly kind: 'section' } ? never
  : R extends { readonly default: '' } ? P : never
  : never;
export type SchemaMatchesConfig = [None<Unfilled>, None<Misfit<SchemaRow>>, None<BadVariant<SchemaRow>>, None<MaybeUnset<SchemaRow>>];

// ---------------------------------------------------------------------------------------
// Tree → Config

/** Set after validation: a required key, a default, or a section that is always there. */
const alwaysSet = (spec: KeySpec): boolean =>
  spec.required === true || spec.default !== '' || (spec.kind === 'section' && spec.optional !== true);

function configValue(spec: KeySpec, value: unknown): unknown {
  if (value === undefined) {
    if (spec.unsetIsEmpty === true) return [];
    // Validation guarantees presence; this only guards against a schema/validate mismatch.
    if (alwaysSet(spec)) throw new Error(`internal error: ${spec.path} missing after validation`);
    return undefined;
  }
  if (spec.kind === 'section') return fromTree(spec.path, isTree(value) ? value : {});
  if (spec.kind === 'list') return (isList(value) ? value : []).filter(isTree).map((item) => fromTree(`${spec.path}[]`, item));
  return value;
}

/** The Config object for the mapping read at schema path `parent`. */
function fromTree(parent: string, tree: Tree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of CHILDREN.get(parent) ?? []) {
    const value = configValue(spec, tree[keyName(spec)]);
    if (value === undefined) continue;
    const { field, variant } = placeOf(spec);
    if (variant !== undefined) setIn(out, variant, keyName(spec));
    setIn(out, field, value);
  }
  return out;
}

/** The Config of a tree that passed validation and crossCheck without problems. */
export function buildConfig(tree: Tree, file: string | undefined): Config {
  // Sound because of SchemaMatchesConfig above and the validation that made `tree`.
  const config = fromTree('', tree) as unknown as Config;
  return file === undefined ? config : { file, ...config };
}

// ---------------------------------------------------------------------------------------
// Config → YAML document

function documentValue(spec: KeySpec, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (spec.kind === 'section') {
    const doc = toDocument(spec.path, value);
    return Object.keys(doc).length === 0 ? undefined : doc;
  }
  if (spec.kind === 'list') {
    if (!isList(value) || (value.length === 0 && spec.unsetIsEmpty === true)) return undefined;
    return value.map((item) => toDocument(`${spec.path}[]`, item));
  }
  // Milliseconds back in the unit the docs use.
  if (spec.kind === 'duration' && typeof value === 'number') return formatDuration(value);
  if (isList(value)) return spec.unsetIsEmpty === true && value.length === 0 ? undefined : [...value];
  // fromEntries-like copy: own properties only, so a header named __proto__ stays an entry.
  if (isRecord(value)) return { ...value };
  return value;
}

/** The YAML mapping for the Config object `source` read at schema path `parent`. */
function toDocument(parent: string, source: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of CHILDREN.get(parent) ?? []) {
    const { field, variant } = placeOf(spec);
    if (variant !== undefined && getIn(source, variant) !== keyName(spec)) continue;
    const value = documentValue(spec, getIn(source, field));
    if (value !== undefined) out[keyName(spec)] = value;
  }
  return out;
}

/**
 * The normalised config in the documented YAML shape (for `validate-config`): set keys in
 * table order, empty optional sections and lists left out. Parses back to an equal Config.
 */
export function configToDocument(config: Config): Record<string, unknown> {
  return toDocument('', config);
}

/** Freezes `value` and everything reachable from it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
