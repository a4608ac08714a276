import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configToYaml, parseConfig } from '../../src/config/load.js';
import { problemsOf } from './helpers.js';

const PROVIDERS = `providers:
  - name: corp
    key-file: /keys/corp.pem
`;

/** Problems of a YAML text as `line key: message` strings. */
const problems = (yaml: string): string[] =>
  problemsOf(() => parseConfig(`${PROVIDERS}${yaml}`, '/cfg/c.yaml')).map((p) => `${p.line ?? '-'} ${p.key}: ${p.message}`);

describe('policy keys in the config (SPEC §14)', () => {
  it('reads require, report-only and remove-headers, and writes them back', () => {
    const config = parseConfig(`${PROVIDERS}report-only: true
response:
  remove-headers: [X-Trino-Original-User, x-presto-user, x-presto-user]
routes:
  - name: admin
    match: { path-prefix: /admin }
    require: { scopes: "admin write", claims: { groups: [ops, sre], org.team: data } }
    report-only: false
`, '/cfg/c.yaml');
    assert.equal(config.reportOnly, true);
    assert.deepEqual(config.response.removeHeaders, ['x-trino-original-user', 'x-presto-user']);
    assert.deepEqual(config.routes[0]?.require, { scopes: ['admin', 'write'], claims: { groups: ['ops', 'sre'], 'org.team': ['data'] } });
    assert.equal(config.routes[0]?.reportOnly, false);
    assert.deepEqual(parseConfig(configToYaml(config), '/cfg/c.yaml'), config);
  });

  it('refuses an unknown key inside require, naming the route', () => {
    assert.deepEqual(problems(`routes:
  - name: admin
    match: { path-prefix: /admin }
    require: { scope: [admin] }
`), [
      '7 routes[0].require.scope: route "admin": unknown key (did you mean scopes?)',
    ]);
    assert.deepEqual(problems(`routes:
  - match: { path-prefix: /admin }
    require: { groups: [ops] }
`), ['6 routes[0].require.groups: unknown key']);
  });

  it('refuses wrong types and shapes in require', () => {
    assert.deepEqual(problems(`routes:
  - match: { path-prefix: /a }
    require: { scopes: ['a"b'], claims: [groups] }
  - match: { path-prefix: /b }
    require: { claims: { groups: [] } }
  - match: { path-prefix: /c }
    require: { claims: { "a..b": [x], ok: { nested: map } } }
  - match: { path-prefix: /d }
    require: {}
`), [
      '6 routes[0].require.scopes: "a"b" is not a scope (RFC 6749: printable ASCII without space, " or \\)',
      '6 routes[0].require.claims: expected a mapping of claim path to a list of values, got a list',
      '8 routes[1].require.claims.groups: claim "groups" must list at least one value',
      '10 routes[2].require.claims.a..b: "a..b" is not a claim path (names joined with ".")',
      '10 routes[2].require.claims.ok: expected a claim value or a list of them, got a mapping',
      '12 routes[3].require: is empty: give scopes, claims or both',
    ]);
  });

  it('refuses a remove-headers name that is not a header, is Host, is set by the answer or carries the token', () => {
    assert.deepEqual(problems(`response:
  principal-header: x-trino-user
  remove-headers: ["bad header", host, X-Trino-User, authorization]
`), [
      '6 response.remove-headers: "bad header" is not a valid HTTP header name',
      '6 response.remove-headers: "host" can not be removed (Envoy refuses to)',
    ]);
    assert.deepEqual(problems(`response:
  principal-header: x-trino-user
  remove-headers: [X-Trino-User, authorization]
`), [
      '6 response.remove-headers: "x-trino-user" is also set by response.principal-header',
      '6 response.remove-headers: "authorization" is a token source; use forward-original: false to remove the token\'s carrier',
    ]);
  });

  it('refuses report-only that is not a boolean', () => {
    assert.deepEqual(problems('report-only: sometimes\n'), ['4 report-only: expected true or false, got "sometimes"']);
  });
});
