import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { configToYaml, loadConfigFile, parseConfig } from '../../src/config/load.js';
import { CONFIG_KEYS } from '../../src/config/schema.js';
import type { Config } from '../../src/config/types.js';
import { SPEC_EXAMPLE, collector, problemsOf, tempDir, writeTemp } from './helpers.js';

const MINIMAL = 'providers:\n  - name: corp\n    key-file: /keys/corp.pem\n';

/** Problems of a YAML text as `line key: message` strings. */
const yamlProblems = (text: string): string[] =>
  problemsOf(() => parseConfig(text, '/cfg/c.yaml')).map((p) => `${p.line ?? '-'} ${p.key}: ${p.message}`);

test('fills every default for a minimal YAML file with one provider', () => {
  const file = writeTemp('config.yaml', MINIMAL);
  const config = loadConfigFile(file);
  const expected: Config = {
    file,
    listen: '127.0.0.1:9191',
    adminListen: '127.0.0.1:9901',
    workers: 1,
    clockSkewMs: 60_000,
    realm: 'jwt-ext-authz',
    token: { sources: [{ kind: 'header', name: 'authorization', scheme: 'Bearer' }], maxBytes: 8192 },
    response: {
      principalHeader: 'x-jwt-principal',
      passThroughHeader: 'x-forwarded-access-token',
      forwardOriginal: true,
      claimHeaders: {},
      dynamicMetadata: true,
      removeHeaders: [],
    },
    cache: { maxEntries: 10_000, maxBytes: 3_145_728 },
    providers: [{
      name: 'corp',
      keyFile: '/keys/corp.pem',
      discovery: false,
      requiredAudience: [],
      principalField: 'sub',
      userMapping: {},
      requireExpiration: false,
      jwks: { refreshIntervalMs: 900_000, minRefreshIntervalMs: 30_000, timeoutMs: 5_000, maxStaleMs: 86_400_000 },
    }],
    httpListen: 'off',
    http: { originalRequest: 'path' },
    routes: [],
    reportOnly: false,
  };
  assert.deepEqual(config, expected);
});

test('reads the full SPEC example with every documented value', () => {
  const config = parseConfig(SPEC_EXAMPLE, '/etc/jwt-ext-authz/config.yaml');
  assert.deepEqual(config.tls, { certFile: '/etc/tls/tls.crt', keyFile: '/etc/tls/tls.key', clientCaFile: '/etc/tls/ca.crt' });
  assert.deepEqual(config.tokenPage, { path: '/jwt-ext-authz/token' });
  assert.deepEqual(config.providers, [{
    name: 'corp',
    keyFile: 'https://idp.example.com/.well-known/jwks.json',
    discovery: false,
    requiredIssuer: 'https://idp.example.com/',
    requiredAudience: ['trino'],
    principalField: 'sub',
    userMapping: { pattern: '(.*)@example\\.com' },
    algorithms: ['RS256', 'ES256'],
    requireExpiration: false,
    jwks: { refreshIntervalMs: 900_000, minRefreshIntervalMs: 30_000, timeoutMs: 5_000, maxStaleMs: 86_400_000, caFile: '/etc/idp-ca.pem' },
  }]);
  // Everything else in the example is the default.
  const defaults = parseConfig(MINIMAL, '/etc/jwt-ext-authz/config.yaml');
  for (const k of ['listen', 'adminListen', 'workers', 'clockSkewMs', 'realm', 'token', 'response', 'cache'] as const) {
    assert.deepEqual(config[k], defaults[k], k);
  }
});

test('round-trips the full SPEC example through configToYaml', () => {
  const config = parseConfig(SPEC_EXAMPLE, '/etc/jwt-ext-authz/config.yaml');
  const yaml = configToYaml(config);
  assert.match(yaml, /clock-skew: 60s/);
  assert.match(yaml, /refresh-interval: 15m/);
  assert.match(yaml, /max-stale: 24h/);
  assert.deepEqual(parseConfig(yaml, '/etc/jwt-ext-authz/config.yaml'), config);
});

