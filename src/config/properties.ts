/**
 * Reads a Java-properties config (SPEC §3) into the Raw tree, so that a Trino administrator
 * can reuse the lines of `etc/config.properties`:
 *  - `http-server.authentication.jwt.<key>` (and the legacy `http.authentication.jwt.` forms of
 *    key-file, required-issuer and required-audience) configure the provider `default`;
 *  - `http-server.authentication.oauth2.<key>` lines configure the provider `oauth2` the way
 *    Trino verifies OAuth 2.0 access tokens (SPEC §13); lines that only serve Trino's browser
 *    login are ignored with one warning;
 *  - every other key of ours is the YAML path joined with dots; lists are comma-separated;
 *  - other Trino keys are ignored with one warning; unknown keys in our namespaces are errors.
 * Values are trimmed, as airlift does when it loads config.properties.
 */
import { Properties } from 'properties-file/parser';
import { type Ctx, type Raw, type RawMap, type RawScalar, at, problem, warning } from './raw.js';
import { SCHEMA, suggest } from './schema.js';

const JWT = 'http-server.authentication.jwt';
const LEGACY_JWT = 'http.authentication.jwt';
const AUTH_TYPE = 'http-server.authentication.type';
const LEGACY_KEYS: readonly string[] = ['key-file', 'required-issuer', 'required-audience'];
const CLAIM_HEADERS = 'response.claim-headers';
const OAUTH2 = 'http-server.authentication.oauth2';

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

/** Trino OAuth 2.0 keys that map one to one onto a key of the provider `oauth2`. */
const OAUTH2_MAPPED: ReadonlyMap<string, string> = new Map([
  ['jwks-url', 'key-file'],
  ['principal-field', 'principal-field'],
  ['user-mapping.pattern', 'user-mapping.pattern'],
  ['user-mapping.file', 'user-mapping.file'],
  ['max-clock-skew', 'clock-skew'],
]);
/** Trino OAuth 2.0 keys read together (audience, issuer and discovery), see oauth2Provider. */
const OAUTH2_COMBINED: readonly string[] = ['issuer', 'access-token-issuer', 'client-id', 'additional-audiences', 'audience', 'oidc.discovery', 'require-audience'];
/**
 * Trino OAuth 2.0 keys for its browser login (authorization code flow, refresh tokens, logout)
 * or for Trino's own use of the token (userinfo, groups): nothing here for verifying a JWT.
 */
const OAUTH2_IGNORED: readonly string[] = [
  'state-key', 'auth-url', 'token-url', 'client-secret', 'scopes', 'challenge-timeout', 'domain-hint', 'end-session-url',
  'refresh-tokens', 'refresh-tokens.issued-token.timeout', 'refresh-tokens.issued-token.issuer',
  'refresh-tokens.issued-token.audience', 'refresh-tokens.secret-key',
  'userinfo-url', 'oidc.use-userinfo-endpoint', 'oidc.discovery.timeout', 'groups-field',
];
/** Our provider keys that Trino's OAuth 2.0 block has no word for (jwks.*, algorithms, lifetime rules), accepted under its prefix. */
const OAUTH2_OURS: readonly string[] = PROVIDER_KEYS.filter((k) =>
  !['key-file', 'discovery', 'required-issuer', 'required-audience', 'clock-skew'].includes(k) && ![...OAUTH2_MAPPED.values()].includes(k));
const OAUTH2_KEYS: readonly string[] = [...OAUTH2_MAPPED.keys(), ...OAUTH2_COMBINED, ...OAUTH2_IGNORED, ...OAUTH2_OURS];

const ALL_KEYS: readonly string[] = [...TOP_KEYS, ...PROVIDER_KEYS.map((k) => `${JWT}.${k}`), ...OAUTH2_KEYS.map((k) => `${OAUTH2}.${k}`)];

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

