import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { parse, stringify } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { createCheckClient } from '../../src/grpc/client.js';
import { createLogger } from '../../src/log.js';
import { startService } from '../../src/service/start.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { nowSeconds, sign, spkiPem } from '../helpers/keys.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { runCli } from '../helpers/process.js';
import { checkRequest } from '../helpers/requests.js';
import { httpCheck } from '../helpers/http-check.js';
import { adminGet, eventually, grpcHealth } from '../helpers/scrape.js';
import { tempDir } from '../helpers/service.js';
import {
  DEPLOY, HTTP_PAIRINGS, ISTIO_CONFIG, PAIRINGS, PROXY_CONFIGS, type OurConfig, connectionManagers, contextExtensions, envoyNamed, isObject, ourConfigs, parseOurConfig, routes,
} from './support.js';

/** Where a shipped config's files and listeners go in the test. */
interface Rewrite {
  readonly listen?: string;
  readonly adminListen?: string;
  /** Replaces http-listen where a config has one. */
  readonly httpListen?: string;
  /** Replaces every JWKS URL. */
  readonly jwksUrl?: string;
  /** Replaces every local key-file path. */
  readonly keyFile: string;
  readonly certFile: string;
  readonly tlsKeyFile: string;
  readonly caFile: string;
  readonly mappingFile: string;
}

const isUrl = (s: string): boolean => s.startsWith('https://') || s.startsWith('http://');