test('configToYaml output of a config using every option parses back to an equal Config', () => {
  const text = `
listen: unix:/run/jwt-ext-authz.sock
admin-listen: "off"
tls: { cert-file: tls.crt, key-file: tls.key }
workers: auto
clock-skew: 500ms
realm: corp
token:
  sources:
    - { header: X-Access-Token }
    - { header: authorization, scheme: bearer }
    - { cookie: access_token }
    - { query: access_token }
  max-bytes: 4096
response:
  principal-header: X-Trino-User
  pass-through-header: ""
  forward-original: false
  claim-headers: { X-Jwt-Email: email, x-jwt-groups: groups }
  dynamic-metadata: false
cache: { max-entries: 0 }
providers:
  - { name: a, key-file: 'keys/\${KID}.pem', required-audience: [x, "0123"], user-mapping: { file: rules.json }, principal-field: email }
  - name: b_2
    key-file: http://127.0.0.1:8080/jwks
    algorithms: [EdDSA]
    jwks: { refresh-interval: 90s, min-refresh-interval: 0s, timeout: 1500ms, max-stale: 1h, ca-file: ca.pem }
token-page: { path: /token }
`;
  const config = parseConfig(text, '/srv/cfg/config.yml');
  assert.equal(config.workers, 'auto');
  assert.equal(config.response.principalHeader, 'x-trino-user');
  assert.deepEqual(config.response.claimHeaders, { 'x-jwt-email': 'email', 'x-jwt-groups': 'groups' });
  assert.deepEqual(config.providers[0]?.requiredAudience, ['x', '0123']);
  assert.equal(config.providers[0]?.keyFile, '/srv/cfg/keys/${KID}.pem');
  assert.deepEqual(parseConfig(configToYaml(config), '/srv/cfg/config.yml'), config);
});

test('configToYaml writes every key of the schema table when each is set', () => {
  const text = `
listen: 127.0.0.1:1
admin-listen: 127.0.0.1:2
tls: { cert-file: /t.crt, key-file: /t.key, client-ca-file: /ca.crt }
workers: 2
clock-skew: 90s
realm: r
token:
  sources: [{ header: a, scheme: S }, { cookie: c }, { query: q }]
  max-bytes: 100
response: { principal-header: x-p, pass-through-header: x-t, forward-original: false, claim-headers: { x-e: email }, dynamic-metadata: false, remove-headers: [X-R] }
cache: { max-entries: 1, max-bytes: 2 }
providers:
  - name: a
    key-file: /a.pem
    required-issuer: iss
    required-audience: aud
    principal-field: email
    user-mapping: { pattern: (.*) }
    algorithms: [ES256]
    clock-skew: 5s
    require-expiration: true
    max-lifetime: 1h
    jwks: { refresh-interval: 1h, min-refresh-interval: 1s, timeout: 2s, max-stale: 2h, ca-file: /ca.pem }
  - { name: b, key-file: /b.pem, user-mapping: { file: /rules.json } }
token-page: { path: /token }
http-listen: 127.0.0.1:3
http: { path-prefix: /authz, original-request: path }
routes:
  - name: r
    match: { hosts: [a.example.com], path-prefix: /p, methods: [GET] }
    providers: [a]
    allow-missing: true
    require: { scopes: [read], claims: { org.team: [ops, sre] } }
    report-only: false
  - match: { path: /x }
revocations: { file: /revoked.json }
report-only: true
`;
  const config = parseConfig(text, '/c.yaml');
  const yaml = configToYaml(config);
  const written = new Set<string>();
  const walk = (v: unknown, prefix: string): void => {
    if (Array.isArray(v)) for (const item of v) walk(item, `${prefix}[]`);
    else if (typeof v === 'object' && v !== null && prefix !== 'response.claim-headers' && prefix !== 'routes[].require.claims') {
      for (const [k, child] of Object.entries(v)) {
        const p = prefix === '' ? k : `${prefix}.${k}`;
        written.add(p);
        walk(child, p);
      }
    }
  };
  walk(parseYaml(yaml), '');
  assert.deepEqual([...written].sort(), CONFIG_KEYS.map((k) => k.path).sort());
  assert.deepEqual(parseConfig(yaml, '/c.yaml'), config);
  assert.match(yaml, /clock-skew: 90s/);
  assert.deepEqual(config.response.removeHeaders, ['x-r']);
  assert.deepEqual(config.routes[0]?.require, { scopes: ['read'], claims: { 'org.team': ['ops', 'sre'] } });
  assert.equal(config.routes[0]?.reportOnly, false);
  assert.equal(config.routes[1]?.reportOnly, undefined);
  assert.equal(config.reportOnly, true);
  assert.deepEqual(config.token.sources, [
    { kind: 'header', name: 'a', scheme: 'S' }, { kind: 'cookie', name: 'c' }, { kind: 'query', name: 'q' },
  ]);
});

