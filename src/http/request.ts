/**
 * What the HTTP mode checks (SPEC §12): the method, path and host of the request the proxy is
 * asking about, from the header family `http.original-request` names and from no other, and
 * the request's headers, looked up in node's raw header list (nothing copied).
 */
import type { Config } from '../config/types.js';
import { isName, type HttpRequestAttributes } from '../envoy/check-request.js';
import { reject, type Rejection } from '../reasons.js';

/**
 * Request attributes over node's `rawHeaders` (`[name, value, ...]`, names as sent). A
 * repeated header reads as its values joined with ",", as in Envoy's `headers` map, so two
 * `authorization` lines are two tokens (malformed_token), never a pick.
 */
export class HttpAttributes implements HttpRequestAttributes {
  constructor(
    readonly method: string,
    /** Query included, as Envoy's `path`. */
    readonly path: string,
    readonly host: string | undefined,
    private readonly raw: readonly string[],
  ) {}

  lookupHeader(name: string): string | undefined {
    return joined(this.raw, name);
  }
}


/** Every value of header `name` (lower case) joined with ",", or undefined. */
export function joined(raw: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] ?? '';
    if (!isName(k, name)) continue;
    const v = raw[i + 1] ?? '';
    found = found === undefined ? v : `${found},${v}`;
  }
  return found;
}

/** How many lines of header `name` (lower case) `raw` holds. */
function lines(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] ?? '';
    if (isName(k, name)) n++;
  }
  return n;
}

interface Family {
  readonly method: string;
  readonly uri: string;
  /** Absent: the request's own Host. */
  readonly host?: string;
  /** As written in messages. */
  readonly uriName: string;
}

const FAMILIES: Readonly<Record<'x-original' | 'x-forwarded', Family>> = {
  'x-original': { method: 'x-original-method', uri: 'x-original-uri', uriName: 'X-Original-URI' },
  'x-forwarded': { method: 'x-forwarded-method', uri: 'x-forwarded-uri', host: 'x-forwarded-host', uriName: 'X-Forwarded-Uri' },
};

/** Messages of these denials go to clients too: they name the header, never its value. */
const NO_URI = {
  'x-original': reject('internal_error', 'the proxy sent no X-Original-URI header (http.original-request: x-original); fix the proxy configuration'),
  'x-forwarded': reject('internal_error', 'the proxy sent no X-Forwarded-Uri header (http.original-request: x-forwarded); fix the proxy configuration'),
} as const;

const several = (name: string): Rejection =>
  reject('internal_error', `several ${name} headers: the proxy passed a client's own copy; fix the proxy configuration`);

const NOT_UNDER_PREFIX = new Map<string, Rejection>();
function notUnderPrefix(prefix: string): Rejection {
  let r = NOT_UNDER_PREFIX.get(prefix);
  if (r === undefined) {
    r = reject('internal_error', `the request path does not start with http.path-prefix ${prefix}; the proxy's path prefix differs`);
    if (NOT_UNDER_PREFIX.size < 16) NOT_UNDER_PREFIX.set(prefix, r);
  }
  return r;
}

const HIGH_BYTES = /[\x80-\xff]/;
/** Node reads the request line and headers as Latin-1: a UTF-8 path is read back as UTF-8, as Envoy sends it. */
const utf8 = (s: string): string => (HIGH_BYTES.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s);

/**
 * The attributes of the request the proxy asks about, or why it can not be checked: a
 * missing or repeated header of the named family is a proxy configuration problem, never a
 * check of some other path (SPEC §12).
 */
export function readRequest(method: string, url: string, raw: readonly string[], http: Config['http']): HttpAttributes | Rejection {
  const mode = http.originalRequest;
  if (mode === 'path') {
    let path = url;
    const prefix = http.pathPrefix === undefined ? '' : withoutTrailingSlashes(http.pathPrefix);
    if (prefix !== '') {
      if (!url.startsWith(prefix)) return notUnderPrefix(prefix);
      path = url.slice(prefix.length);
      const c = path.charCodeAt(0);
      if (Number.isNaN(c) || c === 0x3f) path = `/${path}`;
      else if (c !== 0x2f) return notUnderPrefix(prefix);
    }
    return new HttpAttributes(method, utf8(path), hostOf(raw), raw);
  }
  const family = FAMILIES[mode];
  const uriLines = lines(raw, family.uri);
  if (uriLines === 0) return NO_URI[mode];
  if (uriLines > 1) return several(family.uriName);
  const uri = joined(raw, family.uri) ?? '';
  if (lines(raw, family.method) > 1) return several(family.method);
  const originalMethod = joined(raw, family.method) ?? method;
  let host = hostOf(raw);
  if (family.host !== undefined) {
    if (lines(raw, family.host) > 1) return several(family.host);
    host = joined(raw, family.host) ?? host;
  }
  return new HttpAttributes(originalMethod, utf8(uri), host, raw);
}

/** `/authz/` → `/authz`; no work (and no regex) for a prefix written without the slash. */
function withoutTrailingSlashes(prefix: string): string {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0x2f) end--;
  return end === prefix.length ? prefix : prefix.slice(0, end);
}

/** Host, or HTTP/2's `:authority`. */
function hostOf(raw: readonly string[]): string | undefined {
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] ?? '';
    if (k === ':authority') return raw[i + 1];
    if (isName(k, 'host')) host ??= raw[i + 1];
  }
  return host;
}
