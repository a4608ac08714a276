/**
 * The parts of an Envoy CheckRequest the decision reads, decoded by proto-loader with
 * `keepCase: true`. Only what we use is typed; everything is optional on the wire.
 */
export interface HeaderValue {
  readonly key?: string;
  readonly value?: string;
  readonly raw_value?: Uint8Array;
}

export interface HttpRequestAttributes {
  readonly id?: string;
  readonly method?: string | undefined;
  /** As Envoy sends it: query included. */
  readonly path?: string | undefined;
  /** The authority (Host / :authority), port included. */
  readonly host?: string | undefined;
  /** Default encoding: lower-case names, duplicates merged with ",". */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The same map as `headers`, looked up in the request's wire bytes (src/grpc/request-decoder.ts):
   * a check reads one or two headers, so the others are never turned into strings.
   */
  readonly lookupHeader?: (name: string) => string | undefined;
  /** `encode_raw_headers: true`: one entry per header line, values in `raw_value`. */
  readonly header_map?: { readonly headers?: readonly HeaderValue[] } | null;
}

export interface CheckRequestAttributes {
  readonly request?: { readonly http?: HttpRequestAttributes | null } | null;
  readonly context_extensions?: Readonly<Record<string, string>>;
}

export interface CheckRequest {
  readonly attributes?: CheckRequestAttributes | null;
  /** Set only on UNDECODABLE: the bytes were no CheckRequest, and the check must deny (SPEC §8). */
  readonly undecodable?: true;
}

/**
 * What the server's codec hands the check for bytes that do not decode as a CheckRequest:
 * throwing there would make grpc-js answer a gRPC error, which Envoy may fail open on.
 */
export const UNDECODABLE: CheckRequest = Object.freeze({ undecodable: true });

const EMPTY: readonly string[] = [];

/** Header name `k` as sent equals `name` (lower case), ASCII case folded without allocating. */
export function isName(k: string, name: string): boolean {
  if (k.length !== name.length) return false;
  if (k === name) return true;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Every value of one header, lower-case name. With the `headers` map a repeated header arrives
 * as one comma-joined value; with `header_map` each line is its own value.
 */
export function headerValues(http: HttpRequestAttributes, name: string): readonly string[] {
  const raw = http.header_map?.headers;
  if (raw !== undefined && raw.length > 0) {
    let out: string[] | undefined;
    for (const h of raw) {
      if (h.key === undefined || !isName(h.key, name)) continue;
      const v = h.value !== undefined && h.value !== '' ? h.value : Buffer.from(h.raw_value ?? EMPTY_BYTES).toString('latin1');
      (out ??= []).push(v);
    }
    return out ?? EMPTY;
  }
  const v = http.lookupHeader !== undefined ? http.lookupHeader(name) : http.headers?.[name];
  return v === undefined ? EMPTY : [v];
}

const EMPTY_BYTES = new Uint8Array(0);

/** The first value of one header (lower-case name), without building a list. */
export function headerValue(http: HttpRequestAttributes, name: string): string | undefined {
  if (http.header_map?.headers !== undefined && http.header_map.headers.length > 0) return headerValues(http, name)[0];
  return http.lookupHeader !== undefined ? http.lookupHeader(name) : http.headers?.[name];
}

/** `:path` as Envoy sends it (query included). */
export function requestPath(http: HttpRequestAttributes): string {
  if (http.path !== undefined && http.path !== '') return http.path;
  return headerValues(http, ':path')[0] ?? '';
}
