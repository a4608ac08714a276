import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import type { JwksConfig } from '../../src/config/types.js';
import { readDiscoveryDocument } from '../../src/keys/discovery.js';
import { createDiscoveryKeySource, type JwksHooks, type JwksKeySource } from '../../src/keys/jwks-source.js';
import { Rejection } from '../../src/reasons.js';
import { startHttpsServer, type Reply, type TestServer } from '../helpers/https-server.js';
import { keysOf, reasonOf } from '../helpers/key-lookup.js';
import { eventually as until } from '../helpers/scrape.js';

type FetchEvent = Parameters<NonNullable<JwksHooks['onFetch']>>[0];
type DiscoveredEvent = Parameters<NonNullable<JwksHooks['onDiscovered']>>[0];

const A = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const B = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const A_JWK = A.export({ format: 'jwk' });
const B_JWK = B.export({ format: 'jwk' });
// Exported once each (see test/keys/local-jwks.test.ts for why).
const jwk = (key: KeyObject, kid: string): Record<string, unknown> => ({ ...(key === A ? A_JWK : B_JWK), kid });

const WELL_KNOWN = '/.well-known/openid-configuration';

const config = (o: Partial<JwksConfig> = {}): JwksConfig =>
  ({ refreshIntervalMs: 60_000, minRefreshIntervalMs: 0, timeoutMs: 2_000, maxStaleMs: 3_600_000, ...o });

interface Idp {
  readonly server: TestServer;
  /** `<server>/realms/corp`, the issuer the source requires. */
  readonly issuer: string;
  readonly source: JwksKeySource;
  readonly fetches: FetchEvent[];
  readonly discovered: DiscoveredEvent[];
  /** What the discovery document says; `jwks` is a path on the server unless it is a full URL. */
  document(doc: { issuer?: string; jwks?: string }): void;
  /** Answer the document request with this instead. */
  documentReply(reply: Reply): void;
  /** What each JWKS path answers. */
  keys(path: string, reply: Reply): void;
  /** Requested paths, in order. */
  paths(): string[];
}

async function idp(t: TestContext, cfg: Partial<JwksConfig> = {}): Promise<Idp> {
  const server = await startHttpsServer();
  t.after(() => server.close());
  const issuer = `${server.url}/realms/corp`;
  let doc: { issuer?: string; jwks?: string } = { jwks: '/keys' };
  let docReply: Reply | undefined;
  const jwksReplies = new Map<string, Reply>([['/keys', { body: { keys: [jwk(A, 'a')] } }]]);
  server.setHandler((req) => {
    if (req.path === `/realms/corp${WELL_KNOWN}`) {
      if (docReply !== undefined) return docReply;
      const jwksUri = doc.jwks === undefined ? undefined : doc.jwks.includes('://') ? doc.jwks : `${server.url}${doc.jwks}`;
      return { body: { issuer: doc.issuer ?? issuer, jwks_uri: jwksUri, authorization_endpoint: `${issuer}/auth` } };
    }
    return jwksReplies.get(req.path) ?? { status: 404, body: 'no such path' };
  });
  const fetches: FetchEvent[] = [];
  const discovered: DiscoveredEvent[] = [];
  const hooks: JwksHooks = { onFetch: (e) => fetches.push(e), onDiscovered: (e) => discovered.push(e) };
  const source = createDiscoveryKeySource(`${issuer}${WELL_KNOWN}`, issuer, config({ caFile: server.caFile, ...cfg }), hooks);
  t.after(() => source.close());
  return {
    server, issuer, source, fetches, discovered,
    document: (d) => { doc = d; docReply = undefined; },
    documentReply: (r) => { docReply = r; },
    keys: (path, reply) => { jwksReplies.set(path, reply); },
    paths: () => server.requests.map((r) => r.path),
  };
}