/** One properties line. */
interface Line {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

const scalar = (path: string, value: string | boolean, line?: number): RawScalar =>
  ({ kind: 'scalar', path, ...at(line), value, text: typeof value === 'string' });

const isTrue = (v: string): boolean | undefined => (/^true$/i.test(v) ? true : /^false$/i.test(v) ? false : undefined);

/**
 * The provider `oauth2` from Trino's OAuth 2.0 lines, verifying access tokens as Trino's
 * NimbusOAuth2Client does: `iss` is access-token-issuer, else issuer; `aud` holds client-id or
 * one of additional-audiences; keys from jwks-url, else from OIDC discovery (Trino's default).
 */
function oauth2Provider(lines: ReadonlyMap<string, Line>, ctx: Ctx): RawMap {
  const provider = newMap(OAUTH2, undefined);
  provider.entries.set('name', scalar(`${OAUTH2}.name`, 'oauth2'));
  for (const [sub, l] of lines) {
    const target = OAUTH2_MAPPED.get(sub) ?? (OAUTH2_OURS.includes(sub) ? sub : undefined);
    if (target !== undefined) put(provider, target.split('.'), l.key, l.value, l.line);
  }

  const issuer = lines.get('issuer');
  const accessTokenIssuer = lines.get('access-token-issuer');
  if (issuer === undefined) problem(ctx, { path: `${OAUTH2}.issuer` }, 'is required (as in Trino): tokens must carry it in iss');
  const tokenIssuer = accessTokenIssuer ?? issuer;
  if (tokenIssuer !== undefined) provider.entries.set('required-issuer', scalar(tokenIssuer.key, tokenIssuer.value, tokenIssuer.line));

  // client-id is always an accepted audience; additional-audiences (legacy: audience) add more.
  const additional = lines.get('additional-audiences');
  const legacy = lines.get('audience');
  if (legacy !== undefined) {
    if (additional !== undefined) problem(ctx, { path: legacy.key, line: legacy.line }, `conflicts with ${additional.key}; set only one of them`);
    else warning(ctx, { path: legacy.key, line: legacy.line }, `legacy name; prefer ${OAUTH2}.additional-audiences`);
  }
  const audiences: RawScalar[] = [];
  const clientId = lines.get('client-id');
  if (clientId !== undefined && clientId.value !== '') audiences.push(scalar(clientId.key, clientId.value, clientId.line));
  const extra = additional ?? legacy;
  if (extra !== undefined) {
    // As Trino splits it: on commas, trimmed, empty items dropped.
    for (const a of extra.value.split(',')) if (a.trim() !== '') audiences.push(scalar(extra.key, a.trim(), extra.line));
  }
  if (audiences.length > 0) provider.entries.set('required-audience', { kind: 'seq', path: audiences[0]?.path ?? OAUTH2, items: audiences });
  else warning(ctx, { path: `${OAUTH2}.client-id` }, 'neither client-id nor additional-audiences is set, so any audience is accepted');

  const requireAudience = lines.get('require-audience');
  if (requireAudience !== undefined) {
    const v = isTrue(requireAudience.value);
    if (v === undefined) problem(ctx, { path: requireAudience.key, line: requireAudience.line }, `expected true or false, got "${requireAudience.value}"`);
    else if (!v && audiences.length > 0) {
      warning(ctx, { path: requireAudience.key, line: requireAudience.line }, 'a token without aud is refused here whenever an audience is required (audience_mismatch)');
    }
  }

  const discoveryLine = lines.get('oidc.discovery');
  const discovery = discoveryLine === undefined ? true : isTrue(discoveryLine.value);
  if (discoveryLine !== undefined && discovery === undefined) {
    problem(ctx, { path: discoveryLine.key, line: discoveryLine.line }, `expected true or false, got "${discoveryLine.value}"`);
  }
  const jwksUrl = lines.get('jwks-url');
  if (jwksUrl !== undefined) {
    // Trino reads the document and then uses jwks-url anyway: the keys are the same without it.
    if (discovery === true) warning(ctx, { path: jwksUrl.key, line: jwksUrl.line }, 'jwks-url is set, so its key set is used and no discovery document is read');
  } else if (discovery === false && discoveryLine !== undefined) {
    // Validation then says that a key-file (here: jwks-url) is needed, on this line.
    provider.entries.set('discovery', scalar(discoveryLine.key, false, discoveryLine.line));
  } else if (discovery === true) {
    provider.entries.set('discovery', scalar(discoveryLine?.key ?? `${OAUTH2}.oidc.discovery`, true, discoveryLine?.line));
    if (accessTokenIssuer !== undefined && issuer !== undefined && accessTokenIssuer.value !== issuer.value) {
      problem(ctx, { path: accessTokenIssuer.key, line: accessTokenIssuer.line },
        'differs from issuer: discovery accepts a document only when its issuer is the one tokens carry; set oidc.discovery=false and jwks-url');
    }
  }

  const ignored = OAUTH2_IGNORED.filter((k) => lines.has(k));
  if (ignored.length > 0) {
    warning(ctx, { path: OAUTH2 }, `ignored ${ignored.length} OAuth 2.0 key(s) that only serve Trino's browser login or Trino's own use of the token (tokens are verified here as JWTs): ${ignored.map((k) => `${OAUTH2}.${k}`).join(', ')}`);
  }
  return provider;
}

/**
 * Converts properties text into the Raw tree. JWT lines make the provider `default`, OAuth 2.0
 * lines the provider `oauth2`; with neither, `default` is still there, so a file without
 * `http-server.authentication.jwt.key-file` reports exactly that key as missing.
 */
export function propertiesToRaw(text: string, ctx: Ctx): Raw {
  const root = newMap('', undefined);
  const provider = newMap(JWT, undefined);
  provider.entries.set('name', { kind: 'scalar', path: `${JWT}.name`, value: 'default', text: false });
  const providers: Raw[] = [];
  root.entries.set('providers', { kind: 'seq', path: 'providers', items: providers });
  let jwtUsed = false;
  const oauth = new Map<string, Line>();
  let authType: (Line & { readonly types: readonly string[] }) | undefined;

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
      authType = { key, value, line, types: value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '') };
      continue;
    }

    if (key.startsWith(`${OAUTH2}.`)) {
      const name = key.slice(OAUTH2.length + 1);
      if (OAUTH2_KEYS.includes(name)) oauth.set(name, { key, value, line });
      else problem(ctx, where, `unknown key${suggest(key, ALL_KEYS) || `; see the ${OAUTH2}.* keys in the README`}`);
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
      jwtUsed = true;
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
        ? `providers can not be set in a .properties file: use ${JWT}.* lines for the provider "default", ${OAUTH2}.* lines for "oauth2", or a YAML file for others`
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

  // Both blocks in one file: two providers, each picked by its issuer.
  if (jwtUsed || oauth.size === 0) providers.push(provider);
  if (oauth.size > 0) providers.push(oauth2Provider(oauth, ctx));

  if (authType !== undefined) {
    const where = { path: authType.key, line: authType.line };
    const has = (t: string): boolean => authType?.types.includes(t) === true;
    if (!has('jwt') && !has('oauth2')) {
      warning(ctx, where, `"${authType.value}" does not include jwt or oauth2; this service only verifies JWTs and ignores the setting`);
    } else if (jwtUsed && !has('jwt')) {
      warning(ctx, where, `"${authType.value}" does not include jwt; the ${JWT}.* lines configure the provider "default" anyway`);
    } else if (oauth.size > 0 && !has('oauth2')) {
      warning(ctx, where, `"${authType.value}" does not include oauth2; the ${OAUTH2}.* lines configure the provider "oauth2" anyway`);
    }
  }

  if (ignored.length > 0) {
    warning(ctx, { path: '' }, `ignored ${ignored.length} key(s) that are not jwt-ext-authz settings: ${ignored.join(', ')}`);
  }
  return root;
}