test('configToYaml leaves out what is unset: empty audience, no user mapping, optional sections', () => {
  const doc: unknown = parseYaml(configToYaml(parseConfig(MINIMAL, '/c.yaml')));
  assert.ok(typeof doc === 'object' && doc !== null);
  assert.deepEqual(Object.keys(doc), ['listen', 'admin-listen', 'http-listen', 'workers', 'clock-skew', 'realm', 'token', 'response', 'cache', 'providers', 'http', 'report-only']);
  const providers: unknown = 'providers' in doc ? doc.providers : undefined;
  assert.ok(Array.isArray(providers));
  assert.deepEqual(Object.keys(providers[0]), ['name', 'key-file', 'discovery', 'principal-field', 'require-expiration', 'jwks']);
});

test('accepts JSON, which is YAML', () => {
  const json = JSON.stringify({ 'clock-skew': '30s', providers: [{ name: 'j', 'key-file': '/k', 'required-audience': 'trino' }] });
  const config = parseConfig(json, '/cfg/config.json');
  assert.equal(config.clockSkewMs, 30_000);
  assert.deepEqual(config.providers[0]?.requiredAudience, ['trino']);
});

test('lists every problem with file and line for a YAML file with three mistakes', () => {
  const file = writeTemp('config.yaml', `clock-skew: 60
realm: corp
providers:
  - name: corp
    key-file: /k.pem
    jwks:
      refresh-intervl: 15m
cache:
  max-entries: lots
`);
  const problems = problemsOf(() => loadConfigFile(file));
  assert.deepEqual(problems.map((p) => [p.file, p.line, p.key]), [
    [file, 1, 'clock-skew'],
    [file, 7, 'providers[0].jwks.refresh-intervl'],
    [file, 9, 'cache.max-entries'],
  ]);
  assert.match(problems[0]?.message ?? '', /expected a duration like 30s.*no unit/);
  assert.match(problems[1]?.message ?? '', /unknown key \(did you mean refresh-interval\?\)/);
  assert.match(problems[2]?.message ?? '', /expected an integer/);
});

test('reports a YAML syntax error as a problem with its line', () => {
  const problems = problemsOf(() => parseConfig('listen: a\nproviders:\n  - name: [x\n', '/cfg/c.yaml'));
  assert.ok(problems.length > 0);
  assert.ok(problems.every((p) => p.line !== undefined && p.message.startsWith('YAML syntax')));
});

test('reports duplicate YAML keys', () => {
  assert.match(yamlProblems(`realm: a\nrealm: b\n${MINIMAL}`).join('\n'), /^2 .*YAML syntax: Map keys must be unique/m);
});

test('rejects durations without a unit or with an unknown unit', () => {
  const problems = yamlProblems(`clock-skew: 1d\n${MINIMAL}    jwks: { timeout: 5 }\n`);
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? '', /^1 clock-skew: expected a duration like 30s/);
  assert.match(problems[1] ?? '', /^5 providers\[0\]\.jwks\.timeout: .*"5" has no unit \(write 5s or 5ms\)/);
});

test('refuses a user mapping with both pattern and file', () => {
  assert.deepEqual(yamlProblems(`${MINIMAL}    user-mapping: { pattern: (.*), file: m.json }\n`),
    ['4 providers[0].user-mapping: user mapping pattern and file can not both be set']);
});

