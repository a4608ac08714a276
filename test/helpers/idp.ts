import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { startHttpsServer, type Reply, type TestServer } from './https-server.js';
import { sign } from './keys.js';

/** A key pair with a kid, as an IdP publishes it. */
export interface IdpKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

export function idpKey(kid: string): IdpKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' } };
}

/**
 * An OpenID provider on a real HTTPS server (test CA): a discovery document at
 * `<issuer>/.well-known/openid-configuration` and JWK Sets at paths of its own.
 */
export interface TestIdp {
  readonly server: TestServer;
  /** `https://127.0.0.1:<port>/realms/corp` */
  readonly issuer: string;
  readonly caFile: string;
  /** Serves these keys at `path` (default `/realms/corp/certs`). */
  keys(keys: readonly IdpKey[], path?: string): void;
  /** What the document says: another issuer, or another jwks path (relative to the server). */
  document(doc: { issuer?: string; jwksPath?: string }): void;
  /** Every request answers this (an outage), until `up()`. */
  down(reply?: Reply): void;
  up(): void;
  /** Document and JWKS requests so far. */
  documentRequests(): number;
  jwksRequests(path?: string): number;
  /** A token from this IdP: its issuer, `sub`, `aud`, an hour of life, signed with `key`. */
  token(key: IdpKey, claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export const WELL_KNOWN = '/.well-known/openid-configuration';
const DEFAULT_JWKS = '/realms/corp/certs';

export async function startIdp(): Promise<TestIdp> {
  const server = await startHttpsServer();
  const issuer = `${server.url}/realms/corp`;
  const sets = new Map<string, readonly IdpKey[]>();
  let doc: { issuer?: string; jwksPath?: string } = {};
  let outage: Reply | undefined;
  server.setHandler((req) => {
    if (outage !== undefined) return outage;
    if (req.path === `/realms/corp${WELL_KNOWN}`) {
      return {
        body: {
          issuer: doc.issuer ?? issuer,
          jwks_uri: `${server.url}${doc.jwksPath ?? DEFAULT_JWKS}`,
          authorization_endpoint: `${issuer}/protocol/openid-connect/auth`,
          token_endpoint: `${issuer}/protocol/openid-connect/token`,
          id_token_signing_alg_values_supported: ['ES256'],
        },
      };
    }
    const keys = sets.get(req.path);
    return keys === undefined ? { status: 404, body: 'not found' } : { body: { keys: keys.map((k) => k.jwk) } };
  });
  const count = (path: string): number => server.requests.filter((r) => r.path === path).length;
  return {
    server,
    issuer,
    caFile: server.caFile,
    keys: (keys, path = DEFAULT_JWKS) => { sets.set(path, keys); },
    document: (d) => { doc = d; },
    down: (reply = { status: 503, body: 'down for maintenance' }) => { outage = reply; },
    up: () => { outage = undefined; },
    documentRequests: () => count(`/realms/corp${WELL_KNOWN}`),
    jwksRequests: (path = DEFAULT_JWKS) => count(path),
    token: (key, claims = {}) =>
      sign({ iss: issuer, sub: 'alice', aud: 'trino', exp: Math.floor(Date.now() / 1000) + 3600, ...claims }, key.privateKey, { kid: key.kid }),
    close: () => server.close(),
  };
}
