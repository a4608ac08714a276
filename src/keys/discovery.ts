/**
 * Reading an OIDC discovery document (SPEC §13; OpenID Connect Discovery 1.0 §3, §4.3): the
 * only two members used are `issuer` and `jwks_uri`.
 */
import { isObject } from '../util/strings.js';
import { originOf } from './https-fetch.js';

/** What a discovery document says, once it passed the checks below. */
export interface DiscoveredKeys {
  readonly issuer: string;
  /** The full `jwks_uri`, to fetch. */
  readonly jwksUri: string;
}

/** A value from the document, shortened and quoted for an error message. */
const shown = (v: string): string => JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}...` : v);

/**
 * Checks a parsed discovery document against the required issuer. Its `issuer` must equal it
 * exactly (§4.3): otherwise one IdP's document, and so its keys, could vouch for another's
 * issuer. Its `jwks_uri` must be an https:// URL (§3: REQUIRED, and TLS).
 */
export function readDiscoveryDocument(body: unknown, requiredIssuer: string): DiscoveredKeys | { error: string } {
  if (!isObject(body)) return { error: 'the discovery document is not a JSON object' };
  const issuer = body['issuer'];
  if (typeof issuer !== 'string') return { error: 'the discovery document has no "issuer" string' };
  if (issuer !== requiredIssuer) {
    return { error: `the discovery document names issuer ${shown(issuer)}, not the required issuer ${shown(requiredIssuer)}; refused` };
  }
  const jwksUri = body['jwks_uri'];
  if (typeof jwksUri !== 'string') return { error: 'the discovery document has no "jwks_uri" string' };
  if (!jwksUri.startsWith('https://') || !URL.canParse(jwksUri) || new URL(jwksUri).hostname === '') {
    // Never the raw value: a URL may carry a credential in its query.
    const url = URL.canParse(jwksUri) ? originOf(new URL(jwksUri)) : '(not a URL)';
    return { error: `the discovery document's jwks_uri ${shown(url)} is not an https:// URL; refused` };
  }
  return { issuer, jwksUri };
}
