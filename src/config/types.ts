/**
 * The validated, normalised, frozen configuration (SPEC §3). Durations are milliseconds.
 * Field names are the camelCase forms of the YAML keys. Each row of the schema table
 * (schema.ts) names the field its key fills; build.ts checks at compile time that every field
 * here is filled by a row whose value fits it, so a new key is a new row plus its field here.
 */
export type TokenSource =
  | { readonly kind: 'header'; readonly name: string; readonly scheme?: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string };

export interface UserMappingConfig {
  readonly pattern?: string;
  /** Absolute path of a Trino JSON rule file. */
  readonly file?: string;
}

export interface JwksConfig {
  readonly refreshIntervalMs: number;
  readonly minRefreshIntervalMs: number;
  readonly timeoutMs: number;
  readonly maxStaleMs: number;
  readonly caFile?: string;
}

export interface ProviderConfig {
  readonly name: string;
  /**
   * JWKS or discovery-document URL (`https://` / `http://`, case-sensitive) or a local path
   * (absolute once loaded). Absent exactly when `discovery` is true.
   */
  readonly keyFile?: string;
  /** Keys found through OIDC discovery below `requiredIssuer` (SPEC §13). */
  readonly discovery: boolean;
  readonly requiredIssuer?: string;
  /** Any one must be in `aud`; empty means no audience check. */
  readonly requiredAudience: readonly string[];
  readonly principalField: string;
  readonly userMapping: UserMappingConfig;
  /** Explicit allow-list; absent means "whatever the key allows". */
  readonly algorithms?: readonly string[];
  /** This provider's tolerance for exp/nbf; absent: the global `clockSkewMs`. */
  readonly clockSkewMs?: number;
  /** A token without `exp` is `invalid_claims`. */
  readonly requireExpiration: boolean;
  /** Longest `exp - iat` accepted; absent: no limit. */
  readonly maxLifetimeMs?: number;
  readonly jwks: JwksConfig;
}

/** Where the HTTP listener reads the checked method, path and host (SPEC §12). */
export type OriginalRequest = 'path' | 'x-original' | 'x-forwarded';

export interface RouteMatchConfig {
  /** Lower case, no port; `*.example.com` matches one or more labels in front. */
  readonly hosts?: readonly string[];
  /** A normalised path; matches whole segments. */
  readonly pathPrefix?: string;
  /** A normalised path; matches exactly. */
  readonly path?: string;
  /** Upper case. */
  readonly methods?: readonly string[];
}

/** A route's claim and scope requirements (SPEC §14). */
export interface RouteRequireConfig {
  /** Every one must be in the token's `scope` or `scp`. */
  readonly scopes?: readonly string[];
  /** Claim path (dots walk into objects) → accepted values: any one of them, for every path. */
  readonly claims?: Readonly<Record<string, readonly string[]>>;
}

/** One row of the route table (SPEC §11); the first that matches wins. */
export interface RouteConfig {
  readonly name?: string;
  readonly match: RouteMatchConfig;
  /** Absent: every provider. */
  readonly providers?: readonly string[];
  readonly allowMissing: boolean;
  readonly require?: RouteRequireConfig;
  /** Absent: the global `reportOnly`. */
  readonly reportOnly?: boolean;
}

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string;
}

export interface Config {
  /** Absolute path of the file this came from; absent in demo mode. */
  readonly file?: string;
  readonly listen: string;
  /** `"off"` disables the admin listener. */
  readonly adminListen: string;
  readonly tls?: TlsConfig;
  readonly workers: number | 'auto';
  readonly clockSkewMs: number;
  readonly realm: string;
  readonly token: {
    readonly sources: readonly TokenSource[];
    readonly maxBytes: number;
  };
  readonly response: {
    readonly principalHeader: string;
    /** `""` disables the pass-through header. */
    readonly passThroughHeader: string;
    readonly forwardOriginal: boolean;
    /** header name (lower-case) → claim path */
    readonly claimHeaders: Readonly<Record<string, string>>;
    readonly dynamicMetadata: boolean;
    /** Request headers (lower-case) every allow removes (SPEC §14). */
    readonly removeHeaders: readonly string[];
  };
  /** Either limit at 0 disables the cache. */
  readonly cache: { readonly maxEntries: number; readonly maxBytes: number };
  readonly providers: readonly ProviderConfig[];
  readonly tokenPage?: { readonly path: string };
  /** `"off"` disables the HTTP authorization listener (SPEC §12). */
  readonly httpListen: string;
  readonly http: {
    /** Cut from the request path with `originalRequest: path`. */
    readonly pathPrefix?: string;
    readonly originalRequest: OriginalRequest;
  };
  /** Empty when none are configured. */
  readonly routes: readonly RouteConfig[];
  /** Revocation rules (SPEC §14); absent: nothing is revoked. */
  readonly revocations?: { readonly file: string };
  /** A would-be deny is answered as an allow without identity, and counted (SPEC §14). */
  readonly reportOnly: boolean;
}
