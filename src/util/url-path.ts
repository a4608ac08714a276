/**
 * The request path and host as route matching reads them (SPEC §11).
 *
 * A route table must not be bypassable by spelling a path differently, and proxies and
 * upstreams disagree on what a spelling means: Envoy keeps `%2F` encoded and `;x` literal and
 * compares case-sensitively; Jetty (Trino) drops `;x` path parameters; Go and nginx decode
 * `%2F`; IIS and some frameworks fold case. So a path has two readings here:
 *
 *  - `envoyPath`: Envoy's `normalize_path` (Chromium's path canonicalisation) plus
 *    `merge_slashes`, in that order: query and fragment cut, `\` read as `/`, percent-encoded
 *    unreserved characters (A-Z a-z 0-9 - . _ ~) decoded, dot segments resolved (`%2e` is a
 *    dot), then `//` merged. Other escapes are kept, with upper-case hex; `%2F` and `%5C` are
 *    never decoded into separators; characters that must be escaped are percent-encoded
 *    (UTF-8); a lone `%` becomes `%25`.
 *  - `lenientPath`: the most liberal reading an upstream may make of the same bytes: as above,
 *    but `%2F` and `%5C` are separators, `;parameters` are dropped from each segment (so
 *    `..;x` is `..`), empty segments go before dot segments are resolved, a trailing `/` is
 *    dropped, and letters are lower-cased.
 *
 * src/authz/routes.ts matches a route against both and applies every route that either
 * reading selects, so no spelling gets less checking than the path it may stand for.
 */

const HEX = '0123456789ABCDEF';

/** Per ASCII code: 0 copied as is, 1 percent-encoded (Chromium's ESCAPE/INVALID), 2 `%`, 3 `\`. */
const ASCII_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 0x21; c++) t[c] = 1;
  for (const ch of '"#<>?^`{|}\x7f') t[ch.charCodeAt(0)] = 1;
  t[0x25] = 2;
  t[0x5c] = 3;
  return t;
})();

/** RFC 3986 unreserved: what Envoy decodes from a percent-escape. */
const isUnreserved = (b: number): boolean =>
  (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const escaped = (b: number): string => `%${HEX[b >> 4] ?? ''}${HEX[b & 15] ?? ''}`;

/** `http://host/p` (absolute-form) → the index where its path starts; 0 for anything else. */
function pathStart(raw: string): number {
  const c = raw.charCodeAt(0);
  if (c === 0x2f || c === 0x5c) return 0;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\\?#]*/.exec(raw);
  return m === null ? 0 : m[0].length;
}

/** Where the path ends: at the first `?` or `#`. */
function pathEnd(raw: string): number {
  const q = raw.indexOf('?');
  const h = raw.indexOf('#');
  return q < 0 ? (h < 0 ? raw.length : h) : h < 0 || q < h ? q : h;
}

/** Character pass of both readings: one `/` per separator, escapes canonical. */
function canonicalChars(raw: string, lenient: boolean): string {
  const start = pathStart(raw);
  const end = pathEnd(raw);
  let out = raw.charCodeAt(start) === 0x2f || raw.charCodeAt(start) === 0x5c ? '' : '/';
  let run = start;
  for (let i = start; i < end; i++) {
    const c = raw.charCodeAt(i);
    const kind = c < 0x80 ? (ASCII_CLASS[c] ?? 0) : 1;
    if (kind === 0) continue;
    out += raw.slice(run, i);
    if (kind === 3) {
      out += '/';
    } else if (kind === 2) {
      const hi = i + 2 < end ? hexValue(raw.charCodeAt(i + 1)) : -1;
      const lo = hi < 0 ? -1 : hexValue(raw.charCodeAt(i + 2));
      if (lo < 0) {
        out += '%25';
      } else {
        const b = (hi << 4) | lo;
        out += isUnreserved(b) ? String.fromCharCode(b) : lenient && (b === 0x2f || b === 0x5c) ? '/' : escaped(b);
        i += 2;
      }
    } else if (c < 0x80) {
      out += escaped(c);
    } else {
      // UTF-8 of the code point (a lone surrogate as U+FFFD), as encodeURI would write it.
      const cp = raw.codePointAt(i) ?? 0xfffd;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp), 'utf8')) out += escaped(b);
    }
    run = i + 1;
  }
  return out + raw.slice(run, end);
}