test('reads the discovery document, then the JWKS at its jwks_uri, and becomes ready', async (t) => {
  const f = await idp(t);
  assert.equal(f.source.ready, false);
  assert.equal(reasonOf(f.source.lookup('a', 'ES256')), 'keys_unavailable');
  await f.source.start();
  assert.deepEqual(f.paths(), [`/realms/corp${WELL_KNOWN}`, '/keys']);
  assert.equal(f.source.ready, true);
  assert.ok(keysOf(f.source.lookup('a', 'ES256'))[0]?.key.equals(A));
  assert.match(keysOf(f.source.lookup('a', 'ES256'))[0]?.description ?? '', /kid="a" https:\/\/127\.0\.0\.1:\d+\/keys$/);
  const d = f.source.discovery;
  assert.ok(d !== undefined);
  assert.deepEqual({ ...d, lastSuccessAt: typeof d.lastSuccessAt },
    { document: `${f.issuer}${WELL_KNOWN}`, issuer: f.issuer, jwksUri: `${f.server.url}/keys`, lastSuccessAt: 'number', error: undefined });
  assert.deepEqual(f.fetches.map((e) => [e.trigger, e.ok, e.keysLoaded]), [['startup', true, 1]]);
  assert.deepEqual(f.discovered, [{ issuer: f.issuer, jwksUri: `${f.server.url}/keys` }]);
});

test('refuses a document that names another issuer: no keys are fetched, and the refusal is reported', async (t) => {
  const f = await idp(t);
  f.document({ issuer: 'https://other-idp.example/', jwks: '/keys' });
  await f.source.start();
  assert.deepEqual(f.paths(), [`/realms/corp${WELL_KNOWN}`], 'the JWKS of a refused document is never fetched');
  assert.equal(f.source.ready, false);
  assert.equal(reasonOf(f.source.lookup('a', 'ES256')), 'keys_unavailable');
  const event = f.fetches[0];
  assert.equal(event?.ok, false);
  assert.equal(event?.step, 'discovery');
  assert.match(event?.error ?? '', /names issuer "https:\/\/other-idp\.example\/", not the required issuer ".*\/realms\/corp"; refused/);
  assert.match(f.source.discovery?.error ?? '', /not the required issuer/);
  assert.equal(f.source.discovery?.jwksUri, undefined);
});

test('compares the issuer exactly: a trailing slash is another issuer', async (t) => {
  const f = await idp(t);
  f.document({ issuer: `${f.issuer}/`, jwks: '/keys' });
  await f.source.start();
  assert.equal(f.source.ready, false);
  assert.match(f.source.discovery?.error ?? '', /not the required issuer/);
});

test('refuses a jwks_uri that is not https://', async (t) => {
  const f = await idp(t);
  f.document({ jwks: `http://127.0.0.1:1/keys?token=secret` });
  await f.source.start();
  assert.equal(f.source.ready, false);
  assert.match(f.source.discovery?.error ?? '', /jwks_uri "http:\/\/127\.0\.0\.1:1\/keys" is not an https:\/\/ URL; refused/);
  assert.doesNotMatch(f.fetches[0]?.error ?? '', /secret/, 'the query is never repeated');
});

test('applies the JWKS fetch rules to the document: status 200 only, 1 MiB, timeout, JSON with issuer and jwks_uri', async (t) => {
  const f = await idp(t, { timeoutMs: 300 });
  const cases: [Reply, RegExp][] = [
    [{ status: 404, body: 'nope' }, /unexpected status 404/],
    [{ body: Buffer.alloc(1024 * 1024 + 1, 0x20) }, /body larger than 1048576 bytes/],
    [{ body: { issuer: f.issuer }, delayMs: 600 }, /timed out after 300 ms/],
    [{ body: 'not json' }, /not valid JSON/],
    [{ body: { issuer: f.issuer } }, /no "jwks_uri" string/],
  ];
  await f.source.start();
  for (const [reply, expected] of cases) {
    f.documentReply(reply);
    await f.source.refresh('scheduled');
    const event = f.fetches[f.fetches.length - 2];
    assert.equal(event?.step, 'discovery', String(expected));
    assert.match(event?.error ?? '', expected);
    // The last accepted jwks_uri keeps serving its keys meanwhile.
    assert.equal(f.fetches[f.fetches.length - 1]?.ok, true);
    assert.ok(keysOf(f.source.lookup('a', 'ES256')).length === 1);
  }
});

