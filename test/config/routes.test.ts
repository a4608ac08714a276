import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configToYaml, parseConfig } from '../../src/config/load.js';
import { collector, problemsOf } from './helpers.js';

const PROVIDERS = `providers:
  - name: corp
    key-file: /keys/corp.pem
  - name: partner
    key-file: /keys/partner.pem
`;

/** Problems of a YAML text as `line key: message` strings. */
const problems = (yaml: string): string[] =>
  problemsOf(() => parseConfig(`${PROVIDERS}${yaml}`, '/cfg/c.yaml')).map((p) => `${p.line ?? '-'} ${p.key}: ${p.message}`);

describe('routes in the config (SPEC §11)', () => {
  it('reads a route table with hosts lower-cased, methods upper-cased and every default', () => {
    const config = parseConfig(`${PROVIDERS}routes:
  - match: { hosts: [Trino.Example.com, "*.Internal.example.com", "[::1]"], path-prefix: /v1/, methods: [get, Post] }
    providers: [corp]
  - name: health
    match: { path: /healthz }
    allow-missing: true
`, '/cfg/c.yaml');
    assert.deepEqual(config.routes, [
      { match: { hosts: ['trino.example.com', '*.internal.example.com', '[::1]'], pathPrefix: '/v1/', methods: ['GET', 'POST'] }, providers: ['corp'], allowMissing: false },
      { name: 'health', match: { path: '/healthz' }, allowMissing: true },
    ]);
  });

  it('has no routes unless configured, and writes none back', () => {
    const config = parseConfig(PROVIDERS, '/cfg/c.yaml');
    assert.deepEqual(config.routes, []);
    assert.doesNotMatch(configToYaml(config), /routes/);
  });

  it('round-trips a route table through validate-config output', () => {
    const config = parseConfig(`${PROVIDERS}routes:
  - name: api
    match: { hosts: ["*.example.com"], path-prefix: /api, methods: [GET] }
    providers: [corp, partner]
  - match: { path: / }
    allow-missing: true
`, '/cfg/c.yaml');
    assert.deepEqual(parseConfig(configToYaml(config), '/cfg/c.yaml'), config);
  });

  it('names the route in every problem inside it: unknown key, empty match, bad wildcard, path without "/"', () => {
    const out = problems(`routes:
  - name: admin
    match: { path-prefix: admin/, hots: [x] }
  - name: empty
    match: {}
  - name: wild
    match: { hosts: ["a.*.example.com", "*example.com", "*", "**.example.com"] }
  - match: { path: /x }
    allow-missng: true
`);
    assert.deepEqual(out, [
      '8 routes[0].match.hots: route "admin": unknown key (did you mean hosts?)',
      '8 routes[0].match.path-prefix: route "admin": "admin/" must start with "/"',
      '10 routes[1].match: route "empty": is empty: give at least one of hosts, path-prefix, path or methods (a route that matches everything is path-prefix: /)',
      '12 routes[2].match.hosts: route "wild": "a.*.example.com": a wildcard is only allowed as a leading "*." (e.g. *.example.com)',
      '12 routes[2].match.hosts: route "wild": "*example.com": a wildcard is only allowed as a leading "*." (e.g. *.example.com)',
      '12 routes[2].match.hosts: route "wild": "*": a wildcard is only allowed as a leading "*." (e.g. *.example.com)',
      '12 routes[2].match.hosts: route "wild": "**.example.com": a wildcard is only allowed as a leading "*." (e.g. *.example.com)',
      '14 routes[3].allow-missng: unknown key (did you mean allow-missing?)',
    ]);
  });

  it('refuses a missing match, path with path-prefix, a port in a host, a path that is not normalised, and an unknown provider', () => {
    const out = problems(`routes:
  - providers: [corp]
  - match: { path: /a, path-prefix: /b }
  - match: { hosts: ["trino.example.com:8443"] }
  - match: { path: /public/../admin }
  - match: { path-prefix: "/a//b" }
  - match: { path: "/a?b=1" }
  - match: { methods: [GET] }
    providers: [corp, partnr]
  - match: { methods: [] }
`);
    assert.deepEqual(out, [
      '7 routes[0].match: is required',
      '8 routes[1].match: path and path-prefix are exclusive',
      '9 routes[2].match.hosts: "trino.example.com:8443": hosts are matched without the port; write trino.example.com',
      '10 routes[3].match.path: "/public/../admin" is not a normalised path; requests are matched after normalisation, so write "/admin"',
      '11 routes[4].match.path-prefix: "/a//b" is not a normalised path; requests are matched after normalisation, so write "/a/b"',
      '12 routes[5].match.path: "/a?b=1" must not contain "?", "#" or white space: the query is never matched',
      '14 routes[6].providers: unknown provider "partnr" (did you mean partner?); the providers are corp, partner',
      '15 routes[7].match.methods: must list at least one HTTP method (leave it out to match any)',
    ]);
  });

  it('refuses two routes with one name', () => {
    assert.deepEqual(problems(`routes:
  - { name: a, match: { path: /x } }
  - { name: a, match: { path: /y } }
`), ['8 routes[1].name: route "a": duplicate route name "a" (also routes[0])']);
  });

  it('can not be written in a .properties file', () => {
    const p = problemsOf(() => parseConfig('http-server.authentication.jwt.key-file=/k.pem\nroutes.0.match.path=/x\n', '/cfg/c.properties'));
    assert.deepEqual(p.map((x) => `${x.key}: ${x.message}`), ['routes.0.match.path: routes can not be set in a .properties file: it needs a YAML config']);
  });
});

