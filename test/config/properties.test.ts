import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { collector, problemsOf, writeTemp } from './helpers.js';

const KEY = 'http-server.authentication.jwt.key-file=/etc/trino/jwt.pem\n';

test('reads Trino JWT lines as the provider "default", with escapes, continuations and comma lists', () => {
  const text = [
    '# copied from etc/config.properties',
    'http-server.authentication.jwt.key-file = https://idp.example.com/jwks.json',
    'http-server.authentication.jwt.required-issuer: https://idp.example.com/',
    'http-server.authentication.jwt.required-audience=trino, presto ,,cli',
    'http-server.authentication.jwt.principal-field=preferred_\\',
    '    username',
    'http-server.authentication.jwt.user-mapping.pattern=(.*)@example\\\\.com',
    'http-server.authentication.jwt.algorithms=RS256,ES256',
    'http-server.authentication.jwt.jwks.refresh-interval=5m',
    '',
  ].join('\n');
  const config = parseConfig(text, '/etc/trino/config.properties');
  assert.deepEqual(config.providers, [{
    name: 'default',
    keyFile: 'https://idp.example.com/jwks.json',
    discovery: false,
    requiredIssuer: 'https://idp.example.com/',
    requiredAudience: ['trino', 'presto', 'cli'],
    principalField: 'preferred_username',
    userMapping: { pattern: '(.*)@example\\.com' },
    algorithms: ['RS256', 'ES256'],
    requireExpiration: false,
    jwks: { refreshIntervalMs: 300_000, minRefreshIntervalMs: 30_000, timeoutMs: 5_000, maxStaleMs: 86_400_000 },
  }]);
});

