/**
 * The one table of configuration keys (SPEC §3), and the only place a key is written by hand.
 * It drives validation (validate.ts walks it; defaults are parsed from the `default` column
 * with the same rules as user input), the typed Config (each row's `field` says where its
 * value lands; build.ts derives both the builder and the YAML writer from that) and
 * documentation (the README table is compared with it, descriptions included).
 */
import type { Config, OriginalRequest } from './types.js';

export interface ConfigKeySpec {
  /** YAML path as documented, e.g. `listen`, `token.max-bytes`, `providers[].jwks.refresh-interval`. */
  readonly path: string;
  /** Short human type: `duration`, `string`, `integer`, `boolean`, `list of string`, `address`, ... */
  readonly type: string;
  /** As shown in docs (YAML text); `''` if none. */
  readonly default: string;
  readonly description: string;
}

/** How a value is checked and normalised; see validate.ts. */
export const KEY_KINDS = [
  'section', 'list', 'address', 'address-or-off', 'workers', 'duration', 'integer', 'boolean',
  'string', 'issuer', 'realm', 'header', 'optional-header', 'claim-headers', 'provider-name',
  'key-file', 'file', 'audience', 'algorithms', 'pattern', 'url-path', 'token-name',
  'original-request', 'route-name', 'route-hosts', 'route-path', 'methods', 'provider-names',
  'header-list', 'scopes', 'claim-requirements',
] as const;
export type KeyKind = (typeof KEY_KINDS)[number];
export type LeafKind = Exclude<KeyKind, 'section' | 'list'>;

/** The value validation makes of each kind of leaf (durations in milliseconds, files absolute). */
export interface KindValue {
  readonly 'address': string;
  readonly 'address-or-off': string;
  readonly 'workers': number | 'auto';
  readonly 'duration': number;
  readonly 'integer': number;
  readonly 'boolean': boolean;
  readonly 'string': string;
  readonly 'issuer': string;
  readonly 'realm': string;
  readonly 'header': string;
  readonly 'optional-header': string;
  readonly 'claim-headers': Readonly<Record<string, string>>;
  readonly 'provider-name': string;
  readonly 'key-file': string;
  readonly 'file': string;
  readonly 'audience': readonly string[];
  readonly 'algorithms': readonly string[];
  readonly 'pattern': string;
  readonly 'url-path': string;
  readonly 'token-name': string;
  readonly 'original-request': OriginalRequest;
  readonly 'route-name': string;
  readonly 'route-hosts': readonly string[];
  readonly 'route-path': string;
  readonly 'methods': readonly string[];
  readonly 'provider-names': readonly string[];
  readonly 'header-list': readonly string[];
  readonly 'scopes': readonly string[];
  readonly 'claim-requirements': Readonly<Record<string, readonly string[]>>;
}

/**
 * Dotted paths of the fields of `T`, `[]` marking list items: `tls.certFile`,
 * `providers[].jwks.timeoutMs`. A record (`claimHeaders`) is a leaf.
 */
export type FieldPath<T> = T extends unknown
  ? { [K in keyof T & string]-?: K | FieldPathBelow<K, NonNullable<T[K]>> }[keyof T & string]
  : never;
type FieldPathBelow<K extends string, V> =
  V extends readonly (infer E)[] ? (E extends object ? `${K}[].${FieldPath<E>}` : never)
  : V extends object ? (string extends keyof V ? never : `${K}.${FieldPath<V>}`)
  : never;

/** Every place in Config a row can put its value. */
export type ConfigField = FieldPath<Config>;

/** A row plus what validation and the Config mapping need beyond the docs. */
export interface KeySpec extends ConfigKeySpec {
  readonly kind: KeyKind;
  /**
   * Where the value lands in Config. A row below a section or list names a field inside that
   * section's or list item's field (`providers[].jwks.timeoutMs` below `providers[].jwks`).
   */
  readonly field: ConfigField;
  /**
   * For keys that each make a list item a different variant (a token source is a header,
   * cookie or query source): the Config field that is set to this key's name.
   */
  readonly variant?: ConfigField;
  /** A list that is `[]` in Config when unset, and left out of the YAML when empty. */
  readonly unsetIsEmpty?: true;
  /** Must be set (no default) whenever its section is present. */
  readonly required?: true;
  /** A section that stays absent unless set (`tls`, `token-page`). */
  readonly optional?: true;
  /** Cannot be written in a .properties file. */
  readonly yamlOnly?: true;
  /** Bounds: integers as is, durations in milliseconds. */
  readonly min?: number;
  readonly max?: number;
}

