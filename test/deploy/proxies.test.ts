/**
 * The HTTP-mode proxy configs (deploy/nginx, deploy/caddy, deploy/traefik) checked for structure
 * and for agreement with the jwt-ext-authz config beside each: the address they call, the header
 * family they set (SPEC §12 original-request), every identity header copied and a client's own
 * copy removed. nginx and Caddy also run for real in test/proxies; Traefik is not in Debian.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Config } from '../../src/config/types.js';
import {
  PROXY_CONFIGS, REPO, at, configNamed, hostOf, identityHeaders, isObject, list, obj, parseOurConfig, portOf, read, str, yamlDoc,
} from './support.js';

const configOf = (where: string): Config => parseOurConfig(configNamed(where));
const underscored = (h: string): string => h.replace(/-/g, '_');
const lower = (xs: readonly string[]): string[] => xs.map((x) => x.toLowerCase()).sort();

/**
 * SPEC §14 header hygiene: what an `x-envoy-auth-headers-to-remove` regex in a proxy config must
 * say about Authorization. Lists as jwt-ext-authz writes them (", "), and other spellings a
 * regex must not be fooled by.
 */
const REMOVE_LISTS: readonly (readonly [string, boolean])[] = [
  ['authorization', true],
  ['Authorization', true],
  ['x_jwt_principal, x-forwarded-user, authorization', true],
  ['authorization, x-jwt-email', true],
  ['x-jwt-principal,authorization,x-jwt-email', true],
  ['', false],
  ['x_jwt_principal, x-forwarded-user, x-remote-user', false],
  ['x-authorization, authorization-x', false],
  ['proxy-authorization', false],
];
/** Checks that `re` says "remove Authorization" exactly for the lists that name it. */
function assertAuthorizationRegex(re: RegExp): void {
  for (const [header, remove] of REMOVE_LISTS) assert.equal(re.test(header), remove, `${re.source} on "${header}"`);
}
/** `response.remove-headers` of a config, lower case. */
const removeHeaders = (c: Config): string[] => c.response.removeHeaders.map((h) => h.toLowerCase());
const TO_REMOVE = 'x-envoy-auth-headers-to-remove';

/** Ports the proxy must keep clear of: jwt-ext-authz's own, on the same host. */
const ourPorts = (c: Config): number[] => [portOf(c.listen), portOf(c.adminListen), portOf(c.httpListen)];

describe('The HTTP-mode configs beside each proxy', () => {
  it('turn on the HTTP mode on loopback, with an allow-missing /public route and the header family their proxy sets', () => {
    const family = { nginx: 'x-original', caddy: 'x-forwarded', traefik: 'x-forwarded' } as const;
    for (const [proxy, files] of Object.entries(PROXY_CONFIGS)) {
      const c = configOf(files.config);
      assert.equal(hostOf(c.httpListen), '127.0.0.1', files.config);
      assert.equal(c.http.originalRequest, family[proxy as keyof typeof family], `${files.config}: ${proxy} sets this family and passes a client's copies of the other`);
      assert.ok(c.routes.some((r) => r.allowMissing && r.match.pathPrefix === '/public'), `${files.config} has the /public route the tests use`);
      assert.ok(identityHeaders(c).length >= 3, `${files.config}: claim headers too, so that copying every one is checked`);
      assert.ok(removeHeaders(c).length > 0, `${files.config}: response.remove-headers, so that removing every one is checked`);
    }
  });
});

