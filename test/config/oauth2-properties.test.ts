import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import type { ProviderConfig } from '../../src/config/types.js';
import { collector, problemsOf } from './helpers.js';

const O = 'http-server.authentication.oauth2';
const ISSUER = `${O}.issuer=https://idp.example.com/realms/corp\n`;

const providerOf = (text: string, warn?: Parameters<typeof parseConfig>[2]): ProviderConfig => {
  const config = parseConfig(text, '/etc/trino/config.properties', warn);
  assert.equal(config.providers.length, 1);
  return config.providers[0] as ProviderConfig;
};

test('maps Trino\'s OAuth 2.0 lines to the provider "oauth2", found by OIDC discovery by default', () => {
  const p = providerOf(`http-server.authentication.type=oauth2
${ISSUER}${O}.client-id=trino
${O}.principal-field=preferred_username
${O}.user-mapping.pattern=(.*)@example\\\\.com
${O}.max-clock-skew=15s
`);
  assert.deepEqual(p, {
    name: 'oauth2',
    discovery: true,
    requiredIssuer: 'https://idp.example.com/realms/corp',
    requiredAudience: ['trino'],
    principalField: 'preferred_username',
    userMapping: { pattern: '(.*)@example\\.com' },
    clockSkewMs: 15_000,
    requireExpiration: false,
    jwks: { refreshIntervalMs: 900_000, minRefreshIntervalMs: 30_000, timeoutMs: 5_000, maxStaleMs: 86_400_000 },
  });
});

test('takes the audience from client-id, additional-audiences, or both', () => {
  assert.deepEqual(providerOf(`${ISSUER}${O}.client-id=trino\n`).requiredAudience, ['trino']);
  assert.deepEqual(providerOf(`${ISSUER}${O}.additional-audiences=api, cli ,,\n`).requiredAudience, ['api', 'cli']);
  assert.deepEqual(providerOf(`${ISSUER}${O}.client-id=trino\n${O}.additional-audiences=api,trino\n`).requiredAudience, ['trino', 'api']);
});

