import { isSafeHeaderValue } from '../util/strings.js';
/**
 * Claim values for `response.claim-headers`: a dotted path into the claims (a literal
 * top-level name with dots wins), strings as they are, numbers and booleans as text, arrays
 * joined with ",", objects JSON-encoded. Values that could not travel in a header
 * (CR, LF, NUL) are dropped, and the header is removed instead.
 */
export function claimHeaderValue(claims: Readonly<Record<string, unknown>>, path: string): string | undefined {
  let value: unknown = claims[path];
  if (value === undefined && path.includes('.')) {
    value = claims;
    for (const part of path.split('.')) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
      value = (value as Record<string, unknown>)[part];
    }
  }
  const text = toText(value);
  return text === undefined || !isSafeHeaderValue(text) ? undefined : text;
}

function toText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      if (value === null) return undefined;
      if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))).join(',');
      return JSON.stringify(value);
    default:
      return undefined;
  }
}