describe('nginx (deploy/nginx/jwt-ext-authz.conf)', () => {
  const conf = read(join(REPO, PROXY_CONFIGS.nginx.proxy));
  const c = configOf(PROXY_CONFIGS.nginx.config);
  // Comments out, one directive per entry.
  const text = conf.replace(/#.*$/gm, '');
  const block = (opener: RegExp): string => {
    const m = opener.exec(text);
    assert.ok(m, `a block ${opener.source}`);
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < text.length; i++) {
      if (text[i] === '{') depth++;
      if (text[i] === '}' && --depth === 0) return text.slice(m.index, i + 1);
    }
    throw new Error(`unclosed block ${opener.source}`);
  };
  const directives = (b: string, name: string): string[][] =>
    [...b.matchAll(new RegExp(`(?:^|[;{}\\s])${name}\\s+([^;{]*);`, 'g'))].map((m) => (m[1] ?? '').trim().split(/\s+/));
  /** auth_request_set lines: answer variable → the variable set. */
  const fromAnswer = (b: string): Map<string, string> => new Map(directives(b, 'auth_request_set').map((d) => [d[1] ?? '', d[0] ?? '']));
  const authUri = directives(block(/location \/ \{/), 'auth_request')[0]?.[0] ?? '';
  const protectedLocation = block(/location \/ \{/);
  const authLocation = block(new RegExp(`location = ${authUri.replace(/[/_]/g, '\\$&')} \\{`));

  it('asks jwt-ext-authz\'s http-listen from an internal auth location before proxying', () => {
    assert.match(authUri, /^\/_/);
    assert.match(authLocation, /\binternal;/);
    const upstream = directives(authLocation, 'proxy_pass')[0]?.[0] ?? '';
    const name = /^http:\/\/([\w-]+)$/.exec(upstream)?.[1];
    assert.ok(name, `proxy_pass to a named upstream, without a URI (${upstream})`);
    assert.deepEqual(directives(block(new RegExp(`upstream ${name} \\{`)), 'server').map((d) => d[0]), [c.httpListen]);
    for (const d of directives(text, 'listen')) assert.ok(!ourPorts(c).includes(Number(d[0]?.replace(/^.*:/, ''))), `listen ${d.join(' ')}`);
  });

  it('sends X-Original-URI and X-Original-Method (x-original), the client\'s Host, and no body', () => {
    const set = new Map(directives(authLocation, 'proxy_set_header').map((d) => [(d[0] ?? '').toLowerCase(), d.slice(1).join(' ')]));
    assert.equal(set.get('x-original-uri'), '$request_uri', 'the URI as the client sent it, as the upstream receives it');
    assert.equal(set.get('x-original-method'), '$request_method');
    assert.equal(set.get('host'), '$host', 'otherwise nginx sends the upstream\'s name and no hosts route matches');
    assert.equal(set.get('content-length'), '""');
    assert.deepEqual(directives(authLocation, 'proxy_pass_request_body'), [['off']]);
  });

  it('copies every identity header from the allow answer, replacing a client\'s own copy', () => {
    const answered = fromAnswer(protectedLocation);
    const set = new Map(directives(protectedLocation, 'proxy_set_header').map((d) => [(d[0] ?? '').toLowerCase(), d[1] ?? '']));
    for (const h of identityHeaders(c)) {
      const variable = answered.get(`$upstream_http_${underscored(h)}`);
      assert.ok(variable, `auth_request_set for ${h}`);
      assert.equal(set.get(h), variable, `proxy_set_header ${h} ${variable}`);
    }
    assert.doesNotMatch(text, /underscores_in_headers\s+on/, 'client headers with "_" stay dropped');
  });

  it('removes every header of response.remove-headers on allow', () => {
    const set = new Map(directives(protectedLocation, 'proxy_set_header').map((d) => [(d[0] ?? '').toLowerCase(), d.slice(1).join(' ')]));
    for (const h of removeHeaders(c)) assert.equal(set.get(h), '""', `proxy_set_header ${h} "";`);
  });

  it('passes the client\'s Authorization on only when the allow does not list it in x-envoy-auth-headers-to-remove', () => {
    const remove = fromAnswer(protectedLocation).get(`$upstream_http_${underscored(TO_REMOVE)}`);
    assert.ok(remove, `auth_request_set of ${TO_REMOVE}`);
    const set = new Map(directives(protectedLocation, 'proxy_set_header').map((d) => [(d[0] ?? '').toLowerCase(), d.slice(1).join(' ')]));
    const authorization = set.get('authorization') ?? '';
    assert.match(authorization, /^\$\w+$/, 'proxy_set_header Authorization $<map>;');
    const map = block(new RegExp(`map \\${remove} \\${authorization} \\{`));
    const entries = [...map.matchAll(/^\s*("(?:[^"\\]|\\.)*"|\S+)\s+("[^"]*"|\S+);/gm)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']);
    assert.deepEqual(entries.find(([k]) => k === 'default')?.[1], '$http_authorization', 'otherwise the client\'s own value');
    const regexes = entries.filter(([k]) => k !== 'default');
    assert.equal(regexes.length, 1, 'one regex entry');
    const [pattern, value] = regexes[0] ?? ['', ''];
    assert.equal(value, '""', 'a listed Authorization is not sent');
    const m = /^"~\*(.*)"$/.exec(pattern ?? '');
    assert.ok(m, `a case-insensitive regex (~*): ${pattern}`);
    assertAuthorizationRegex(new RegExp(m[1] ?? '', 'i'));
  });

  it('passes the challenge on with 401 and 403, once', () => {
    const challenge = fromAnswer(protectedLocation).get('$upstream_http_www_authenticate');
    assert.ok(challenge, 'auth_request_set of WWW-Authenticate');
    const add = directives(protectedLocation, 'add_header').find((d) => d[0]?.toLowerCase() === 'www-authenticate');
    assert.ok(add && add[2] === 'always', 'add_header WWW-Authenticate ... always (error statuses too)');
    const map = block(new RegExp(`map \\$status \\${add[1] ?? ''} \\{`));
    assert.match(map, new RegExp(`403\\s+\\${challenge};`), 'a 403\'s challenge');
    assert.match(map, /default\s+"";/, 'nothing otherwise: auth_request copies a 401\'s itself');
  });
});

describe('Caddy (deploy/caddy/Caddyfile)', () => {
  const text = read(join(REPO, PROXY_CONFIGS.caddy.proxy)).replace(/#.*$/gm, '');
  const c = configOf(PROXY_CONFIGS.caddy.config);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const index = (re: RegExp): number => lines.findIndex((l) => re.test(l));

  it('asks jwt-ext-authz\'s http-listen with forward_auth, and keeps clear of its ports', () => {
    assert.equal(/^forward_auth (\S+) \{$/m.exec(lines.join('\n'))?.[1], c.httpListen);
    const site = /^:(\d+) \{$/.exec(lines[0] ?? '')?.[1];
    assert.ok(site !== undefined && !ourPorts(c).includes(Number(site)), `site port ${String(site)}`);
  });

  it('copies every identity header and x-envoy-auth-headers-to-remove, and only those', () => {
    const copy = lines.find((l) => l.startsWith('copy_headers '))?.split(/\s+/).slice(1) ?? [];
    assert.deepEqual(lower(copy), [...identityHeaders(c), TO_REMOVE].sort());
  });

  it('removes the client\'s Authorization after forward_auth when the allow lists it, and the list itself, and no client can send the list', () => {
    const forward = index(/^forward_auth /);
    const proxy = index(/^reverse_proxy /);
    const deleted = (from: number, to: number): string[] => lines.slice(from, to).flatMap((l) => /^request_header -(\S+)$/.exec(l)?.[1]?.toLowerCase() ?? []);
    assert.ok(deleted(index(/^route \{$/), forward).includes(TO_REMOVE), `request_header -${TO_REMOVE} before forward_auth`);
    const after = lines.slice(forward, proxy);
    const matcher = after.map((l) => /^@(\S+) header_regexp (\S+) (\S+)$/.exec(l)).find((m) => m !== null && m[2]?.toLowerCase() === TO_REMOVE);
    assert.ok(matcher, `@name header_regexp ${TO_REMOVE} <regex> after forward_auth`);
    const removal = after.findIndex((l) => l === `request_header @${matcher[1] ?? ''} -Authorization`);
    assert.ok(removal >= 0, `request_header @${matcher[1] ?? ''} -Authorization`);
    assert.ok(deleted(forward + removal, proxy).includes(TO_REMOVE), `request_header -${TO_REMOVE} after the Authorization removal`);
    // Go's (?i) prefix is JavaScript's i flag; the rest reads the same in both.
    const go = matcher[3] ?? '';
    assert.ok(go.startsWith('(?i)'), `case-insensitive: ${go}`);
    assertAuthorizationRegex(new RegExp(go.slice(4), 'i'));
  });

  it('removes every header of response.remove-headers after forward_auth', () => {
    const removed = lines.slice(index(/^forward_auth /), index(/^reverse_proxy /)).flatMap((l) => /^request_header -(\S+)$/.exec(l)?.[1]?.toLowerCase() ?? []);
    for (const h of removeHeaders(c)) assert.ok(removed.includes(h), `request_header -${h}`);
  });

  it('removes a client\'s identity headers and their underscore look-alikes itself, before forward_auth, in a route that keeps that order', () => {
    const route = index(/^route \{$/);
    const forward = index(/^forward_auth /);
    const proxy = index(/^reverse_proxy /);
    assert.ok(route >= 0 && route < forward && forward < proxy, 'route { request_header ... forward_auth ... reverse_proxy }');
    const removed = lines.slice(route, forward).flatMap((l) => /^request_header -(\S+)$/.exec(l)?.[1] ?? []);
    for (const h of identityHeaders(c)) {
      assert.ok(lower(removed).includes(h), `request_header -${h}`);
      assert.ok(lower(removed).includes(underscored(h)), `request_header -${underscored(h)}`);
    }
  });

  it('has no global options block, so the one the tests add is the only one', () => {
    assert.doesNotMatch(text, /^\{/m);
  });
});

describe('Traefik (deploy/traefik/dynamic.yaml)', () => {
  const dynamic = obj(yamlDoc(join(REPO, PROXY_CONFIGS.traefik.proxy)), 'dynamic.yaml');
  const c = configOf(PROXY_CONFIGS.traefik.config);
  const middlewares = obj(at(dynamic, 'http', 'middlewares'), 'middlewares');
  const forwardName = Object.keys(middlewares).find((k) => isObject(at(middlewares, k, 'forwardAuth')));
  assert.ok(forwardName);
  const forward = obj(at(middlewares, forwardName, 'forwardAuth'), 'forwardAuth');
  /** ForwardAuth options (Traefik v3 reference). */
  const FORWARD_AUTH_FIELDS = new Set([
    'address', 'tls', 'trustForwardHeader', 'authResponseHeaders', 'authResponseHeadersRegex', 'authRequestHeaders', 'addAuthCookiesToResponse',
    'headerField', 'forwardBody', 'maxBodySize', 'preserveLocationHeader', 'preserveRequestMethod',
  ]);

  it('has a ForwardAuth middleware with only fields Traefik defines, asking http-listen without trusting a client\'s X-Forwarded-*', () => {
    for (const key of Object.keys(forward)) assert.ok(FORWARD_AUTH_FIELDS.has(key), `forwardAuth has no field ${key}`);
    const address = new URL(str(forward['address'], 'address'));
    assert.equal(address.host, c.httpListen);
    assert.equal(address.protocol, 'http:');
    assert.equal(forward['trustForwardHeader'], false, 'a client could otherwise choose the path, method and host checked');
  });

  it('copies every identity header from the allow answer, and only those', () => {
    const copied = list(forward['authResponseHeaders'], 'authResponseHeaders').map((h) => str(h, 'header'));
    assert.deepEqual(lower(copied), [...identityHeaders(c)].sort());
    assert.equal(forward['authResponseHeadersRegex'], undefined);
  });

  it('removes a client\'s identity headers and their look-alikes first, on every router', () => {
    const routers = obj(at(dynamic, 'http', 'routers'), 'routers');
    assert.ok(Object.keys(routers).length > 0);
    for (const [name, router] of Object.entries(routers)) {
      const chain = list(at(router, 'middlewares'), `${name} middlewares`).map((m) => str(m, 'middleware'));
      const at_ = chain.indexOf(forwardName);
      assert.ok(at_ >= 0, `router ${name} is checked`);
      const strip = chain.slice(0, at_).find((m) => isObject(at(middlewares, m, 'headers', 'customRequestHeaders')));
      assert.ok(strip, `router ${name}: a headers middleware before ${forwardName}`);
      const custom = obj(at(middlewares, strip, 'headers', 'customRequestHeaders'), 'customRequestHeaders');
      const removed = Object.entries(custom).filter(([, v]) => v === '').map(([k]) => k.toLowerCase());
      for (const h of identityHeaders(c)) for (const n of [h, underscored(h)]) assert.ok(removed.includes(n), `${strip} removes ${n}`);
    }
  });

  it('removes every Authorization header and every header of response.remove-headers after the check, on every router', () => {
    const routers = obj(at(dynamic, 'http', 'routers'), 'routers');
    for (const [name, router] of Object.entries(routers)) {
      const chain = list(at(router, 'middlewares'), `${name} middlewares`).map((m) => str(m, 'middleware'));
      const after = chain.slice(chain.indexOf(forwardName) + 1).filter((m) => isObject(at(middlewares, m, 'headers', 'customRequestHeaders')));
      const removed = after.flatMap((m) => Object.entries(obj(at(middlewares, m, 'headers', 'customRequestHeaders'), m)).filter(([, v]) => v === '').map(([k]) => k.toLowerCase()));
      // Traefik cannot remove a header on a condition: the Authorization that did not carry the token goes only if every one goes.
      for (const h of ['authorization', ...removeHeaders(c)]) assert.ok(removed.includes(h), `router ${name}: a headers middleware after ${forwardName} removes ${h}`);
    }
  });

  it('is the file the static config loads, whose entry point keeps clear of jwt-ext-authz\'s ports', () => {
    const traefik = obj(yamlDoc(join(REPO, 'deploy', 'traefik', 'traefik.yaml')), 'traefik.yaml');
    assert.match(str(at(traefik, 'providers', 'file', 'filename'), 'filename'), /\/dynamic\.yaml$/);
    const entryPoints = obj(traefik['entryPoints'], 'entryPoints');
    for (const [name, ep] of Object.entries(entryPoints)) {
      const port = Number(str(at(ep, 'address'), `${name} address`).replace(/^.*:/, ''));
      assert.ok(!ourPorts(c).includes(port), `entry point ${name} on ${port}`);
      assert.notEqual(at(ep, 'forwardedHeaders', 'insecure'), true, `${name} must not trust a client's X-Forwarded-*`);
    }
  });
});