test('reads our other keys as dotted YAML paths with typed values', () => {
  const text = `${KEY}listen=0.0.0.0:9191
admin-listen=off
workers=auto
clock-skew=30s
realm=trino
token.max-bytes=4096
response.principal-header=X-Trino-User
response.pass-through-header=
response.forward-original=FALSE
response.claim-headers.X-Jwt-Email=email
response.claim-headers.x-jwt-groups=groups
response.dynamic-metadata=true
response.remove-headers=X-Trino-Original-User, x-presto-user
cache.max-entries=0
tls.cert-file=/tls/tls.crt
tls.key-file=/tls/tls.key
token-page.path=/token
`;
  const config = parseConfig(text, '/etc/c.properties');
  assert.equal(config.listen, '0.0.0.0:9191');
  assert.equal(config.adminListen, 'off');
  assert.equal(config.workers, 'auto');
  assert.equal(config.clockSkewMs, 30_000);
  assert.equal(config.realm, 'trino');
  assert.equal(config.token.maxBytes, 4096);
  assert.deepEqual(config.token.sources, [{ kind: 'header', name: 'authorization', scheme: 'Bearer' }]);
  assert.deepEqual(config.response, {
    principalHeader: 'x-trino-user',
    passThroughHeader: '',
    forwardOriginal: false,
    claimHeaders: { 'x-jwt-email': 'email', 'x-jwt-groups': 'groups' },
    dynamicMetadata: true,
    removeHeaders: ['x-trino-original-user', 'x-presto-user'],
  });
  assert.equal(config.cache.maxEntries, 0);
  assert.deepEqual(config.tls, { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' });
  assert.deepEqual(config.tokenPage, { path: '/token' });
});

test('accepts the legacy http.authentication.jwt names, with a warning', () => {
  const { warnings, warn } = collector();
  const text = 'http.authentication.jwt.key-file=/k.pem\nhttp.authentication.jwt.required-issuer=iss\nhttp.authentication.jwt.required-audience=aud\n';
  const config = parseConfig(text, '/c.properties', warn);
  assert.equal(config.providers[0]?.keyFile, '/k.pem');
  assert.equal(config.providers[0]?.requiredIssuer, 'iss');
  assert.deepEqual(config.providers[0]?.requiredAudience, ['aud']);
  assert.deepEqual(warnings.map((w) => [w.key, w.line]), [
    ['http.authentication.jwt.key-file', 1], ['http.authentication.jwt.required-issuer', 2], ['http.authentication.jwt.required-audience', 3],
  ]);
  assert.match(warnings[0]?.message ?? '', /prefer http-server\.authentication\.jwt\.key-file/);
});

test('refuses a legacy name and its new name set together, and legacy forms of other keys', () => {
  const problems = problemsOf(() => parseConfig(`${KEY}http.authentication.jwt.key-file=/other.pem\nhttp.authentication.jwt.principal-field=sub\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => [p.key, p.line]), [['http.authentication.jwt.key-file', 2], ['http.authentication.jwt.principal-field', 3]]);
  assert.match(problems[0]?.message ?? '', /conflicts with http-server\.authentication\.jwt\.key-file/);
});

test('ignores other Trino keys with one warning that lists them', () => {
  const { warnings, warn } = collector();
  parseConfig(`coordinator=true\nnode-scheduler.include-coordinator=false\nhttp-server.https.port=8443\n${KEY}node.environment=prod\nquery.max-memory=50GB\nhttp-server.authentication.allow-insecure-over-http=false\n`, '/c.properties', warn);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]?.key, '');
  assert.equal(warnings[0]?.message,
    'ignored 6 key(s) that are not jwt-ext-authz settings: coordinator, node-scheduler.include-coordinator, http-server.https.port, node.environment, query.max-memory, http-server.authentication.allow-insecure-over-http');
});

test('accepts http-server.authentication.type and warns only when it lacks jwt', () => {
  const quiet = collector();
  parseConfig(`http-server.authentication.type= PASSWORD , Jwt \n${KEY}`, '/c.properties', quiet.warn);
  assert.deepEqual(quiet.warnings, []);
  const loud = collector();
  parseConfig(`http-server.authentication.type=PASSWORD,OAUTH2\n${KEY}`, '/c.properties', loud.warn);
  assert.deepEqual(loud.warnings.map((w) => [w.key, w.line]), [['http-server.authentication.type', 1]]);
  assert.match(loud.warnings[0]?.message ?? '', /does not include jwt/);
});

test('refuses unknown keys in our namespaces with their line', () => {
  const file = writeTemp('config.properties', `${KEY}http-server.authentication.jwt.keyfile=/k\n\nresponse.principal-headr=x\ncache.size=1\nresponse.claim-headers=email\n`);
  const problems = problemsOf(() => loadConfigFile(file));
  assert.deepEqual(problems.map((p) => [p.file, p.line, p.key]), [
    [file, 2, 'http-server.authentication.jwt.keyfile'],
    [file, 4, 'response.principal-headr'],
    [file, 5, 'cache.size'],
    [file, 6, 'response.claim-headers'],
  ]);
  assert.match(problems[0]?.message ?? '', /unknown key \(did you mean http-server\.authentication\.jwt\.key-file\?\)/);
  assert.match(problems[1]?.message ?? '', /did you mean response\.principal-header\?/);
});

test('says that token.sources and providers need YAML', () => {
  const problems = problemsOf(() => parseConfig(`${KEY}token.sources=cookie\nproviders.0.name=x\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => p.key), ['token.sources', 'providers.0.name']);
  assert.ok(problems.every((p) => /YAML/.test(p.message)));
});

test('keeps the last of duplicate keys, as java.util.Properties does, and warns', () => {
  const { warnings, warn } = collector();
  const config = parseConfig(`token.max-bytes=1\n${KEY}token.max-bytes=2\n`, '/c.properties', warn);
  assert.equal(config.token.maxBytes, 2);
  assert.deepEqual(warnings.map((w) => [w.key, w.line]), [['token.max-bytes', 3]]);
  assert.match(warnings[0]?.message ?? '', /also set on line 1/);
});

test('reports a missing key-file and bad values by property key and line', () => {
  const problems = problemsOf(() => parseConfig('realm=trino\ntoken.max-bytes=4k\nhttp-server.authentication.jwt.jwks.timeout=5\nresponse.forward-original=yes\n', '/c.properties'));
  assert.deepEqual(problems.map((p) => [p.line, p.key]), [
    [2, 'token.max-bytes'],
    [3, 'http-server.authentication.jwt.jwks.timeout'],
    [4, 'response.forward-original'],
    [undefined, 'http-server.authentication.jwt.key-file'],
  ]);
  assert.match(problems[1]?.message ?? '', /no unit/);
});

test('refuses both user-mapping pattern and file in properties too', () => {
  const problems = problemsOf(() => parseConfig(`${KEY}http-server.authentication.jwt.user-mapping.pattern=(.*)\nhttp-server.authentication.jwt.user-mapping.file=m.json\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => [p.key, p.message]), [
    ['http-server.authentication.jwt.user-mapping', 'user mapping pattern and file can not both be set'],
  ]);
});

test('resolves a relative key-file and user-mapping file against the properties file directory', () => {
  const file = writeTemp('config.properties', 'http-server.authentication.jwt.key-file=jwt/${KID}.pem\nhttp-server.authentication.jwt.user-mapping.file=rules.json\n');
  const config = loadConfigFile(file);
  assert.equal(config.providers[0]?.keyFile, join(dirname(file), 'jwt/${KID}.pem'));
  assert.equal(config.providers[0]?.userMapping.file, join(dirname(file), 'rules.json'));
  assert.equal(config.file, file);
});
