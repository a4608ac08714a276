/**
 * Walks a Raw tree against the schema table: unknown keys, types, bounds, required keys and
 * defaults. Produces a kebab-case tree of normalised values; build.ts turns it into a Config.
 * Every problem is recorded; nothing here throws.
 */
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { JWS_ALGORITHMS } from '../util/jws.js';
import { SCOPE_TOKEN } from '../util/strings.js';
import { envoyPath } from '../util/url-path.js';
import { parseDuration } from './duration.js';
import { type Ctx, type Raw, type RawMap, at, joinPath, plainToRaw, problem, warning } from './raw.js';
import { CHILDREN, type KeySpec, type KindValue, type LeafKind, SCHEMA, suggest } from './schema.js';

export interface Tree { readonly [key: string]: unknown }

/** HTTP header field-name token (RFC 9110), lower-case. */
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ROUTE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HOST_NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;
const ORIGINAL_REQUESTS = ['path', 'x-original', 'x-forwarded'] as const;

/** Why `h` can not be a route host (SPEC §11), or undefined. */
function hostProblem(h: string): string | undefined {
  const wildcard = h.startsWith('*.');
  const name = wildcard ? h.slice(2) : h;
  if (name.includes('*')) return `"${h}": a wildcard is only allowed as a leading "*." (e.g. *.example.com)`;
  if (!wildcard && /^\[[0-9a-f:.]+\]$/.test(name)) return undefined;
  if (/:\d*$/.test(name)) return `"${h}": hosts are matched without the port; write ${h.replace(/:\d*$/, '')}`;
  return HOST_NAME.test(name) ? undefined : `"${h}" is not a host name`;
}

