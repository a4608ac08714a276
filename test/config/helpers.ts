import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ConfigError, type ConfigProblem } from '../../src/errors.js';
import type { ConfigWarning } from '../../src/config/load.js';

/** A fresh temp directory for one test. */
export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'jwt-ext-authz-config-'));

/** Writes `text` as `name` in a new temp directory and returns its path. */
export function writeTemp(name: string, text: string): string {
  const file = join(tempDir(), name);
  writeFileSync(file, text);
  return file;
}

/** Runs `fn`, expects a ConfigError and returns its problems. */
export function problemsOf(fn: () => unknown): readonly ConfigProblem[] {
  try {
    fn();
  } catch (e: unknown) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

/** A warn callback that collects. */
export function collector(): { warnings: ConfigWarning[]; warn: (w: ConfigWarning) => void } {
  const warnings: ConfigWarning[] = [];
  return { warnings, warn: (w) => { warnings.push(w); } };
}

/** The SPEC §3 example, verbatim. */
export const SPEC_EXAMPLE = `listen: 127.0.0.1:9191          # gRPC ext_authz listener; "unix:/run/jwt-ext-authz.sock" for a Unix socket
admin-listen: 127.0.0.1:9901    # HTTP: /metrics /healthz /readyz; "off" disables
tls:                            # optional TLS for the gRPC listener; files are re-read when they change
  cert-file: /etc/tls/tls.crt
  key-file: /etc/tls/tls.key
  client-ca-file: /etc/tls/ca.crt   # optional: require client certificates (mTLS)
workers: 1                      # processes serving the listener; "auto" = one per core
clock-skew: 60s                 # tolerance for exp / nbf
realm: jwt-ext-authz            # realm in WWW-Authenticate
token:
  sources:                      # tried in order; default: the one line below
    - { header: authorization, scheme: Bearer }   # scheme compared case-insensitively, token trimmed
    # - { header: x-access-token }                # whole value is the token
    # - { cookie: access_token }
    # - { query: access_token }
  max-bytes: 8192               # longer tokens are rejected (token_too_large) without parsing
response:
  principal-header: x-jwt-principal               # mapped principal
  pass-through-header: x-forwarded-access-token   # the verified token as received; "" disables
  forward-original: true        # false: remove the header/cookie-carrying token upstream
  claim-headers: {}             # header: claim-path, e.g. { x-jwt-email: email, x-jwt-groups: groups }
  dynamic-metadata: true        # principal, user, provider, iss, sub in CheckResponse.dynamic_metadata
cache:
  max-entries: 10000            # verified-token cache; 0 disables
providers:
  - name: corp
    key-file: https://idp.example.com/.well-known/jwks.json
    required-issuer: https://idp.example.com/
    required-audience: trino    # a string or a list (any one must be in aud)
    principal-field: sub
    user-mapping:
      pattern: (.*)@example\\.com
      # file: /etc/jwt-ext-authz/user-mapping.json   (pattern and file are exclusive)
    algorithms: [RS256, ES256]  # optional allow-list; default: every asymmetric alg the key allows, HS* only for HMAC files
    jwks:
      refresh-interval: 15m
      min-refresh-interval: 30s # cooldown between fetches caused by an unknown kid
      timeout: 5s
      max-stale: 24h            # keep serving the last good key set this long while fetches fail
      ca-file: /etc/idp-ca.pem  # extra CA for the JWKS endpoint (NODE_EXTRA_CA_CERTS also works)
token-page:                     # optional, see §9
  path: /jwt-ext-authz/token
`;
