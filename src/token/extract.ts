import type { TokenSource } from '../config/types.js';
import { javaTrim } from '../util/strings.js';
import { reject, type Rejection } from '../reasons.js';
import { headerValues, requestPath, type HttpRequestAttributes } from '../envoy/check-request.js';

/** Where the token was found, so `forward-original: false` can remove exactly that carrier. */
export interface FoundToken {
  readonly token: string;
  readonly source: TokenSource;
  /** Cookie source only: the request's other cookies, for `forward-original: false`. */
  readonly otherCookies?: string;
}

const several = (what: string): Rejection => reject('malformed_token', `several tokens in ${what}`);

/**
 * Trino's bearer parsing: the text before the first ASCII space must equal the scheme
 * (case-insensitively), the token is the rest, Java-trimmed. Anything else: no token here.
 */
function fromHeaderValue(value: string, scheme: string | undefined): string | undefined {
  if (scheme === undefined) return javaTrim(value) || undefined;
  const space = value.indexOf(' ');
  if (space !== scheme.length) return undefined;
  // The usual spelling first: no lower-cased copies on the hot path.
  if (!value.startsWith(scheme) && value.slice(0, space).toLowerCase() !== scheme.toLowerCase()) return undefined;
  return javaTrim(value.slice(space + 1)) || undefined;
}

function fromHeader(http: HttpRequestAttributes, name: string, scheme: string | undefined): string | Rejection | undefined {
  const values = headerValues(http, name);
  if (values.length === 0) return undefined;
  if (values.length > 1) return several(`the ${name} header (it appears ${values.length} times)`);
  const token = fromHeaderValue(values[0] ?? '', scheme);
  // Envoy joins repeated headers with ","; a JWT never contains one.
  if (token !== undefined && token.includes(',')) return several(`the ${name} header`);
  return token;
}

/**
 * The `name=value` pairs of a cookie line. Envoy may join several `cookie` lines with "," as
 * well as ";", but a separator inside a quoted value (RFC 6265 allows `name="a,b"`) is part of
 * the value: splitting there would rewrite the cookie upstream.
 */
function cookiePairs(line: string): string[] {
  const pairs: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x22) quoted = !quoted;
    else if (!quoted && (c === 0x3b || c === 0x2c)) {
      pairs.push(line.slice(start, i));
      start = i + 1;
    }
  }
  pairs.push(line.slice(start));
  return pairs;
}

function fromCookie(http: HttpRequestAttributes, source: TokenSource): FoundToken | Rejection | undefined {
  let found: string | undefined;
  const others: string[] = [];
  for (const line of headerValues(http, 'cookie')) {
    for (const part of cookiePairs(line)) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== source.name) {
        if (part.trim() !== '') others.push(part.trim());
        continue;
      }
      let value = part.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (value === '') continue;
      if (found !== undefined) return several(`the ${source.name} cookie`);
      found = value;
    }
  }
  return found === undefined ? undefined : { token: found, source, otherCookies: others.join('; ') };
}

function fromQuery(http: HttpRequestAttributes, name: string): string | Rejection | undefined {
  const path = requestPath(http);
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  const hash = path.indexOf('#', q);
  let found: string | undefined;
  // Match the raw (undecoded) name, as Envoy's query_parameters_to_remove does: a
  // percent-encoded name must not select a token that removal would then leave in place.
  for (const pair of path.slice(q + 1, hash < 0 ? undefined : hash).split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq) !== name) continue;
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      return reject('malformed_token', `the ${name} query parameter is not valid percent-encoding`);
    }
    if (value === '') continue;
    if (found !== undefined) return several(`the ${name} query parameter`);
    found = value;
  }
  return found;
}

/**
 * Takes the token from the first configured source that has one (SPEC §5 step 1).
 * Returns undefined when no source carries a token.
 */
export function extractToken(http: HttpRequestAttributes, sources: readonly TokenSource[]): FoundToken | Rejection | undefined {
  for (const source of sources) {
    let found: string | Rejection | undefined;
    switch (source.kind) {
      case 'header':
        found = fromHeader(http, source.name, source.scheme);
        break;
      case 'cookie': {
        const cookie = fromCookie(http, source);
        if (cookie !== undefined) return cookie;
        continue;
      }
      case 'query':
        found = fromQuery(http, source.name);
        break;
    }
    if (found === undefined) continue;
    if (typeof found !== 'string') return found;
    return { token: found, source };
  }
  return undefined;
}
