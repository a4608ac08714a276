/**
 * Where a provider's keys come from (SPEC §4, §13), read from its config in one place so that
 * validation, the key sources, readiness and `verify` agree on it.
 */
import type { ProviderConfig } from './types.js';

/** OIDC Discovery §4: the document sits at this path below the issuer. */
export const WELL_KNOWN_OPENID = '/.well-known/openid-configuration';

export type KeyLocation =
  /** An OIDC discovery document; its `issuer` must equal `issuer`, its `jwks_uri` holds the keys. */
  | { readonly kind: 'discovery'; readonly url: string; readonly issuer: string }
  | { readonly kind: 'jwks'; readonly url: string }
  | { readonly kind: 'file'; readonly path: string };

/** `https://` or `http://`, case-sensitive as in Trino. */
export const isKeyUrl = (keyFile: string): boolean => keyFile.startsWith('https://') || keyFile.startsWith('http://');

/** `<issuer without one trailing />/.well-known/openid-configuration`. */
export const discoveryUrlFor = (issuer: string): string => `${issuer.endsWith('/') ? issuer.slice(0, -1) : issuer}${WELL_KNOWN_OPENID}`;

/** A key-file URL whose path ends in the well-known discovery path names a discovery document. */
export function isDiscoveryUrl(keyFile: string): boolean {
  if (!isKeyUrl(keyFile) || !URL.canParse(keyFile)) return false;
  return new URL(keyFile).pathname.endsWith(WELL_KNOWN_OPENID);
}

/**
 * The provider's key location; undefined only for a config that validation refuses: neither
 * key-file nor discovery, or discovery without required-issuer (nothing to check the document against).
 */
export function keyLocation(pc: Pick<ProviderConfig, 'keyFile' | 'discovery' | 'requiredIssuer'>): KeyLocation | undefined {
  if (pc.discovery) {
    return pc.requiredIssuer === undefined ? undefined : { kind: 'discovery', url: discoveryUrlFor(pc.requiredIssuer), issuer: pc.requiredIssuer };
  }
  const keyFile = pc.keyFile;
  if (keyFile === undefined) return undefined;
  if (isDiscoveryUrl(keyFile)) return pc.requiredIssuer === undefined ? undefined : { kind: 'discovery', url: keyFile, issuer: pc.requiredIssuer };
  return isKeyUrl(keyFile) ? { kind: 'jwks', url: keyFile } : { kind: 'file', path: keyFile };
}