/** The config with container paths (and optionally listeners and JWKS URLs) pointed at test files. */
function rewrite(c: OurConfig, r: Rewrite): string {
  if (c.fileName.endsWith('.properties')) {
    const set = (text: string, key: string, value: string | undefined): string =>
      value === undefined ? text : text.replace(new RegExp(`^(${key.replace(/\./g, '\\.')}\\s*[=:]).*$`, 'm'), `$1${value}`);
    let text = c.text;
    text = set(text, 'listen', r.listen);
    text = set(text, 'admin-listen', r.adminListen);
    text = set(text, 'tls.cert-file', r.certFile);
    text = set(text, 'tls.key-file', r.tlsKeyFile);
    text = set(text, 'tls.client-ca-file', r.caFile);
    for (const prefix of ['http-server.authentication.jwt', 'http.authentication.jwt']) {
      const keyFile = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.key-file\\s*[=:]\\s*(.*)$`, 'm').exec(text)?.[1];
      if (keyFile !== undefined) text = set(text, `${prefix}.key-file`, isUrl(keyFile) ? (r.jwksUrl ?? keyFile) : r.keyFile);
      text = set(text, `${prefix}.user-mapping.file`, r.mappingFile);
      text = set(text, `${prefix}.jwks.ca-file`, r.caFile);
    }
    return text;
  }
  const doc: unknown = parse(c.text);
  if (!isObject(doc)) throw new Error(`${c.where} is not a mapping`);
  if (r.listen !== undefined) doc['listen'] = r.listen;
  if (r.adminListen !== undefined) doc['admin-listen'] = r.adminListen;
  if (r.httpListen !== undefined && doc['http-listen'] !== undefined) doc['http-listen'] = r.httpListen;
  const tls = doc['tls'];
  if (isObject(tls)) {
    tls['cert-file'] = r.certFile;
    tls['key-file'] = r.tlsKeyFile;
    if (tls['client-ca-file'] !== undefined) tls['client-ca-file'] = r.caFile;
  }
  for (const p of Array.isArray(doc['providers']) ? doc['providers'] : []) {
    if (!isObject(p)) continue;
    const keyFile = p['key-file'];
    if (typeof keyFile === 'string') p['key-file'] = isUrl(keyFile) ? (r.jwksUrl ?? keyFile) : r.keyFile;
    const mapping = p['user-mapping'];
    if (isObject(mapping) && mapping['file'] !== undefined) mapping['file'] = r.mappingFile;
    const jwks = p['jwks'];
    if (isObject(jwks) && jwks['ca-file'] !== undefined) jwks['ca-file'] = r.caFile;
  }
  return stringify(doc);
}

const configs = ourConfigs();
const signer = generateKeyPairSync('rsa', { modulusLength: 2048 });
let dir = '';
let pki: TestPki | undefined;
let server: { certFile: string; keyFile: string } | undefined;
let idp: TestServer | undefined;

const files = (): Rewrite => {
  assert.ok(pki && server);
  return { keyFile: join(dir, 'idp.pem'), certFile: server.certFile, tlsKeyFile: server.keyFile, caFile: pki.caFile, mappingFile: join(dir, 'rules.json') };
};
const fileName = (c: OurConfig, i: number): string => join(dir, `config-${i}${c.fileName.endsWith('.properties') ? '.properties' : '.yaml'}`);

before(async () => {
  dir = tempDir('jwt-ext-authz-deploy-');
  pki = makeTestPki(dir);
  server = pki.issue('server', 'server');
  writeFileSync(join(dir, 'idp.pem'), spkiPem(signer.publicKey));
  writeFileSync(join(dir, 'rules.json'), JSON.stringify({ rules: [{ pattern: '(.*)@example\\.com' }] }));
  idp = await startHttpsServer({ tls: false });
  idp.setHandler(() => ({ body: { keys: [{ ...signer.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] } }));
});

after(async () => {
  await idp?.close();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('Shipped jwt-ext-authz configs', () => {
  it('are found in every mode: sidecar, central, Istio, standalone Envoy (gRPC and HTTP), Trino, nginx, Caddy and Traefik', () => {
    const wheres = configs.map((c) => c.where).sort();
    const proxies = Object.values(PROXY_CONFIGS).map((p) => p.config);
    assert.deepEqual(wheres, [ISTIO_CONFIG, ...PAIRINGS.map((p) => p.config), ...HTTP_PAIRINGS.map((p) => p.config), ...proxies].sort());
  });

  it('pass schema validation as written (parseConfig; the files they name are container paths)', () => {
    for (const c of configs) assert.doesNotThrow(() => parseOurConfig(c), c.where);
  });

  it('pass `validate-config` of the built CLI once their container paths point at real test files', async () => {
    for (const [i, c] of configs.entries()) {
      const file = fileName(c, i);
      writeFileSync(file, rewrite(c, files()));
      const r = await runCli(['validate-config', '--config', file]);
      assert.equal(r.code, 0, `${c.where}: ${r.stderr}`);
      const normalised = parse(r.stdout) as Record<string, unknown>;
      const expected: Config = parseOurConfig(c);
      assert.equal(normalised['listen'], expected.listen, c.where);
      assert.deepEqual((normalised['response'] as Record<string, unknown>)['principal-header'], expected.response.principalHeader, c.where);
    }
  });

  it('reuse the Trino administrator\'s http-server.authentication.jwt.* lines as the provider', () => {
    const trino = configs.find((c) => c.fileName.endsWith('.properties'));
    assert.ok(trino);
    for (const key of ['key-file', 'required-issuer', 'required-audience', 'user-mapping.pattern']) {
      assert.match(trino.text, new RegExp(`^http-server\\.authentication\\.jwt\\.${key.replace('.', '\\.')}=`, 'm'), key);
    }
    const config = parseOurConfig(trino);
    assert.equal(config.providers[0]?.keyFile, 'https://idp.example.com/.well-known/jwks.json');
    assert.equal(config.providers[0]?.userMapping.pattern, '(.*)@example\\.com');
    assert.equal(config.response.principalHeader, 'x-trino-user');
    assert.notEqual(config.response.passThroughHeader, '');
  });

  it('the Trino config removes the headers its README lists, and denies the README\'s Basic-header case', async () => {
    assert.ok(idp);
    const c = configs.find((x) => x.where === 'deploy/trino/jwt-ext-authz.properties');
    assert.ok(c);
    const file = fileName(c, 99);
    writeFileSync(file, rewrite(c, { ...files(), listen: '127.0.0.1:0', adminListen: '127.0.0.1:0', jwksUrl: `${idp.url}/jwks.json` }));
    const config = loadConfigFile(file);
    const readme = readFileSync(join(DEPLOY, 'trino', 'README.md'), 'utf8');
    for (const h of ['x-trino-original-user', 'x-trino-original-roles', 'x-trino-extra-credential', 'x-presto-user']) {
      assert.ok(config.response.removeHeaders.includes(h), h);
      assert.match(readme.toLowerCase(), new RegExp(`\`${h}\``), `the README explains ${h}`);
    }
    const service = await startService(config, { logger: createLogger('error', new PassThrough()) });
    const client = createCheckClient(service.grpcAddress, credentials.createInsecure());
    try {
      await eventually(() => service.ready(), 5000, 'ready');
      const token = await sign({ sub: 'alice@example.com', exp: nowSeconds() + 300, iss: config.providers[0]?.requiredIssuer ?? '', aud: 'trino' }, signer.privateKey, { kid: 'k1' });
      const res = await client.check(checkRequest({ authorization: `Bearer ${token}`, 'x-trino-original-user': 'admin' }));
      assert.equal(assertAllow(res)['x-trino-user'], 'alice');
      for (const h of config.response.removeHeaders) assert.ok(res.ok_response?.headers_to_remove?.includes(h), h);
      // Bearer is the only source here: a password-less Basic user is no token, so no access.
      const basic = `Basic ${Buffer.from('admin:').toString('base64')}`;
      assertDeny(await client.check(checkRequest({ authorization: basic, 'x-trino-user': 'admin' })), 'missing_token');
    } finally {
      client.close();
      await service.stop(1000);
    }
  });

  for (const [i, c] of configs.entries()) {
    it(`serve real checks once started: ${c.where}`, async () => {
      assert.ok(idp && pki);
      const file = fileName(c, 100 + i);
      writeFileSync(file, rewrite(c, { ...files(), listen: '127.0.0.1:0', adminListen: '127.0.0.1:0', httpListen: '127.0.0.1:0', jwksUrl: `${idp.url}/jwks.json` }));
      const config = loadConfigFile(file);
      const logger = createLogger('error', new PassThrough());
      const service = await startService(config, { logger });
      const tls = config.tls !== undefined;
      const creds = tls ? credentials.createSsl(readFileSync(pki.caFile)) : credentials.createInsecure();
      const target = tls ? service.grpcAddress.replace('127.0.0.1', 'localhost') : service.grpcAddress;
      const client = createCheckClient(target, creds);
      try {
        await eventually(() => service.ready(), 5000, `${c.where} ready`);
        assert.equal(await grpcHealth(target, '', creds), 'SERVING');
        assert.equal((await adminGet(service.adminAddress ?? '', '/readyz')).status, 200);

        const provider = config.providers[0];
        assert.ok(provider);
        const sub = provider.userMapping.pattern === undefined ? 'alice' : 'alice@example.com';
        const token = await sign({
          sub,
          exp: nowSeconds() + 300,
          ...(provider.requiredIssuer === undefined ? {} : { iss: provider.requiredIssuer }),
          ...(provider.requiredAudience[0] === undefined ? {} : { aud: provider.requiredAudience[0] }),
        }, signer.privateKey, { kid: 'k1' });
        const allowed = assertAllow(await client.check(checkRequest({ authorization: `Bearer ${token}` })));
        assert.equal(allowed[config.response.principalHeader], 'alice');
        if (config.response.passThroughHeader !== '') assert.equal(allowed[config.response.passThroughHeader], token);

        assertDeny(await client.check(checkRequest({})), 'missing_token');

        // The HTTP mode, asked the way its paired proxy asks.
        if (service.httpAddress !== undefined) {
          const ask = (path: string, headers: Record<string, string>) => httpCheck(service.httpAddress ?? '', {
            path: config.http.originalRequest === 'path' ? `${config.http.pathPrefix ?? ''}${path}` : '/authz',
            headers: {
              ...headers,
              ...(config.http.originalRequest === 'x-original' ? { 'x-original-uri': path, 'x-original-method': 'GET' } : {}),
              ...(config.http.originalRequest === 'x-forwarded' ? { 'x-forwarded-uri': path, 'x-forwarded-method': 'GET' } : {}),
            },
          });
          const ok = await ask('/v1/x', { authorization: `Bearer ${token}` });
          assert.equal(ok.status, 200, `${c.where} over HTTP: ${ok.body}`);
          assert.equal(ok.headers[config.response.principalHeader], 'alice');
          const denied = await ask('/v1/x', {});
          assert.equal(denied.status, 401, c.where);
          assert.equal((JSON.parse(denied.body) as Record<string, unknown>)['reason'], 'missing_token');
          // Every shipped HTTP-mode config lets some path through without a token, by its routes.
          const open = config.routes.find((r) => r.allowMissing && (r.match.pathPrefix ?? r.match.path) !== undefined);
          assert.ok(open, `${c.where}: an allow-missing route`);
          const res = await ask(`${open.match.pathPrefix ?? open.match.path ?? ''}`, { [config.response.principalHeader]: 'mallory' });
          assert.equal(res.status, 200, `${c.where}: ${open.name ?? ''} without a token`);
          assert.equal(res.headers[config.response.principalHeader], '', 'an empty principal, so the proxy overwrites the client\'s');
        }

        // What the paired Envoy sends per route really does what its comment says.
        const pairing = PAIRINGS.find((p) => p.config === c.where);
        const envoy = pairing === undefined ? undefined : envoyNamed(pairing.envoy);
        for (const route of envoy === undefined ? [] : connectionManagers(envoy).flatMap(routes)) {
          const ext = contextExtensions(route);
          if (ext === undefined) continue;
          const context = Object.fromEntries(Object.entries(ext).map(([k, v]) => [k, String(v)]));
          const res = await client.check(checkRequest({ [config.response.principalHeader]: 'mallory' }, { context }));
          assertAllow(res);
          assert.ok(res.ok_response?.headers_to_remove?.includes(config.response.principalHeader), `${pairing?.envoy}: a client's own identity header is removed`);
        }
      } finally {
        client.close();
        await service.stop(1000);
      }
    });
  }
});
