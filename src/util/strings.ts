/** Java `String.trim()`: strips every char <= U+0020 at both ends, and nothing else (not NBSP). */
export function javaTrim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) <= 0x20) start++;
  while (end > start && s.charCodeAt(end - 1) <= 0x20) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** NUL, CR or LF: no HTTP header value may carry them, so no identity header may hold them. */
const UNSAFE_HEADER_VALUE = /[\0\r\n]/;

export const isSafeHeaderValue = (value: string): boolean => !UNSAFE_HEADER_VALUE.test(value);

/** A plain JSON object (not null, not an array). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * An OAuth 2.0 scope token (RFC 6749 §3.3: printable ASCII without space, `"` or `\\`); also what
 * can be quoted in a WWW-Authenticate challenge.
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