/** Chromium's dot-segment resolution (empty segments count), then Envoy's merge_slashes. */
function envoySegments(p: string): string {
  if (!p.includes('/.') && !p.includes('//')) return p;
  const parts = p.split('/');
  const out: string[] = [];
  let dir = false;
  for (let k = 1; k < parts.length; k++) {
    const seg = parts[k] ?? '';
    dir = seg === '.' || seg === '..';
    if (seg === '..') out.pop();
    else if (!dir) out.push(seg);
  }
  const joined = `/${out.join('/')}${dir && out.length > 0 ? '/' : ''}`;
  return joined.replace(/\/{2,}/g, '/');
}

/** Parameters dropped, empty segments merged, dots resolved, no trailing `/`, lower case. */
function lenientSegments(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    const semi = part.indexOf(';');
    const seg = semi < 0 ? part : part.slice(0, semi);
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`.toLowerCase();
}

/**
 * A path that both readings leave as it is (up to `?`/`#`): only characters copied as they
 * are, no `;`, no `//`, no dot segment. `lower` tells whether it is also lower case with no
 * trailing `/`, so that the lenient reading is the same string. -1: not plain.
 */
function plainEnd(raw: string): { end: number; lower: boolean } | undefined {
  if (raw.charCodeAt(0) !== 0x2f) return undefined;
  let lower = true;
  let prev = 0x2f;
  let i = 1;
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x3f || c === 0x23) break;
    if (c >= 0x80 || (ASCII_CLASS[c] ?? 0) !== 0 || c === 0x3b) return undefined;
    if (c === 0x2f && prev === 0x2f) return undefined;
    // `/.` followed by `/`, `.`+`/`, or the end: a dot segment (`/.x` is a name).
    if (c === 0x2e && prev === 0x2f) {
      const n = raw.charCodeAt(i + 1);
      const nn = raw.charCodeAt(i + 2);
      if (Number.isNaN(n) || n === 0x2f || n === 0x3f || n === 0x23 || (n === 0x2e && (Number.isNaN(nn) || nn === 0x2f || nn === 0x3f || nn === 0x23))) return undefined;
    }
    if (c >= 0x41 && c <= 0x5a) lower = false;
    prev = c;
  }
  if (prev === 0x2f && i > 1) lower = false;
  return { end: i, lower };
}

/** The path as Envoy's `normalize_path` + `merge_slashes` leave it (see the file comment). */
export function envoyPath(raw: string): string {
  const plain = plainEnd(raw);
  if (plain !== undefined) return plain.end === raw.length ? raw : raw.slice(0, plain.end);
  return envoySegments(canonicalChars(raw, false));
}

/** The most liberal reading of the path an upstream may make (see the file comment). */
export function lenientPath(raw: string): string {
  const plain = plainEnd(raw);
  if (plain !== undefined && plain.lower) return plain.end === raw.length ? raw : raw.slice(0, plain.end);
  return lenientSegments(canonicalChars(raw, true));
}

const ENCODED_SEPARATOR = /%(?:2f|5c)/i;

/**
 * A third reading for a path holding an encoded `/` or `\` (undefined for any other): as
 * liberal as lenientPath, except that the encoded separator stays opaque — what an upstream
 * that drops `;params` or folds case but keeps `%2F` inside a segment (Tomcat's passthrough,
 * lenient Jetty) reads. Without it `/admin;x/a%2F..%2F..%2Fpublic` would read as `/admin;x/...`
 * to Envoy and as `/public` leniently, while such an upstream serves `/admin/...`.
 */
export function opaqueSeparatorPath(raw: string): string | undefined {
  const end = pathEnd(raw);
  const path = end === raw.length ? raw : raw.slice(0, end);
  return ENCODED_SEPARATOR.test(path) ? lenientSegments(canonicalChars(raw, false)) : undefined;
}

/**
 * True when both readings of `raw` are the same string (and cost no work): a plain,
 * lower-case path without a trailing `/`. Route matching then reads it once.
 */
export const hasOneReading = (raw: string): boolean => plainEnd(raw)?.lower === true;

/**
 * The host part of an authority, as routes compare it: port dropped, a trailing dot dropped
 * (`example.com.` is `example.com` to DNS), lower case.
 */
export function canonicalHost(authority: string): string {
  let h = authority;
  if (h.charCodeAt(0) === 0x5b) {
    const close = h.indexOf(']');
    if (close > 0) h = h.slice(0, close + 1);
  } else {
    const colon = h.lastIndexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}
