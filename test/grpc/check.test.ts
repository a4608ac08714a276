import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { nowSeconds, rawToken, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer, checkRequest, rawHeaderRequest } from '../helpers/requests.js';
import { capturedLogs, startTestService, tempDir, type TestService } from '../helpers/service.js';

const IDP = 'https://idp.test/';
const good = (extra: JWTPayload = {}): JWTPayload => ({ iss: IDP, aud: 'trino', sub: 'alice@example.com', exp: nowSeconds() + 600, ...extra });

describe('Check over gRPC with file keys', () => {
  let t: TestService;
  const keys = testKeys();
  const sent: string[] = [];
  const check = (req: object) => t.client.check(req);
  const signRsa = async (payload: JWTPayload, opts = {}) => {
    const token = await sign(payload, keys.rsa.privateKey, opts);
    sent.push(token);
    return token;
  };

  before(async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'keys'));
    mkdirSync(join(dir, 'outside'));
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    writeKey(dir, 'ec.pem', keys.ec.publicKey);
    writeKey(dir, 'hmac.key', keys.hmac);
    writeKey(join(dir, 'keys'), 'k1.pem', keys.rsa.publicKey);
    writeFileSync(
      join(dir, 'rules.json'),
      JSON.stringify({
        rules: [
          { pattern: 'test@example\\.com', allow: false },
          { pattern: '(.+)@example\\.com' },
          { pattern: '(?<user>.+)@(?<region>.+)\\.example\\.com', user: '${user}_${region}' },
          { pattern: '(.*)@uppercase.com', case: 'upper' },
        ],
      }),
    );
    t = await startTestService(
      `
clock-skew: 30s
providers:
  - name: corp
    key-file: rsa.pem
    required-issuer: ${IDP}
    required-audience: [trino, other]
    user-mapping:
      pattern: (.*)@example\\.com
  - name: hmac
    key-file: hmac.key
    required-issuer: https://hmac.test/
  - name: tpl
    key-file: keys/\${KID}.pem
    required-issuer: https://tpl.test/
  - name: docs
    key-file: ec.pem
    required-issuer: https://docs.test/
    user-mapping:
      file: rules.json
  - name: strict
    key-file: rsa.pem
    required-issuer: https://strict.test/
    algorithms: [RS384]
    principal-field: preferred_username
  - name: ctl
    key-file: rsa.pem
    required-issuer: https://ctl.test/
    user-mapping:
      pattern: ([\\s\\S]+)@example\\.com
`,
      { dir },
    );
  });
  after(() => t.close());

  it('allows a good RS256 token and sets the mapped principal and pass-through headers', async () => {
    const token = await signRsa(good());
    const res = await check(bearer(token));
    const headers = assertAllow(res);
    assert.equal(headers['x-jwt-principal'], 'alice');
    assert.equal(headers['x-forwarded-access-token'], token);
    assert.equal(res.dynamic_metadata?.fields?.['provider']?.stringValue, 'corp');
    assert.equal(res.dynamic_metadata?.fields?.['principal']?.stringValue, 'alice@example.com');
  });

  it('overwrites a client-sent x-jwt-principal instead of letting it reach upstream', async () => {
    const token = await signRsa(good());
    const res = await check(checkRequest({ authorization: `Bearer ${token}`, 'x-jwt-principal': 'admin' }));
    assert.equal(assertAllow(res)['x-jwt-principal'], 'alice');
  });

  it('reads the token from header_map when Envoy sends raw headers', async () => {
    const token = await signRsa(good());
    const res = await check(rawHeaderRequest([[':path', '/'], ['authorization', `Bearer ${token}`]]));
    assert.equal(assertAllow(res)['x-jwt-principal'], 'alice');
  });

  it('accepts the scheme in any letter case and trims the token like Java', async () => {
    const token = await signRsa(good());
    assertAllow(await check(checkRequest({ authorization: `bEaReR    ${token}   ` })));
  });

  it('denies with 401 missing_token and a bare challenge when no token is sent', async () => {
    const res = await check(checkRequest({}));
    const body = assertDeny(res, 'missing_token');
    assert.equal(body['error'], 'unauthorized');
    const challenge = res.denied_response?.headers?.find((h) => h.header?.key === 'www-authenticate')?.header?.value;
    assert.equal(challenge, 'Bearer realm="jwt-ext-authz"');
  });

  it('treats a Basic authorization header as no token', async () => {
    assertDeny(await check(checkRequest({ authorization: 'Basic YWxpY2U6cHc=' })), 'missing_token');
  });

  it('denies with malformed_token for two authorization headers in header_map', async () => {
    const token = await signRsa(good());
    assertDeny(await check(rawHeaderRequest([['authorization', `Bearer ${token}`], ['authorization', `Bearer ${token}`]])), 'malformed_token');
  });

  it('denies with malformed_token and an invalid_token challenge for a comma-joined authorization value', async () => {
    const token = await signRsa(good());
    const res = await check(checkRequest({ authorization: `Bearer ${token},Bearer ${token}` }));
    assert.equal(assertDeny(res, 'malformed_token')['error'], 'invalid_token');
    const challenge = res.denied_response?.headers?.find((h) => h.header?.key === 'www-authenticate')?.header?.value;
    assert.match(challenge ?? '', /error="invalid_token", error_description="malformed_token"/);
  });

  it('removes underscore look-alikes of the identity headers on allow', async () => {
    const res = await check(bearer(await signRsa(good())));
    assertAllow(res);
    assert.ok(res.ok_response?.headers_to_remove?.includes('x_jwt_principal'));
  });

  for (const [name, token] of [
    ['one part', 'abc'],
    ['two parts', 'abc.def'],
    ['a header that is not JSON', `${Buffer.from('nope').toString('base64url')}.e30.c2ln`],
    ['a payload that is a JSON array', rawToken({ alg: 'RS256' }, [1, 2])],
    ['a non-base64url payload', `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.e3!0.c2ln`],
  ] as const) {
    it(`denies with malformed_token for ${name}`, async () => {
      const res = await check(bearer(token));
      const body = assertDeny(res, 'malformed_token');
      assert.equal(body['error'], 'invalid_token');
      const challenge = res.denied_response?.headers?.find((h) => h.header?.key === 'www-authenticate')?.header?.value;
      assert.equal(challenge, 'Bearer realm="jwt-ext-authz", error="invalid_token", error_description="malformed_token"');
    });
  }

  it('denies with token_too_large without parsing a token over max-bytes', async () => {
    assertDeny(await check(bearer(`${'a'.repeat(9000)}.b.c`)), 'token_too_large');
  });

  it('denies with encrypted_token for a five-part JWE', async () => {
    assertDeny(await check(bearer('eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y2lwaGVy.dGFn')), 'encrypted_token');
  });

  for (const [name, header] of [
    ['alg none', { alg: 'none' }],
    ['alg NoNe in another case', { alg: 'NoNe' }],
    ['a missing alg', { typ: 'JWT' }],
    ['an unknown alg', { alg: 'XX999' }],
  ] as const) {
    it(`denies with algorithm_not_allowed for ${name}`, async () => {
      assertDeny(await check(bearer(rawToken(header, good()))), 'algorithm_not_allowed');
    });
  }

  it('denies with algorithm_not_allowed an HS256 token signed with the RSA public key (key confusion)', async () => {
    const pem = keys.rsa.publicKey.export({ type: 'spki', format: 'pem' });
    const token = await sign(good(), Buffer.from(pem), { alg: 'HS256' });
    assertDeny(await check(bearer(token)), 'algorithm_not_allowed');
  });

  it('denies with algorithm_not_allowed an RS256 token for an HMAC provider', async () => {
    assertDeny(await check(bearer(await signRsa(good({ iss: 'https://hmac.test/' })))), 'algorithm_not_allowed');
  });

  it('denies with algorithm_not_allowed an alg outside the provider allow-list', async () => {
    const token = await signRsa(good({ iss: 'https://strict.test/', preferred_username: 'x' }));
    assertDeny(await check(bearer(token)), 'algorithm_not_allowed');
  });

  it('allows an HS256 token with the HMAC file key', async () => {
    const token = await sign({ iss: 'https://hmac.test/', sub: 'svc', exp: nowSeconds() + 60 }, keys.hmac);
    assert.equal(assertAllow(await check(bearer(token)))['x-jwt-principal'], 'svc');
  });

  it('denies with untrusted_issuer a token whose issuer no provider has', async () => {
    assertDeny(await check(bearer(await signRsa(good({ iss: 'https://evil.test/' })))), 'untrusted_issuer');
  });

  it('denies with invalid_signature a token with a tampered payload', async () => {
    const token = await signRsa(good());
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify(good({ sub: 'root@example.com' }))).toString('base64url')}.${s}`;
    assertDeny(await check(bearer(forged)), 'invalid_signature');
  });

  it('denies with invalid_signature a token with an empty signature', async () => {
    const token = await signRsa(good());
    assertDeny(await check(bearer(`${token.slice(0, token.lastIndexOf('.'))}.`)), 'invalid_signature');
  });

  it('denies with 401 expired when exp has passed beyond the clock skew', async () => {
    assertDeny(await check(bearer(await signRsa(good({ exp: nowSeconds() - 120 })))), 'expired');
  });

  it('allows a token expired for less than the clock skew', async () => {
    assertAllow(await check(bearer(await signRsa(good({ exp: nowSeconds() - 5 })))));
  });

  it('denies with not_yet_valid when nbf is beyond the clock skew', async () => {
    assertDeny(await check(bearer(await signRsa(good({ nbf: nowSeconds() + 600 })))), 'not_yet_valid');
  });

  it('reports the signature failure before expiry, as Trino does', async () => {
    const token = await signRsa(good({ exp: nowSeconds() - 3600 }));
    assertDeny(await check(bearer(`${token.slice(0, -4)}AAAA`)), 'invalid_signature');
  });

  it('denies with audience_mismatch a token for another audience', async () => {
    assertDeny(await check(bearer(await signRsa(good({ aud: 'presto' })))), 'audience_mismatch');
  });

  it('allows when any required audience is in an aud array', async () => {
    assertAllow(await check(bearer(await signRsa(good({ aud: ['x', 'other'] })))));
  });

  it('denies with audience_mismatch a token without aud when one is required', async () => {
    const { aud: _drop, ...rest } = good();
    assertDeny(await check(bearer(await signRsa(rest))), 'audience_mismatch');
  });

  for (const [name, claims] of [
    ['exp is a string', { exp: 'tomorrow' }],
    ['sub is a number', { sub: 123 }],
    ['aud is a number', { aud: 42 }],
    ['exp is null', { exp: null }],
    ['nbf is null', { nbf: null }],
    ['iat is null', { iat: null }],
  ] as const) {
    it(`denies with invalid_claims when ${name}`, async () => {
      assertDeny(await check(bearer(await signRsa({ ...good(), ...claims } as unknown as JWTPayload))), 'invalid_claims');
    });
  }

  it('denies with principal_missing when the principal claim is absent or empty', async () => {
    assertDeny(await check(bearer(await signRsa(good({ sub: '' })))), 'principal_missing');
    assertDeny(await check(bearer(await signRsa(good({ sub: '  ' })))), 'principal_missing');
    const token = await signRsa({ iss: 'https://strict.test/', sub: 'x' }, { alg: 'RS384' });
    assertDeny(await check(bearer(token)), 'principal_missing');
  });

  it('denies with 403 user_mapping_failed when the pattern does not match the principal', async () => {
    assertDeny(await check(bearer(await signRsa(good({ sub: 'bob@elsewhere.org' })))), 'user_mapping_failed', 403, 7);
  });

  describe('a mapped user that no header can carry', () => {
    // The pattern matches line breaks too, so the user reaches the header-value check.
    const ctl = async (sub: string) => check(bearer(await signRsa({ iss: 'https://ctl.test/', sub, exp: nowSeconds() + 600 })));
    it('maps a plain principal through the same rule', async () => {
      assert.equal(assertAllow(await ctl('alice@example.com'))['x-jwt-principal'], 'alice');
    });
    for (const [name, sub] of [
      ['a CR', 'ali\rce@example.com'],
      ['an LF', 'ali\nce@example.com'],
      ['a NUL', 'ali\u0000ce@example.com'],
      ['a CRLF that would inject a header', 'alice\r\nx-admin: true@example.com'],
    ] as const) {
      it(`denies with 403 user_mapping_failed a user holding ${name}`, async () => {
        const body = assertDeny(await ctl(sub), 'user_mapping_failed', 403, 7);
        assert.match(body['message'] ?? '', /control characters/);
      });
    }
  });

  describe('Trino docs user-mapping example (rule file)', () => {
    const docs = async (sub: string) => check(bearer(await sign({ iss: 'https://docs.test/', sub }, keys.ec.privateKey)));
    for (const [sub, user] of [
      ['apple@example.com', 'apple'],
      ['apple@uk.example.com', 'apple_uk'],
      ['apple@de.example.com', 'apple_de'],
      ['test@uppercase.com', 'TEST'],
    ] as const) {
      it(`maps ${sub} to ${user}`, async () => {
        assert.equal(assertAllow(await docs(sub))['x-jwt-principal'], user);
      });
    }
    it('denies test@example.com with 403 user_not_allowed', async () => {
      const body = assertDeny(await docs('test@example.com'), 'user_not_allowed', 403, 7);
      assert.equal(body['error'], 'forbidden');
    });
    it('denies apple@unknown.com with 403 user_mapping_failed', async () => {
      assertDeny(await docs('apple@unknown.com'), 'user_mapping_failed', 403, 7);
    });
  });

  describe('per-kid key file template', () => {
    const tpl = (kid: string | undefined) => signRsa({ iss: 'https://tpl.test/', sub: 'svc' }, kid === undefined ? {} : { kid });
    it('verifies with the file named after the kid', async () => {
      assertAllow(await check(bearer(await tpl('k1'))));
    });
    it('denies with unknown_key when the kid has no file', async () => {
      assertDeny(await check(bearer(await tpl('k2'))), 'unknown_key');
    });
    it('denies with unknown_key for a hostile kid ../../etc/passwd without leaving the key folder', async () => {
      // ../outside/k1 would reach a real key if the kid were not sanitised.
      writeKey(join(t.dir, 'outside'), 'k1.pem', keys.rsa.publicKey);
      assertDeny(await check(bearer(await tpl('../outside/k1'))), 'unknown_key');
      assertDeny(await check(bearer(await tpl('../../etc/passwd'))), 'unknown_key');
    });
    it('uses default-key for a token without kid', async () => {
      assertDeny(await check(bearer(await tpl(undefined))), 'unknown_key');
      writeKey(join(t.dir, 'keys'), 'default-key.pem', keys.rsa.publicKey);
      assertAllow(await check(bearer(await tpl(undefined))));
    });
  });

  describe('per-route settings', () => {
    it('denies with issuer_mismatch a token from a provider the route does not allow', async () => {
      assertDeny(await check(bearer(await signRsa(good()), { 'jwt.providers': 'hmac,docs' })), 'issuer_mismatch');
    });
    it('allows a missing token on an allow-missing route and removes every identity header', async () => {
      const res = await check(checkRequest({ 'x-jwt-principal': 'admin' }, { context: { 'jwt.allow-missing': 'true' } }));
      assertAllow(res);
      // And any Authorization header (SPEC §14): no token came from it, so nobody checked it.
      assert.deepEqual(res.ok_response?.headers_to_remove, ['x-jwt-principal', 'x-forwarded-access-token', 'x_jwt_principal', 'x_forwarded_access_token', 'authorization']);
    });
    it('still denies a bad token on an allow-missing route', async () => {
      assertDeny(await check(checkRequest({ authorization: 'Bearer abc' }, { context: { 'jwt.allow-missing': 'true' } })), 'malformed_token');
    });
  });

  it('never writes a sent token to the log', () => {
    const all = capturedLogs.join('');
    assert.ok(all.includes('check denied'), 'deny lines were logged');
    for (const token of sent) assert.ok(!all.includes(token), 'a token appeared in the log');
  });
});