test('accepts the legacy audience name with a warning, and refuses it beside additional-audiences', () => {
  const { warnings, warn } = collector();
  assert.deepEqual(providerOf(`${ISSUER}${O}.client-id=trino\n${O}.audience=api\n`, warn).requiredAudience, ['trino', 'api']);
  assert.deepEqual(warnings.map((w) => [w.key, w.line]), [[`${O}.audience`, 3]]);
  assert.match(warnings[0]?.message ?? '', /legacy name; prefer .*additional-audiences/);
  const problems = problemsOf(() => parseConfig(`${ISSUER}${O}.audience=a\n${O}.additional-audiences=b\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => [p.key, p.line]), [[`${O}.audience`, 2]]);
});

test('warns that any audience is accepted when neither client-id nor additional-audiences is set', () => {
  const { warnings, warn } = collector();
  assert.deepEqual(providerOf(ISSUER, warn).requiredAudience, []);
  assert.match(warnings.map((w) => w.message).join('\n'), /any audience is accepted/);
});

test('uses jwks-url as the key set when it is set, and needs it when oidc.discovery is false', () => {
  const { warnings, warn } = collector();
  const p = providerOf(`${ISSUER}${O}.client-id=trino\n${O}.jwks-url=https://idp.example.com/certs\n`, warn);
  assert.equal(p.keyFile, 'https://idp.example.com/certs');
  assert.equal(p.discovery, false);
  assert.match(warnings.find((w) => w.key === `${O}.jwks-url`)?.message ?? '', /no discovery document is read/);
  const quiet = collector();
  providerOf(`${ISSUER}${O}.client-id=trino\n${O}.oidc.discovery=false\n${O}.jwks-url=https://idp.example.com/certs\n`, quiet.warn);
  assert.deepEqual(quiet.warnings, []);
  const problems = problemsOf(() => parseConfig(`${ISSUER}${O}.client-id=x\n${O}.oidc.discovery=false\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => [p.key, p.line, p.message]), [[`${O}.oidc.discovery`, 3, 'is false, so key-file is required (jwks-url in Trino OAuth 2.0 lines)']]);
});

test('checks access tokens against access-token-issuer when it is set', () => {
  const p = providerOf(`${ISSUER}${O}.client-id=x\n${O}.access-token-issuer=https://sts.example.com/\n${O}.oidc.discovery=false\n${O}.jwks-url=https://idp.example.com/certs\n`);
  assert.equal(p.requiredIssuer, 'https://sts.example.com/');
  // With discovery the document's issuer is the issuer, so it could never be the other one.
  const problems = problemsOf(() => parseConfig(`${ISSUER}${O}.client-id=x\n${O}.access-token-issuer=https://sts.example.com/\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => [p.key, p.line]), [[`${O}.access-token-issuer`, 3]]);
  assert.match(problems[0]?.message ?? '', /set oidc\.discovery=false and jwks-url/);
});

test('requires issuer, as Trino does; discovery says why it needs one', () => {
  const problems = problemsOf(() => parseConfig(`${O}.client-id=trino\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => p.key), [`${O}.issuer`, `${O}.oidc.discovery`]);
  assert.match(problems[1]?.message ?? '', /OIDC discovery needs required-issuer/);
  const withJwksUrl = problemsOf(() => parseConfig(`${O}.client-id=trino\n${O}.jwks-url=https://idp/certs\n`, '/c.properties'));
  assert.deepEqual(withJwksUrl.map((p) => p.key), [`${O}.issuer`]);
});

test('ignores the lines that only serve Trino\'s browser login, with one warning that lists them', () => {
  const { warnings, warn } = collector();
  providerOf(`${ISSUER}${O}.client-id=trino
${O}.client-secret=s3cret
${O}.scopes=openid,email
${O}.state-key=k
${O}.challenge-timeout=15m
${O}.refresh-tokens=true
${O}.userinfo-url=https://idp.example.com/userinfo
`, warn);
  const ignored = warnings.filter((w) => w.key === O);
  assert.equal(ignored.length, 1);
  assert.match(ignored[0]?.message ?? '', /^ignored 6 OAuth 2\.0 key\(s\) that only serve Trino's browser login/);
  assert.match(ignored[0]?.message ?? '', /oauth2\.client-secret, .*oauth2\.userinfo-url$/);
  assert.doesNotMatch(ignored[0]?.message ?? '', /s3cret/, 'a secret value is never repeated');
});

test('refuses an unknown OAuth 2.0 key with its line and a suggestion', () => {
  const problems = problemsOf(() => parseConfig(`${ISSUER}${O}.client-id=trino\n${O}.additional-audience=x\n`, '/c.properties'));
  assert.deepEqual(problems.map((p) => [p.key, p.line]), [[`${O}.additional-audience`, 3]]);
  assert.match(problems[0]?.message ?? '', /did you mean .*additional-audiences\?/);
});

test('accepts our own provider keys under the oauth2 prefix: jwks.*, algorithms, lifetime rules', () => {
  const p = providerOf(`${ISSUER}${O}.client-id=trino\n${O}.jwks.ca-file=/etc/idp-ca.pem\n${O}.jwks.refresh-interval=5m\n${O}.algorithms=RS256\n${O}.require-expiration=true\n${O}.max-lifetime=1h\n`);
  assert.equal(p.jwks.caFile, '/etc/idp-ca.pem');
  assert.equal(p.jwks.refreshIntervalMs, 300_000);
  assert.deepEqual(p.algorithms, ['RS256']);
  assert.equal(p.requireExpiration, true);
  assert.equal(p.maxLifetimeMs, 3_600_000);
});

test('makes two providers of a file with both JWT and OAuth 2.0 lines', () => {
  const { warnings, warn } = collector();
  const config = parseConfig(`http-server.authentication.type=jwt,oauth2
http-server.authentication.jwt.key-file=/etc/trino/jwt.pem
http-server.authentication.jwt.required-issuer=https://ci.example.com/
${ISSUER}${O}.client-id=trino
`, '/etc/trino/config.properties', warn);
  assert.deepEqual(config.providers.map((p) => [p.name, p.requiredIssuer, p.keyFile, p.discovery]), [
    ['default', 'https://ci.example.com/', '/etc/trino/jwt.pem', false],
    ['oauth2', 'https://idp.example.com/realms/corp', undefined, true],
  ]);
  assert.deepEqual(warnings, []);
});

test('warns when http-server.authentication.type lacks the type of the lines that are there', () => {
  const { warnings, warn } = collector();
  parseConfig(`http-server.authentication.type=jwt\n${ISSUER}${O}.client-id=trino\n`, '/c.properties', warn);
  assert.deepEqual(warnings.map((w) => [w.key, w.line]), [['http-server.authentication.type', 1]]);
  assert.match(warnings[0]?.message ?? '', /does not include oauth2/);
});