describe('HTTP mode in the config (SPEC §12)', () => {
  it('is off by default, reading the request itself', () => {
    const config = parseConfig(PROVIDERS, '/cfg/c.yaml');
    assert.equal(config.httpListen, 'off');
    assert.deepEqual(config.http, { originalRequest: 'path' });
  });

  it('reads http-listen, path-prefix and original-request, also from a .properties file', () => {
    const yaml = parseConfig(`${PROVIDERS}http-listen: 127.0.0.1:9192\nhttp:\n  path-prefix: /authz\n  original-request: path\n`, '/cfg/c.yaml');
    assert.equal(yaml.httpListen, '127.0.0.1:9192');
    assert.deepEqual(yaml.http, { pathPrefix: '/authz', originalRequest: 'path' });
    const props = parseConfig('http-server.authentication.jwt.key-file=/k.pem\nhttp-listen=unix:/run/authz.sock\nhttp.original-request=x-original\n', '/cfg/c.properties');
    assert.equal(props.httpListen, 'unix:/run/authz.sock');
    assert.deepEqual(props.http, { originalRequest: 'x-original' });
  });

  it('refuses an http-listen that another listener already has', () => {
    assert.deepEqual(problems('listen: 127.0.0.1:9191\nhttp-listen: 127.0.0.1:9191\n'), ['7 http-listen: is the same address as listen']);
  });

  it('refuses an unknown original-request with a suggestion', () => {
    assert.deepEqual(problems('http:\n  original-request: x-forwarder\n'), [
      '7 http.original-request: "x-forwarder" is not one of path, x-original, x-forwarded (did you mean x-forwarded?)',
    ]);
  });

  it('warns about settings the HTTP mode can not honour', () => {
    const { warnings, warn } = collector();
    parseConfig(`${PROVIDERS}http-listen: 127.0.0.1:0
http: { path-prefix: /authz, original-request: x-original }
token:
  sources: [{ query: access_token }]
response:
  forward-original: false
`, '/cfg/c.yaml', warn);
    assert.deepEqual(warnings.map((w) => `${w.key}: ${w.message}`), [
      'http.path-prefix: only applies to original-request: path; it is ignored',
      'response.forward-original: an HTTP-mode answer can not remove a query parameter (there is no header for it): a token found in the query string still reaches the upstream through http-listen',
    ]);
  });
});