test('refuses duplicate provider names', () => {
  assert.deepEqual(yamlProblems(`${MINIMAL}  - name: corp\n    key-file: /other.pem\n`),
    ['4 providers[1].name: duplicate provider name "corp" (also providers[0])']);
});

test('requires at least one provider, each with a valid name and a key-file', () => {
  assert.deepEqual(yamlProblems('realm: x\n'), ['1 providers: at least one provider is required']);
  assert.deepEqual(yamlProblems(''), ['- providers: at least one provider is required']);
  assert.deepEqual(yamlProblems('providers: []\n'), ['1 providers: at least one provider is required']);
  const problems = yamlProblems('providers:\n  - name: Corp\n  - key-file: /k\n');
  assert.deepEqual(problems.map((p) => p.split(':')[0]), ['2 providers[0].name', '2 providers[0].key-file', '3 providers[1].name']);
  assert.match(problems[0] ?? '', /not a valid provider name/);
  assert.match(problems[1] ?? '', /is required/);
});

test('refuses unknown algorithms and "none"', () => {
  const problems = yamlProblems(`${MINIMAL}    algorithms: [RS256, none, rs384]\n`);
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? '', /^4 providers\[0\]\.algorithms: "none" is never allowed/);
  assert.match(problems[1] ?? '', /unknown algorithm "rs384" \(did you mean RS384\?\)/);
  assert.match(yamlProblems(`${MINIMAL}    algorithms: []\n`)[0] ?? '', /at least one algorithm/);
});

test('requires tls cert-file and key-file together', () => {
  assert.deepEqual(yamlProblems(`tls:\n  cert-file: /tls.crt\n${MINIMAL}`), ['1 tls.key-file: is required']);
  assert.deepEqual(yamlProblems(`tls: { client-ca-file: /ca.crt }\n${MINIMAL}`), ['1 tls.cert-file: is required', '1 tls.key-file: is required']);
});

test('reports wrong types with what was expected', () => {
  const problems = yamlProblems(`listen: 9191
admin-listen: nowhere
workers: 0
token: { max-bytes: "8192" }
response: { forward-original: "yes", claim-headers: [a] }
realm: 'a"b'
token-page: { path: token }
${MINIMAL}`);
  assert.deepEqual(problems.map((p) => p.replace(/:.*/s, '')), [
    '1 listen', '2 admin-listen', '3 workers', '4 token.max-bytes', '5 response.forward-original',
    '5 response.claim-headers', '6 realm', '7 token-page.path',
  ]);
  assert.match(problems[2] ?? '', /at least 1/);
  assert.match(problems[4] ?? '', /expected true or false, got "yes"/);
});

test('lower-cases header names and refuses invalid or colliding ones', () => {
  const ok = parseConfig(`token: { sources: [{ header: X-Token }] }\nresponse: { principal-header: X-User }\n${MINIMAL}`, '/c.yaml');
  assert.deepEqual(ok.token.sources, [{ kind: 'header', name: 'x-token' }]);
  assert.equal(ok.response.principalHeader, 'x-user');
  const problems = yamlProblems(`response:
  principal-header: x-a
  pass-through-header: X-A
  claim-headers: { "bad header": email, x-b: "", X-Forwarded-Access-Token: sub }
${MINIMAL}`);
  assert.equal(problems.length, 3);
  assert.match(problems[0] ?? '', /^3 response.pass-through-header: header "x-a" is also used by response.principal-header/);
  assert.match(problems[1] ?? '', /"bad header" is not a valid HTTP header name/);
  assert.match(problems[2] ?? '', /claim path must not be empty/);
  assert.match(yamlProblems(`response: { pass-through-header: authorization }\n${MINIMAL}`)[0] ?? '', /also a token source/);
});

test('checks that each token source has exactly one of header, cookie or query', () => {
  const problems = yamlProblems(`token:
  sources:
    - { header: a, cookie: b }
    - { scheme: Bearer, query: t }
    - {}
    - { header: c, schema: Bearer }
${MINIMAL}`);
  assert.deepEqual(problems.map((p) => p.replace(/:.*/s, '')), [
    '3 token.sources[0]', '4 token.sources[1].scheme', '5 token.sources[2]', '6 token.sources[3].schema',
  ]);
  assert.match(problems[3] ?? '', /unknown key \(did you mean scheme\?\)/);
});

