import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import { checkClaims, type ClaimRules } from '../../src/token/claims.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const rules = (o: Partial<ClaimRules> = {}): ClaimRules =>
  ({ requiredIssuer: undefined, requiredAudience: [], clockSkewMs: 0, requireExpiration: false, maxLifetimeMs: undefined, ...o });

const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;
const reasonOf = (payload: Record<string, unknown>, r: ClaimRules): string | undefined => checkClaims(payload, r, NOW_MS)?.reason;

describe('lifetime limits per provider (SPEC §13)', () => {
  let svc: TestService;
  const { ec } = testKeys();

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'k.pem', ec.publicKey);
    svc = await startTestService(`providers:
  - name: strict
    key-file: k.pem
    required-issuer: https://strict.test/
    require-expiration: true
    max-lifetime: 1h
  - name: lax
    key-file: k.pem
    required-issuer: https://lax.test/
`, { dir });
  });
  after(() => svc.close());

  const check = async (payload: Record<string, unknown>) => svc.client.check(bearer(await sign(payload, ec.privateKey)));

  it('allows a token within max-lifetime that has exp and iat', async () => {
    const iat = nowSeconds();
    assertAllow(await check({ iss: 'https://strict.test/', sub: 'alice', iat, exp: iat + 3600 }));
  });

  it('denies with 401 invalid_claims when max-lifetime is exceeded', async () => {
    const iat = nowSeconds();
    const body = assertDeny(await check({ iss: 'https://strict.test/', sub: 'alice', iat, exp: iat + 3601 }), 'invalid_claims', 401, 16);
    assert.match(body['message'] ?? '', /longer than max-lifetime/);
  });

  it('denies with 401 invalid_claims when require-expiration is set and the token has no exp', async () => {
    const body = assertDeny(await check({ iss: 'https://strict.test/', sub: 'alice', iat: nowSeconds() }), 'invalid_claims', 401, 16);
    assert.match(body['message'] ?? '', /no exp claim/);
  });

  it('denies with 401 invalid_claims when max-lifetime is set and iat lies in the future (a long-lived token with a late iat)', async () => {
    const iat = nowSeconds() + 86_400 * 365;
    const body = assertDeny(await check({ iss: 'https://strict.test/', sub: 'alice', iat, exp: iat + 3600 }), 'invalid_claims', 401, 16);
    assert.match(body['message'] ?? '', /iat is in the future/);
  });

  it('denies with 401 invalid_claims when max-lifetime is set and the token has no iat', async () => {
    const body = assertDeny(await check({ iss: 'https://strict.test/', sub: 'alice', exp: nowSeconds() + 60 }), 'invalid_claims', 401, 16);
    assert.match(body['message'] ?? '', /lacks exp or iat/);
  });

  it('leaves another provider without the limits alone: no exp, a ten-year lifetime, both allowed', async () => {
    assertAllow(await check({ iss: 'https://lax.test/', sub: 'alice' }));
    const iat = nowSeconds();
    assertAllow(await check({ iss: 'https://lax.test/', sub: 'alice', iat, exp: iat + 10 * 365 * 86400 }));
  });

  it('still answers expired for an expired token that is also too long-lived', async () => {
    const iat = nowSeconds() - 10 * 3600;
    assertDeny(await check({ iss: 'https://strict.test/', sub: 'alice', iat, exp: iat + 2 * 3600 }), 'expired');
  });
});

test('max-lifetime compares exp - iat exactly, without clock skew, fractions included', () => {
  const r = rules({ maxLifetimeMs: 3_600_000, clockSkewMs: 60_000 });
  assert.equal(reasonOf({ iat: NOW, exp: NOW + 3600 }, r), undefined);
  assert.equal(reasonOf({ iat: NOW, exp: NOW + 3600.5 }, r), 'invalid_claims');
  assert.equal(reasonOf({ iat: NOW + 0.5, exp: NOW + 3600.5 }, r), undefined);
  // An iat in the future is refused beyond the clock skew (a late iat would hide a long life).
  assert.equal(reasonOf({ iat: NOW + 60, exp: NOW + 200 }, r), undefined);
  assert.equal(reasonOf({ iat: NOW + 100, exp: NOW + 200 }, r), 'invalid_claims');
  assert.equal(reasonOf({ exp: NOW + 10 }, r), 'invalid_claims');
  assert.equal(reasonOf({ iat: NOW }, r), 'invalid_claims');
  // A null iat is a type error first, as before.
  assert.equal(reasonOf({ iat: null, exp: NOW + 10 }, r), 'invalid_claims');
});

test('require-expiration only asks for exp; without it a token without exp never expires (as in Trino)', () => {
  assert.equal(reasonOf({}, rules({ requireExpiration: true })), 'invalid_claims');
  assert.equal(reasonOf({ exp: NOW + 1 }, rules({ requireExpiration: true })), undefined);
  assert.equal(reasonOf({}, rules()), undefined);
});