/** setTimeout's limit: longer timers fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

const ROWS = [
  // YAML path, Config field, how it is read; then the docs columns.
  { path: 'listen', field: 'listen', kind: 'address',
    type: 'address', default: '127.0.0.1:9191',
    description: 'gRPC ext_authz listener: host:port, or unix:/path for a Unix socket.' },
  { path: 'admin-listen', field: 'adminListen', kind: 'address-or-off',
    type: 'address or "off"', default: '127.0.0.1:9901',
    description: 'HTTP listener for /metrics, /healthz and /readyz; "off" disables it.' },
  { path: 'http-listen', field: 'httpListen', kind: 'address-or-off',
    type: 'address or "off"', default: 'off',
    description: 'HTTP authorization listener (Envoy http_service, Istio envoyExtAuthzHttp, nginx auth_request, Traefik ForwardAuth, Caddy forward_auth): host:port, unix:/path, or "off".' },
  { path: 'tls', field: 'tls', kind: 'section', optional: true,
    type: 'mapping', default: '',
    description: 'TLS for the gRPC listener; off unless set. The files are re-read every 5 s, so a rotated certificate needs no restart.' },
  { path: 'tls.cert-file', field: 'tls.certFile', kind: 'file', required: true,
    type: 'file path', default: '',
    description: 'PEM certificate (chain). Required with tls.' },
  { path: 'tls.key-file', field: 'tls.keyFile', kind: 'file', required: true,
    type: 'file path', default: '',
    description: 'PEM private key. Required with tls.' },
  { path: 'tls.client-ca-file', field: 'tls.clientCaFile', kind: 'file',
    type: 'file path', default: '',
    description: 'PEM CA bundle; when set, clients must present a certificate it signed (mTLS).' },
  { path: 'workers', field: 'workers', kind: 'workers',
    type: 'integer or "auto"', default: '1', min: 1, max: 1024,
    description: 'Processes serving the listener; "auto" = one per CPU core.' },
  { path: 'clock-skew', field: 'clockSkewMs', kind: 'duration',
    type: 'duration', default: '60s', min: 0,
    description: 'Tolerance for exp and nbf.' },
  { path: 'realm', field: 'realm', kind: 'realm',
    type: 'string', default: 'jwt-ext-authz',
    description: 'Realm in WWW-Authenticate (no quotes or backslashes).' },
  { path: 'token', field: 'token', kind: 'section',
    type: 'mapping', default: '',
    description: 'Where the token is found and how large it may be.' },
  { path: 'token.sources', field: 'token.sources', kind: 'list', yamlOnly: true,
    type: 'list of token source', default: '[{header: authorization, scheme: Bearer}]',
    description: 'Tried in order; each entry has exactly one of header, cookie or query. YAML only.' },
  { path: 'token.sources[].header', field: 'token.sources[].name', kind: 'header', variant: 'token.sources[].kind',
    type: 'header name', default: '',
    description: 'Request header carrying the token (compared lower-case).' },
  { path: 'token.sources[].scheme', field: 'token.sources[].scheme', kind: 'token-name',
    type: 'string', default: '',
    description: 'With header: scheme before the token, compared case-insensitively; the token is trimmed. Without it the whole value is the token.' },
  { path: 'token.sources[].cookie', field: 'token.sources[].name', kind: 'token-name', variant: 'token.sources[].kind',
    type: 'string', default: '',
    description: 'Cookie carrying the token.' },
  { path: 'token.sources[].query', field: 'token.sources[].name', kind: 'string', variant: 'token.sources[].kind',
    type: 'string', default: '',
    description: 'Query parameter carrying the token.' },
  { path: 'token.max-bytes', field: 'token.maxBytes', kind: 'integer',
    type: 'integer', default: '8192', min: 1, max: 1_048_576,
    description: 'Longer tokens are rejected (token_too_large) without parsing.' },
  { path: 'response', field: 'response', kind: 'section',
    type: 'mapping', default: '',
    description: 'What an allow answer adds upstream.' },
  { path: 'response.principal-header', field: 'response.principalHeader', kind: 'header',
    type: 'header name', default: 'x-jwt-principal',
    description: 'Header set to the mapped principal.' },
  { path: 'response.pass-through-header', field: 'response.passThroughHeader', kind: 'optional-header',
    type: 'header name or ""', default: 'x-forwarded-access-token',
    description: 'Header set to the verified token as received; "" disables it.' },
  { path: 'response.forward-original', field: 'response.forwardOriginal', kind: 'boolean',
    type: 'boolean', default: 'true',
    description: 'false: remove the header, cookie or query parameter that carried the token.' },
  { path: 'response.claim-headers', field: 'response.claimHeaders', kind: 'claim-headers',
    type: 'map of header name to claim path', default: '{}',
    description: 'Extra headers set from claims (arrays joined with ","), e.g. { x-jwt-email: email }.' },
  { path: 'response.dynamic-metadata', field: 'response.dynamicMetadata', kind: 'boolean',
    type: 'boolean', default: 'true',
    description: 'Put principal, user, provider, iss, sub (and the route) in the dynamic_metadata of an allow. Deny and report-only answers carry reason, provider and route either way.' },
  { path: 'response.remove-headers', field: 'response.removeHeaders', kind: 'header-list', unsetIsEmpty: true,
    type: 'list of header name', default: '',
    description: 'Request headers every allow removes upstream (e.g. for Trino x-trino-original-user); compared lower-case. An Authorization header that did not carry the verified token is removed anyway.' },
  { path: 'cache', field: 'cache', kind: 'section',
    type: 'mapping', default: '',
    description: 'Verified-token cache.' },
  { path: 'cache.max-entries', field: 'cache.maxEntries', kind: 'integer',
    type: 'integer', default: '10000', min: 0,
    description: 'Entries in the verified-token cache; 0 disables it.' },
  { path: 'cache.max-bytes', field: 'cache.maxBytes', kind: 'integer',
    type: 'integer', default: '3145728', min: 0,
    description: 'Bytes the verified-token cache may hold, estimated per entry from the token length; 0 disables it.' },
  { path: 'providers', field: 'providers', kind: 'list', required: true, yamlOnly: true,
    type: 'list of provider', default: '',
    description: 'Required, at least one. In a .properties file: the provider "default" made of the http-server.authentication.jwt.* lines, and "oauth2" made of the http-server.authentication.oauth2.* lines.' },
  { path: 'providers[].name', field: 'providers[].name', kind: 'provider-name', required: true,
    type: 'string', default: '',
    description: 'Required and unique: lower-case letters, digits, "_" and "-". Used in logs, metrics and jwt.providers.' },
  { path: 'providers[].key-file', field: 'providers[].keyFile', kind: 'key-file',
    type: 'file path or URL', default: '',
    description: 'Required unless discovery is true. https:// or http:// (case-sensitive): a JWKS URL, or an OIDC discovery document when the path ends in /.well-known/openid-configuration; otherwise a PEM public key, a JSON JWK Set or JWK, or a base64 HMAC file; ${KID} or $KEYID makes it a per-key template.' },
  { path: 'providers[].discovery', field: 'providers[].discovery', kind: 'boolean',
    type: 'boolean', default: 'false',
    description: 'true: find the keys through OIDC discovery: the document at required-issuer + /.well-known/openid-configuration must name required-issuer as its issuer, and its https:// jwks_uri is fetched like a JWKS URL. Needs required-issuer; excludes key-file.' },
  { path: 'providers[].required-issuer', field: 'providers[].requiredIssuer', kind: 'issuer',
    type: 'string', default: '',
    description: 'iss must equal this exactly; also picks the provider for a token.' },
  { path: 'providers[].required-audience', field: 'providers[].requiredAudience', kind: 'audience', unsetIsEmpty: true,
    type: 'string or list of string', default: '',
    description: 'At least one of these must be in aud.' },
  { path: 'providers[].principal-field', field: 'providers[].principalField', kind: 'string',
    type: 'string', default: 'sub',
    description: 'Top-level claim holding the principal.' },
  { path: 'providers[].user-mapping', field: 'providers[].userMapping', kind: 'section',
    type: 'mapping', default: '',
    description: 'Trino user mapping; pattern and file are exclusive. Neither: the principal, trimmed.' },
  { path: 'providers[].user-mapping.pattern', field: 'providers[].userMapping.pattern', kind: 'pattern',
    type: 'regular expression', default: '',
    description: 'Must match the whole principal; the user is group 1.' },
  { path: 'providers[].user-mapping.file', field: 'providers[].userMapping.file', kind: 'file',
    type: 'file path', default: '',
    description: 'Trino JSON rules file {"rules": [...]}.' },
  { path: 'providers[].algorithms', field: 'providers[].algorithms', kind: 'algorithms',
    type: 'list of algorithm', default: '',
    description: 'Allow-list from HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, Ed25519. Unset: every asymmetric alg the key allows, HS* only for HMAC files.' },
  { path: 'providers[].clock-skew', field: 'providers[].clockSkewMs', kind: 'duration',
    type: 'duration', default: '', min: 0,
    description: 'Tolerance for exp and nbf for this provider. Unset: the global clock-skew.' },
  { path: 'providers[].require-expiration', field: 'providers[].requireExpiration', kind: 'boolean',
    type: 'boolean', default: 'false',
    description: 'true: a token without exp is invalid_claims.' },
  { path: 'providers[].max-lifetime', field: 'providers[].maxLifetimeMs', kind: 'duration',
    type: 'duration', default: '', min: 1000,
    description: 'Longest accepted exp - iat; a token over it, or without exp or iat, is invalid_claims. Unset: no limit.' },
  { path: 'providers[].jwks', field: 'providers[].jwks', kind: 'section',
    type: 'mapping', default: '',
    description: 'JWKS fetching, used when key-file is a URL and for discovery (the document and its jwks_uri alike).' },
  { path: 'providers[].jwks.refresh-interval', field: 'providers[].jwks.refreshIntervalMs', kind: 'duration',
    type: 'duration', default: '15m', min: 1, max: MAX_TIMER_MS,
    description: 'Scheduled refetch period; with discovery the document is read again each time, and a changed jwks_uri is followed.' },
  { path: 'providers[].jwks.min-refresh-interval', field: 'providers[].jwks.minRefreshIntervalMs', kind: 'duration',
    type: 'duration', default: '30s', min: 0, max: MAX_TIMER_MS,
    description: 'Cooldown between fetches caused by an unknown kid.' },
  { path: 'providers[].jwks.timeout', field: 'providers[].jwks.timeoutMs', kind: 'duration',
    type: 'duration', default: '5s', min: 1, max: MAX_TIMER_MS,
    description: 'Time limit of one fetch (with discovery, the document and the JWKS each get it).' },
  { path: 'providers[].jwks.max-stale', field: 'providers[].jwks.maxStaleMs', kind: 'duration',
    type: 'duration', default: '24h', min: 0,
    description: 'Keep serving the last good key set this long while fetches fail.' },
  { path: 'providers[].jwks.ca-file', field: 'providers[].jwks.caFile', kind: 'file',
    type: 'file path', default: '',
    description: 'Extra PEM CA for the JWKS endpoint and the discovery document (NODE_EXTRA_CA_CERTS also works).' },
  { path: 'token-page', field: 'tokenPage', kind: 'section', optional: true,
    type: 'mapping', default: '',
    description: 'Client token page; off unless set.' },
  { path: 'token-page.path', field: 'tokenPage.path', kind: 'url-path', required: true,
    type: 'URL path', default: '',
    description: 'Request path answered with the token page; starts with "/".' },
  { path: 'http', field: 'http', kind: 'section',
    type: 'mapping', default: '',
    description: 'How the HTTP listener (http-listen) reads the request it checks.' },
  { path: 'http.path-prefix', field: 'http.pathPrefix', kind: 'url-path',
    type: 'URL path', default: '',
    description: 'With original-request: path, cut from the front of the request path (Envoy http_service.path_prefix, Istio pathPrefix); a request without it is denied (internal_error).' },
  { path: 'http.original-request', field: 'http.originalRequest', kind: 'original-request',
    type: 'path, x-original or x-forwarded', default: 'path',
    description: 'Where the checked method, path and host come from: path = the request itself (Envoy, Istio); x-original = X-Original-Method, X-Original-URI, Host (nginx); x-forwarded = X-Forwarded-Method, -Uri, -Host (Traefik, Caddy). Only that family is read; without its URI header the check is denied (internal_error).' },
  { path: 'routes', field: 'routes', kind: 'list', unsetIsEmpty: true, yamlOnly: true,
    type: 'list of route', default: '',
    description: 'Per-route settings, matched on host, path and method; the first match wins; no match: every provider, token required. YAML only.' },
  { path: 'routes[].name', field: 'routes[].name', kind: 'route-name',
    type: 'string', default: '',
    description: 'Named in the deny log, dynamic metadata and verify/check output; default routes[N].' },
  { path: 'routes[].match', field: 'routes[].match', kind: 'section', required: true,
    type: 'mapping', default: '',
    description: 'Required, with at least one of hosts, path-prefix, path, methods; all given must match.' },
  { path: 'routes[].match.hosts', field: 'routes[].match.hosts', kind: 'route-hosts',
    type: 'list of host', default: '',
    description: 'Host names without port, compared lower-case; "*.example.com" matches one or more labels in front of example.com.' },
  { path: 'routes[].match.path-prefix', field: 'routes[].match.pathPrefix', kind: 'route-path',
    type: 'URL path', default: '',
    description: 'Whole segments: /v1/ and /v1 both match /v1 and /v1/x, not /v10. Compared with the normalised request path.' },
  { path: 'routes[].match.path', field: 'routes[].match.path', kind: 'route-path',
    type: 'URL path', default: '',
    description: 'Exact normalised request path (query cut off). Exclusive with path-prefix.' },
  { path: 'routes[].match.methods', field: 'routes[].match.methods', kind: 'methods',
    type: 'list of method', default: '',
    description: 'HTTP methods, compared upper-case; GET also matches HEAD.' },
  { path: 'routes[].providers', field: 'routes[].providers', kind: 'provider-names',
    type: 'list of provider name', default: '',
    description: 'Only these providers may accept the token (like jwt.providers). Unset: every provider.' },
  { path: 'routes[].allow-missing', field: 'routes[].allowMissing', kind: 'boolean',
    type: 'boolean', default: 'false',
    description: 'true: a request without a token is allowed with every identity header removed (like jwt.allow-missing); a token that is present must still be valid.' },
  { path: 'revocations', field: 'revocations', kind: 'section', optional: true,
    type: 'mapping', default: '',
    description: 'Revoked tokens; off unless set.' },
  { path: 'revocations.file', field: 'revocations.file', kind: 'file', required: true,
    type: 'file path', default: '',
    description: 'JSON rules file {"rules": [...]}, each rule one of {jti}, {jti, iss}, {iss, sub}, {iss, sub, issued-before}, {iss, issued-before} (RFC 3339; tokens with an older iat, or none, are revoked). Re-read when it changes; a broken new version keeps the last good rules. Required with revocations.' },
  { path: 'routes[].require', field: 'routes[].require', kind: 'section', optional: true,
    type: 'mapping', default: '',
    description: 'What the verified token must hold on this route, with scopes and/or claims; jwt.require-scopes and jwt.require-claims replace each part.' },
  { path: 'routes[].require.scopes', field: 'routes[].require.scopes', kind: 'scopes',
    type: 'list of scope', default: '',
    description: 'Every one must be in the token\'s scope (space-separated) or scp (string or list); else insufficient_scope (403).' },
  { path: 'routes[].require.claims', field: 'routes[].require.claims', kind: 'claim-requirements',
    type: 'map of claim path to list of string', default: '',
    description: 'For every claim path (dots walk into objects), the claim (a string or a list of strings) must hold one of the values; else claim_mismatch (403).' },
  { path: 'routes[].report-only', field: 'routes[].reportOnly', kind: 'boolean',
    type: 'boolean', default: '',
    description: 'Like report-only, for this route. Unset: the global report-only.' },
  { path: 'report-only', field: 'reportOnly', kind: 'boolean',
    type: 'boolean', default: 'false',
    description: 'true: a would-be deny is answered as an allow with every identity header removed, logged and counted in jwt_ext_authz_report_only_denials_total (a dry run).' },
] as const satisfies readonly KeySpec[];

/** The rows with their literal types, for the consistency checks in build.ts. */
export type SchemaRow = (typeof ROWS)[number];

export const SCHEMA: readonly KeySpec[] = ROWS;
export const CONFIG_KEYS: readonly ConfigKeySpec[] = SCHEMA;

/** `providers[].jwks.timeout` → parent `providers[].jwks`, name `timeout`. */
export function splitPath(path: string): { readonly parent: string; readonly name: string } {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? { parent: '', name: path } : { parent: path.slice(0, dot), name: path.slice(dot + 1) };
}

/** Rows by parent path (`''` for the top level); list items are under `<list>[]`. */
export const CHILDREN: ReadonlyMap<string, readonly KeySpec[]> = (() => {
  const m = new Map<string, KeySpec[]>();
  for (const spec of SCHEMA) {
    const { parent } = splitPath(spec.path);
    const list = m.get(parent) ?? [];
    list.push(spec);
    m.set(parent, list);
  }
  return m;
})();

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** `" (did you mean x?)"` when one candidate is close (ignoring case), else `""`. */
export function suggest(word: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 4)) + 1;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  return best === undefined ? '' : ` (did you mean ${best}?)`;
}
