/**
 * Reads a Java-properties config (SPEC §3) into the Raw tree, so that a Trino administrator
 * can reuse the lines of `etc/config.properties`:
 *  - `http-server.authentication.jwt.<key>` (and the legacy `http.authentication.jwt.` forms of
 *    key-file, required-issuer and required-audience) configure the single provider `default`;
 *  - every other key of ours is the YAML path joined with dots; lists are comma-separated;
 *  - other Trino keys are ignored with one warning; unknown keys in our namespaces are errors.
 * Values are trimmed, as airlift does when it loads config.properties.
 */
import { Properties } from 'properties-file/parser';
import { type Ctx, type Raw, type RawMap, at, problem, warning } from './raw.js';
import { SCHEMA, suggest } from './schema.js';

const JWT = 'http-server.authentication.jwt';
const LEGACY_JWT = 'http.authentication.jwt';
const AUTH_TYPE = 'http-server.authentication.type';
const LEGACY_KEYS: readonly string[] = ['key-file', 'required-issuer', 'required-audience'];
const CLAIM_HEADERS = 'response.claim-headers';

const isLeaf = (kind: string): boolean => kind !== 'section' && kind !== 'list';

/** Provider keys as written after `http-server.authentication.jwt.` (the name is always `default`). */
const PROVIDER_KEYS: readonly string[] = SCHEMA
  .filter((s) => s.path.startsWith('providers[].') && isLeaf(s.kind) && s.path !== 'providers[].name')
  .map((s) => s.path.slice('providers[].'.length));

/** Our top-level keys written with dots (`token.max-bytes`), minus YAML-only ones. */
const TOP_KEYS: readonly string[] = SCHEMA
  .filter((s) => !s.path.includes('[]') && isLeaf(s.kind))
  .map((s) => s.path);

const YAML_ONLY: readonly string[] = SCHEMA.filter((s) => s.yamlOnly === true).map((s) => s.path);

/** First path segments that belong to us; anything else is some other Trino setting. */
const NAMESPACES: ReadonlySet<string> = new Set(SCHEMA.map((s) => s.path.split(/[.[]/)[0] ?? ''));

const ALL_KEYS: readonly string[] = [...TOP_KEYS, ...PROVIDER_KEYS.map((k) => `${JWT}.${k}`)];

function newMap(path: string, line: number | undefined): RawMap {
  return { kind: 'map', path, ...at(line), entries: new Map() };
}

/** Puts a text scalar at `segments` below `map`, creating the sections on the way. */
function put(map: RawMap, segments: readonly string[], key: string, value: string, line: number): void {
  let m = map;
  for (const seg of segments.slice(0, -1)) {
    let next = m.entries.get(seg);
    if (next === undefined || next.kind !== 'map') {
      next = newMap(m.path === '' ? seg : `${m.path}.${seg}`, line);
      m.entries.set(seg, next);
    }
    m = next;
  }
  const leaf: Raw = { kind: 'scalar', path: key, line, value, text: true };
  m.entries.set(segments[segments.length - 1] ?? '', leaf);
}

/**
 * Converts properties text into the Raw tree. The provider `default` always exists, so a
 * file without `http-server.authentication.jwt.key-file` reports exactly that key as missing.
 */
export function propertiesToRaw(text: string, ctx: Ctx): Raw {
  const root = newMap('', undefined);
  const provider = newMap(JWT, undefined);
  provider.entries.set('name', { kind: 'scalar', path: `${JWT}.name`, value: 'default', text: false });
  root.entries.set('providers', { kind: 'seq', path: 'providers', items: [provider] });

  const ignored: string[] = [];
  const lastLine = new Map<string, number>();
  /** Provider key → the properties key that set it, to catch legacy + new both set. */
  const providerKeySetBy = new Map<string, string>();

  for (const node of new Properties(text).getProperties()) {
    const key = node.key;
    const value = node.value.trim();
    const line = node.startingLineNumber;
    const where = { path: key, line };

    const previous = lastLine.get(key);
    if (previous !== undefined) {
      warning(ctx, where, `also set on line ${previous}; the last value wins (as in java.util.Properties)`);
    }
    lastLine.set(key, line);

    if (key === AUTH_TYPE) {
      const types = value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
      if (!types.includes('jwt')) {
        warning(ctx, where, `"${value}" does not include jwt; this service only does JWT authentication and ignores the setting`);
      }
      continue;
    }

    let sub: string | undefined;
    if (key.startsWith(`${JWT}.`)) {
      sub = key.slice(JWT.length + 1);
      if (!PROVIDER_KEYS.includes(sub)) {
        const hint = suggest(key, ALL_KEYS);
        problem(ctx, where, `unknown key${hint === '' ? `; the ${JWT}.* keys are ${PROVIDER_KEYS.join(', ')}` : hint}`);
        continue;
      }
    } else if (key.startsWith(`${LEGACY_JWT}.`)) {
      sub = key.slice(LEGACY_JWT.length + 1);
      if (!LEGACY_KEYS.includes(sub)) {
        problem(ctx, where, `unknown key: only ${LEGACY_KEYS.map((k) => `${LEGACY_JWT}.${k}`).join(', ')} have legacy names; use ${JWT}.${sub}`);
        continue;
      }
      warning(ctx, where, `legacy name; prefer ${JWT}.${sub}`);
    }
    if (sub !== undefined) {
      const other = providerKeySetBy.get(sub);
      if (other !== undefined && other !== key) {
        problem(ctx, where, `conflicts with ${other}; set only one of them`);
        continue;
      }
      providerKeySetBy.set(sub, key);
      put(provider, sub.split('.'), key, value, line);
      continue;
    }

    const first = key.split('.')[0] ?? '';
    if (!NAMESPACES.has(first)) {
      if (!ignored.includes(key)) ignored.push(key);
      continue;
    }
    const yamlOnly = YAML_ONLY.find((p) => key === p || key.startsWith(`${p}.`) || key.startsWith(`${p}[`));
    if (yamlOnly !== undefined) {
      problem(ctx, where, yamlOnly === 'providers'
        ? `providers can not be set in a .properties file: use ${JWT}.* lines for the single provider "default", or a YAML file for several`
        : `${yamlOnly} can not be set in a .properties file: it needs a YAML config`);
      continue;
    }
    if (key.startsWith(`${CLAIM_HEADERS}.`)) {
      put(root, ['response', 'claim-headers', key.slice(CLAIM_HEADERS.length + 1)], key, value, line);
      continue;
    }
    if (key === CLAIM_HEADERS) {
      problem(ctx, where, `write one line per header: ${CLAIM_HEADERS}.<header>=<claim>`);
      continue;
    }
    if (!TOP_KEYS.includes(key)) {
      problem(ctx, where, `unknown key${suggest(key, ALL_KEYS)}`);
      continue;
    }
    put(root, key.split('.'), key, value, line);
  }

  if (ignored.length > 0) {
    warning(ctx, { path: '' }, `ignored ${ignored.length} key(s) that are not jwt-ext-authz settings: ${ignored.join(', ')}`);
  }
  return root;
}