test('reads the document again every refresh-interval and follows a changed jwks_uri', async (t) => {
  const f = await idp(t, { refreshIntervalMs: 200 });
  await f.source.start();
  f.keys('/keys-2026', { body: { keys: [jwk(B, 'b')] } });
  f.document({ jwks: '/keys-2026' });
  await until(() => f.discovered.length === 2, 5000, 'the new jwks_uri');
  // Shares the refresh in flight, if any: either way a fetch from the new jwks_uri has landed after it.
  await f.source.refresh('scheduled');
  assert.deepEqual(f.discovered[1], { issuer: f.issuer, jwksUri: `${f.server.url}/keys-2026`, previous: `${f.server.url}/keys` });
  assert.equal(f.source.discovery?.jwksUri, `${f.server.url}/keys-2026`);
  assert.ok(keysOf(f.source.lookup('b', 'ES256'))[0]?.key.equals(B));
  // A success replaces the set whole: the old jwks_uri's key is gone.
  const gone = await f.source.lookup('a', 'ES256');
  assert.ok(gone instanceof Rejection && gone.reason === 'unknown_key');
  const paths = f.paths();
  assert.ok(paths.filter((p) => p.endsWith(WELL_KNOWN)).length >= 2, 'the document is read again');
  assert.equal(paths.at(-1), '/keys-2026');
});

test('an unknown kid refetches the key set only, not the document', async (t) => {
  const f = await idp(t);
  await f.source.start();
  f.keys('/keys', { body: { keys: [jwk(A, 'a'), jwk(B, 'b')] } });
  const found = await f.source.lookup('b', 'ES256');
  assert.ok(!(found instanceof Rejection));
  assert.deepEqual(f.paths(), [`/realms/corp${WELL_KNOWN}`, '/keys', '/keys']);
  assert.equal(f.fetches.at(-1)?.trigger, 'unknown_kid');
});

test('starts while the issuer is down, stays not ready, and picks the issuer up by itself', async (t) => {
  // A long cooldown: no token may trigger the fetch that finds the issuer back.
  const f = await idp(t, { minRefreshIntervalMs: 60_000 });
  f.documentReply({ status: 503, body: 'down' });
  await f.source.start();
  assert.equal(f.source.ready, false);
  assert.equal(f.source.stale, true);
  assert.equal(reasonOf(f.source.lookup('a', 'ES256')), 'keys_unavailable');
  assert.match(f.source.discovery?.error ?? '', /unexpected status 503/);
  // The first retry comes after 1 s (then 2 s, 4 s, ...), without any token asking for it.
  f.document({ jwks: '/keys' });
  await until(() => f.source.ready, 4_000, 'recovery');
  assert.ok(keysOf(f.source.lookup('a', 'ES256'))[0]?.key.equals(A));
  assert.equal(f.source.discovery?.error, undefined);
  assert.deepEqual(f.fetches.map((e) => [e.trigger, e.ok]), [['startup', false], ['scheduled', true]]);
});

test('checks a parsed document: an object, issuer equal to the required one, an https jwks_uri', () => {
  const ok = readDiscoveryDocument({ issuer: 'https://idp/', jwks_uri: 'https://idp/keys' }, 'https://idp/');
  assert.deepEqual(ok, { issuer: 'https://idp/', jwksUri: 'https://idp/keys' });
  const error = (body: unknown): string => {
    const r = readDiscoveryDocument(body, 'https://idp/');
    assert.ok('error' in r, JSON.stringify(body));
    return r.error;
  };
  assert.match(error([]), /not a JSON object/);
  assert.match(error({ jwks_uri: 'https://idp/keys' }), /no "issuer" string/);
  assert.match(error({ issuer: 'https://IDP/', jwks_uri: 'https://idp/keys' }), /not the required issuer/);
  assert.match(error({ issuer: 'https://idp/', jwks_uri: 42 }), /no "jwks_uri" string/);
  assert.match(error({ issuer: 'https://idp/', jwks_uri: 'HTTPS://idp/keys' }), /not an https:\/\/ URL/);
  assert.match(error({ issuer: 'https://idp/', jwks_uri: 'https://' }), /not an https:\/\/ URL/);
  assert.match(error({ issuer: 'https://idp/', jwks_uri: 'file:///etc/keys' }), /not an https:\/\/ URL/);
});