test('reads a string audience as a one-element list and admin-listen "off"', () => {
  const config = parseConfig(`admin-listen: off\nlisten: "[::1]:0"\n${MINIMAL}    required-audience: trino\n`, '/c.yaml');
  assert.equal(config.adminListen, 'off');
  assert.equal(config.listen, '[::1]:0');
  assert.deepEqual(config.providers[0]?.requiredAudience, ['trino']);
});

test('treats an empty required-issuer as unset, with a warning, as Trino does', () => {
  const { warnings, warn } = collector();
  const config = parseConfig(`${MINIMAL}    required-issuer: ""\n`, '/c.yaml', warn);
  assert.equal(config.providers[0]?.requiredIssuer, undefined);
  assert.deepEqual(warnings.map((w) => [w.key, w.line]), [['providers[0].required-issuer', 4]]);
});

test('resolves relative paths against the config file directory and leaves URLs alone', () => {
  const { warnings, warn } = collector();
  const file = writeTemp('config.yaml', `tls: { cert-file: tls/tls.crt, key-file: ./tls/tls.key, client-ca-file: /abs/ca.crt }
providers:
  - name: a
    key-file: keys/a.pem
    user-mapping: { file: ../mapping.json }
    jwks: { ca-file: ca.pem }
  - { name: b, key-file: https://idp.example.com/jwks }
  - { name: c, key-file: HTTPS://idp.example.com/jwks }
`);
  const dir = dirname(file);
  const config = loadConfigFile(file, warn);
  assert.equal(config.tls?.certFile, join(dir, 'tls/tls.crt'));
  assert.equal(config.tls?.keyFile, join(dir, 'tls/tls.key'));
  assert.equal(config.tls?.clientCaFile, '/abs/ca.crt');
  assert.equal(config.providers[0]?.keyFile, join(dir, 'keys/a.pem'));
  assert.equal(config.providers[0]?.userMapping.file, join(dir, '..', 'mapping.json'));
  assert.equal(config.providers[0]?.jwks.caFile, join(dir, 'ca.pem'));
  assert.equal(config.providers[1]?.keyFile, 'https://idp.example.com/jwks');
  // The URL prefix is case-sensitive (SPEC §4): this is a file path, and we say so.
  assert.equal(config.providers[2]?.keyFile, join(dir, 'HTTPS:/idp.example.com/jwks'));
  assert.deepEqual(warnings.map((w) => w.key), ['providers[2].key-file']);
});

test('returns a deep-frozen config', () => {
  const config = parseConfig(SPEC_EXAMPLE, '/c.yaml');
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.token.sources[0]));
  assert.ok(Object.isFrozen(config.response.claimHeaders));
  assert.ok(Object.isFrozen(config.providers[0]?.jwks));
  assert.ok(Object.isFrozen(config.providers[0]?.algorithms));
  assert.throws(() => { (config.providers as unknown as string[]).push('x'); }, TypeError);
});

test('names an unreadable config file in the error', () => {
  const file = join(tempDir(), 'missing.yaml');
  const problems = problemsOf(() => loadConfigFile(file));
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.file, file);
  assert.match(problems[0]?.message ?? '', /can not read the config file: .*ENOENT/);
});

test('throws one ConfigError whose message lists every problem', () => {
  assert.throws(() => parseConfig('realm: ""\nworkers: many\n', '/c.yaml'), (e: unknown) =>
    e instanceof ConfigError && e.problems.length === 3 && /c\.yaml:1: realm/.test(e.message) && /c\.yaml:2: workers/.test(e.message));
});

test('hints that dotted keys belong in .properties files', () => {
  assert.match(yamlProblems(`token.max-bytes: 10\n${MINIMAL}`)[0] ?? '', /^1 token\.max-bytes: unknown key \(dotted keys are for \.properties files/);
});