/** Why `s` can not be a route path (SPEC §11), or undefined. */
function routePathProblem(s: string): string | undefined {
  if (!s.startsWith('/')) return `"${s}" must start with "/"`;
  if (/[?#\s]/.test(s)) return `"${s}" must not contain "?", "#" or white space: the query is never matched`;
  const normal = envoyPath(s);
  return normal === s ? undefined : `"${s}" is not a normalised path; requests are matched after normalisation, so write "${normal}"`;
}

/** A non-empty list of strings, each checked and normalised by `each` (a message, or the value). */
function checkedList(raw: Raw, ctx: Ctx, what: string, each: (s: string) => { problem: string } | { value: string }): string[] | typeof INVALID {
  const list = stringList(raw, ctx, what);
  if (list === INVALID) return INVALID;
  if (list.length === 0) { problem(ctx, raw, `must list at least one ${what.replace(/^an? /, '')} (leave it out to match any)`); return INVALID; }
  const out: string[] = [];
  let ok = true;
  for (const item of list) {
    const r = each(item);
    if ('problem' in r) {
      problem(ctx, raw, r.problem);
      ok = false;
    } else if (!out.includes(r.value)) {
      out.push(r.value);
    }
  }
  return ok ? out : INVALID;
}
const INVALID = Symbol('invalid');
type Parsed = unknown;

const describe = (raw: Raw): string =>
  raw.kind === 'map' ? 'a mapping' : raw.kind === 'seq' ? 'a list' : raw.value === null ? 'nothing' : JSON.stringify(raw.value);

/** A scalar as a string: YAML numbers/booleans keep their written form (`aud: 0123`). */
function text(raw: Raw, ctx: Ctx, what: string): string | typeof INVALID {
  if (raw.kind === 'scalar' && raw.value !== null) {
    return typeof raw.value === 'string' ? raw.value : raw.source ?? String(raw.value);
  }
  problem(ctx, raw, `expected ${what}, got ${describe(raw)}`);
  return INVALID;
}

/** A list of strings: a YAML list (or one string), or comma-separated text from .properties. */
function stringList(raw: Raw, ctx: Ctx, what: string): string[] | typeof INVALID {
  if (raw.kind === 'scalar' && raw.text && typeof raw.value === 'string') {
    return raw.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }
  if (raw.kind !== 'seq') {
    const one = text(raw, ctx, `${what} or a list of them`);
    return one === INVALID ? INVALID : [one];
  }
  const out: string[] = [];
  let ok = true;
  for (const item of raw.items) {
    const s = text(item, ctx, what);
    if (s === INVALID) ok = false;
    else if (s === '') { problem(ctx, item, `empty ${what}`); ok = false; }
    else out.push(s);
  }
  return ok ? out : INVALID;
}

function bounded(n: number, spec: KeySpec, raw: Raw, ctx: Ctx, show: (n: number) => string): number | typeof INVALID {
  if (spec.min !== undefined && n < spec.min) { problem(ctx, raw, `must be at least ${show(spec.min)}`); return INVALID; }
  if (spec.max !== undefined && n > spec.max) { problem(ctx, raw, `must be at most ${show(spec.max)}`); return INVALID; }
  return n;
}

function integer(raw: Raw, spec: KeySpec, ctx: Ctx): number | typeof INVALID {
  let n: number | undefined;
  if (raw.kind === 'scalar' && typeof raw.value === 'number' && Number.isSafeInteger(raw.value)) n = raw.value;
  if (raw.kind === 'scalar' && raw.text && typeof raw.value === 'string' && /^\d{1,15}$/.test(raw.value)) n = Number(raw.value);
  if (n === undefined) { problem(ctx, raw, `expected an integer, got ${describe(raw)}`); return INVALID; }
  return bounded(n, spec, raw, ctx, String);
}

function address(raw: Raw, ctx: Ctx): string | typeof INVALID {
  const s = text(raw, ctx, 'an address like 127.0.0.1:9191 or unix:/path');
  if (s === INVALID) return s;
  if (s.startsWith('unix:')) {
    if (s.length > 'unix:'.length) return s;
  } else {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(s);
    if (m !== null && Number(m[2]) <= 65535) return s;
  }
  problem(ctx, raw, `expected host:port (IPv6 as [::1]:port) or unix:/path, got "${s}"`);
  return INVALID;
}

function header(raw: Raw, ctx: Ctx, allowEmpty: boolean): string | typeof INVALID {
  const s = text(raw, ctx, 'a header name');
  if (s === INVALID) return s;
  const lower = s.toLowerCase();
  if ((allowEmpty && lower === '') || HEADER_TOKEN.test(lower)) return lower;
  problem(ctx, raw, `"${s}" is not a valid HTTP header name`);
  return INVALID;
}

function filePath(raw: Raw, ctx: Ctx): string | typeof INVALID {
  const s = text(raw, ctx, 'a file path');
  if (s === INVALID) return s;
  if (s === '') { problem(ctx, raw, 'must not be empty'); return INVALID; }
  return isAbsolute(s) ? s : resolve(ctx.baseDir, s);
}

/** Reads one leaf: its normalised value, `undefined` for "as if unset", or INVALID (problem recorded). */
type LeafParser<V> = (raw: Raw, spec: KeySpec, ctx: Ctx) => V | undefined | typeof INVALID;

const nonEmpty = (what: string, check?: (s: string) => string | undefined): LeafParser<string> => (raw, _spec, ctx) => {
  const s = text(raw, ctx, what);
  if (s === INVALID) return s;
  const err = s === '' ? 'must not be empty' : check?.(s);
  if (err === undefined) return s;
  problem(ctx, raw, err);
  return INVALID;
};

/** One parser per leaf kind; the value types are those the Config fields of build.ts expect. */
const LEAF: { readonly [K in LeafKind]: LeafParser<KindValue[K]> } = {
  'address': (raw, _s, ctx) => address(raw, ctx),
  'address-or-off': (raw, _s, ctx) => (raw.kind === 'scalar' && raw.value === 'off' ? 'off' : address(raw, ctx)),
  'workers': (raw, spec, ctx) => (raw.kind === 'scalar' && raw.value === 'auto' ? 'auto' : integer(raw, spec, ctx)),
  'integer': integer,
  'duration': (raw, spec, ctx) => {
    if (raw.kind !== 'scalar' || (typeof raw.value !== 'string' && typeof raw.value !== 'number')) {
      problem(ctx, raw, `expected a duration like 30s, got ${describe(raw)}`);
      return INVALID;
    }
    const r = parseDuration(String(raw.value));
    if (!r.ok) { problem(ctx, raw, r.message); return INVALID; }
    return bounded(r.ms, spec, raw, ctx, (n) => `${n}ms`);
  },
  'boolean': (raw, _s, ctx) => {
    if (raw.kind === 'scalar' && typeof raw.value === 'boolean') return raw.value;
    if (raw.kind === 'scalar' && raw.text && typeof raw.value === 'string' && /^(true|false)$/i.test(raw.value)) {
      return raw.value.toLowerCase() === 'true';
    }
    problem(ctx, raw, `expected true or false, got ${describe(raw)}`);
    return INVALID;
  },
  'string': nonEmpty('a string'),
  'issuer': (raw, _s, ctx) => {
    const s = text(raw, ctx, 'a string');
    // Trino (jjwt) skips the check when the expected issuer is empty; say so rather than fail.
    if (s === '') { warning(ctx, raw, 'is empty, so no issuer is required'); return undefined; }
    return s;
  },
  'realm': nonEmpty('a string', (s) =>
    /["\\\u0000-\u001f\u007f]/.test(s) ? 'must not contain quotes, backslashes or control characters (it is quoted in WWW-Authenticate)' : undefined),
  'header': (raw, _s, ctx) => header(raw, ctx, false),
  'optional-header': (raw, _s, ctx) => header(raw, ctx, true),
  'claim-headers': (raw, _s, ctx) => {
    if (raw.kind !== 'map') { problem(ctx, raw, `expected a mapping of header name to claim, got ${describe(raw)}`); return INVALID; }
    // A Map, then fromEntries: a header named __proto__ must stay an ordinary entry.
    const out = new Map<string, string>();
    let ok = true;
    for (const [name, value] of raw.entries) {
      const h = header({ kind: 'scalar', path: value.path, ...at(value.line), value: name, text: false }, ctx, false);
      const claim = text(value, ctx, 'a claim path');
      if (claim === '') problem(ctx, value, 'claim path must not be empty');
      if (h === INVALID || claim === INVALID || claim === '') { ok = false; continue; }
      if (out.has(h)) { problem(ctx, value, `header "${h}" is listed twice`); ok = false; continue; }
      out.set(h, claim);
    }
    return ok ? Object.fromEntries(out) : INVALID;
  },
  'provider-name': nonEmpty('a provider name', (s) =>
    PROVIDER_NAME.test(s) ? undefined : `"${s}" is not a valid provider name: use 1-63 lower-case letters, digits, "_" or "-"`),
  'key-file': (raw, _s, ctx) => {
    const s = text(raw, ctx, 'a file path or a JWKS URL');
    if (s === INVALID) return s;
    if (s.startsWith('https://') || s.startsWith('http://')) {
      if (URL.canParse(s) && new URL(s).hostname !== '') return s;
      problem(ctx, raw, `"${s}" is not a valid URL`);
      return INVALID;
    }
    if (/^https?:\/\//i.test(s)) warning(ctx, raw, 'the URL scheme is case-sensitive: this is read as a local file path');
    return filePath(raw, ctx);
  },
  'file': (raw, _s, ctx) => filePath(raw, ctx),
  'audience': (raw, _s, ctx) => {
    const list = stringList(raw, ctx, 'an audience');
    return list === INVALID ? INVALID : [...new Set(list)];
  },
  'algorithms': (raw, _s, ctx) => {
    const list = stringList(raw, ctx, 'an algorithm name');
    if (list === INVALID) return INVALID;
    if (list.length === 0) { problem(ctx, raw, 'must list at least one algorithm (leave it out to allow what the key allows)'); return INVALID; }
    const known: readonly string[] = JWS_ALGORITHMS;
    const bad = list.filter((a) => !known.includes(a));
    for (const a of bad) {
      problem(ctx, raw, a.toLowerCase() === 'none'
        ? '"none" is never allowed: unsigned tokens are always rejected'
        : `unknown algorithm "${a}"${suggest(a, known)}; known: ${known.join(', ')}`);
    }
    return bad.length > 0 ? INVALID : [...new Set(list)];
  },
  'pattern': nonEmpty('a regular expression'),
  'url-path': nonEmpty('a URL path', (s) =>
    s.startsWith('/') && !/[\s?#]/.test(s) ? undefined : `"${s}" must start with "/" and contain no spaces, "?" or "#"`),
  'token-name': nonEmpty('a name', (s) => (TOKEN.test(s) ? undefined : `"${s}" is not a valid name (letters, digits and !#$%&'*+-.^_\`|~)`)),
  'original-request': (raw, _s, ctx) => {
    const s = text(raw, ctx, ORIGINAL_REQUESTS.join(', '));
    if (s === INVALID) return s;
    const found = ORIGINAL_REQUESTS.find((o) => o === s);
    if (found !== undefined) return found;
    problem(ctx, raw, `"${s}" is not one of ${ORIGINAL_REQUESTS.join(', ')}${suggest(s, ORIGINAL_REQUESTS)}`);
    return INVALID;
  },
  'route-name': nonEmpty('a route name', (s) =>
    ROUTE_NAME.test(s) ? undefined : `"${s}" is not a valid route name: use 1-63 letters, digits, "_", "." or "-"`),
  'route-hosts': (raw, _s, ctx) => checkedList(raw, ctx, 'a host name', (h) => {
    const lower = h.toLowerCase();
    const p = hostProblem(lower);
    return p === undefined ? { value: lower } : { problem: p };
  }),
  'route-path': nonEmpty('a URL path', routePathProblem),
  'methods': (raw, _s, ctx) => checkedList(raw, ctx, 'an HTTP method', (m) =>
    TOKEN.test(m) ? { value: m.toUpperCase() } : { problem: `"${m}" is not an HTTP method` }),
  'provider-names': (raw, _s, ctx) => checkedList(raw, ctx, 'a provider name', (n) =>
    PROVIDER_NAME.test(n) ? { value: n } : { problem: `"${n}" is not a valid provider name` }),
  'header-list': (raw, _s, ctx) => {
    const list = stringList(raw, ctx, 'a header name');
    if (list === INVALID) return INVALID;
    const out: string[] = [];
    let ok = true;
    for (const name of list) {
      const lower = name.toLowerCase();
      if (!HEADER_TOKEN.test(lower)) { problem(ctx, raw, `"${name}" is not a valid HTTP header name`); ok = false; }
      else if (lower === 'host') { problem(ctx, raw, '"host" can not be removed (Envoy refuses to)'); ok = false; }
      else if (!out.includes(lower)) out.push(lower);
    }
    return ok ? out : INVALID;
  },
  'scopes': (raw, _s, ctx) => {
    // `scopes: "read write"` is a list too: a scope never holds a space.
    const list = stringList(raw, ctx, 'a scope');
    if (list === INVALID) return INVALID;
    const out = [...new Set(list.flatMap((s) => s.split(' ').filter((x) => x !== '')))];
    const bad = out.find((s) => !SCOPE_TOKEN.test(s));
    if (bad !== undefined) { problem(ctx, raw, `"${bad}" is not a scope (RFC 6749: printable ASCII without space, " or \\)`); return INVALID; }
    if (out.length === 0) { problem(ctx, raw, 'must list at least one scope (leave it out to require none)'); return INVALID; }
    return out;
  },
  'claim-requirements': (raw, _s, ctx) => {
    if (raw.kind !== 'map') { problem(ctx, raw, `expected a mapping of claim path to a list of values, got ${describe(raw)}`); return INVALID; }
    const out = new Map<string, readonly string[]>();
    let ok = true;
    for (const [path, value] of raw.entries) {
      if (path === '' || path.startsWith('.') || path.endsWith('.') || path.includes('..')) {
        problem(ctx, value, `"${path}" is not a claim path (names joined with ".")`);
        ok = false;
        continue;
      }
      const values = stringList(value, ctx, 'a claim value');
      if (values === INVALID) { ok = false; continue; }
      if (values.length === 0) { problem(ctx, value, `claim "${path}" must list at least one value`); ok = false; continue; }
      out.set(path, [...new Set(values)]);
    }
    if (ok && out.size === 0) { problem(ctx, raw, 'must name at least one claim (leave it out to require none)'); return INVALID; }
    // A Map, then fromEntries: a claim named __proto__ stays an ordinary entry.
    return ok ? Object.fromEntries(out) : INVALID;
  },
};

const SPEC_BY_PATH = new Map(SCHEMA.map((s) => [s.path, s]));

/** Reads one key's value (or its default) at canonical path `canon`. */
function value(spec: KeySpec, raw: Raw, canon: string, ctx: Ctx): Parsed | typeof INVALID {
  ctx.nodes.set(canon, raw);
  if (spec.kind === 'section') return section(spec.path, raw, canon, ctx);
  if (spec.kind === 'list') {
    if (raw.kind !== 'seq') { problem(ctx, raw, `expected a list, got ${describe(raw)}`); return INVALID; }
    if (raw.items.length === 0) { problem(ctx, raw, spec.path === 'providers' ? 'at least one provider is required' : 'must list at least one entry'); return INVALID; }
    // Bad items are left out; their problems are recorded and the list is still checked.
    return raw.items.map((item, i) => section(`${spec.path}[]`, item, `${canon}[${i}]`, ctx)).filter((t) => t !== INVALID);
  }
  return LEAF[spec.kind](raw, spec, ctx);
}

/** Reads a mapping whose keys are the schema rows under `prefix`. */
export function section(prefix: string, raw: Raw, canon: string, ctx: Ctx): Tree | typeof INVALID {
  ctx.nodes.set(canon, raw);
  let map: RawMap;
  if (raw.kind === 'map') map = raw;
  else if (raw.kind === 'scalar' && raw.value === null) map = { kind: 'map', path: raw.path, entries: new Map(), ...at(raw.line) };
  else { problem(ctx, raw, `expected a mapping, got ${describe(raw)}`); return INVALID; }

  const specs = CHILDREN.get(prefix) ?? [];
  const names = specs.map((s) => s.path.slice(prefix === '' ? 0 : prefix.length + 1));
  for (const [name, child] of map.entries) {
    if (names.includes(name)) continue;
    const dotted = SPEC_BY_PATH.get(prefix === '' ? name : `${prefix}.${name}`);
    const hint = name.includes('.') && dotted !== undefined && prefix === ''
      ? ' (dotted keys are for .properties files; in YAML nest it)'
      : suggest(name, names);
    problem(ctx, child, `unknown key${hint}`);
  }

  // Invalid values are left out rather than failing the section, so later checks still run.
  const out: Record<string, unknown> = {};
  specs.forEach((spec, i) => {
    const name = names[i] ?? '';
    const childCanon = joinPath(canon, name);
    let child = map.entries.get(name);
    if (child === undefined) {
      if (spec.required === true) {
        problem(ctx, { path: joinPath(map.path, name), ...at(map.line) },
          prefix === '' && spec.kind === 'list' ? 'at least one provider is required' : 'is required');
        return;
      }
      if (spec.optional === true) return;
      if (spec.kind === 'section') child = { kind: 'map', path: joinPath(map.path, name), entries: new Map() };
      else if (spec.default === '') return;
      else child = plainToRaw(parseYaml(spec.default) as unknown, joinPath(map.path, name));
    }
    const v = value(spec, child, childCanon, ctx);
    if (v !== INVALID && v !== undefined) out[name] = v;
  });
  return out;
}

export { INVALID };
