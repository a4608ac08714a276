import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { idpKey, startIdp, type IdpKey, type TestIdp } from '../helpers/idp.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer } from '../helpers/requests.js';
import { eventually } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';

const O = 'http-server.authentication.oauth2';

describe('Trino OAuth 2.0 properties in the running service (SPEC §13)', () => {
  let idp: TestIdp;
  let key: IdpKey;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    idp = await startIdp();
    key = idpKey('k1');
    idp.keys([key]);
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    await idp.close();
  });

  /** The lines a coordinator's config.properties has for OAuth 2.0, plus the test CA. */
  async function start(lines: string, dir?: string): Promise<TestService> {
    const text = `http-server.authentication.type=oauth2
${O}.issuer=${idp.issuer}
${O}.client-secret=not-used-here
${O}.scopes=openid,profile
${O}.jwks.ca-file=${idp.caFile}
${lines}`;
    const t = await startTestService(text, { fileName: 'config.properties', ...(dir === undefined ? {} : { dir }) });
    closers.push(() => t.close());
    await eventually(() => t.service.ready(), 3000, 'ready');
    return t;
  }
  const check = async (t: TestService, claims: Record<string, unknown>) => t.client.check(bearer(await idp.token(key, claims)));

  it('accepts client-id as the audience; another audience or none is audience_mismatch', async () => {
    const t = await start(`${O}.client-id=trino\n`);
    assertAllow(await check(t, { aud: 'trino' }));
    assertAllow(await check(t, { aud: ['account', 'trino'] }));
    assertDeny(await check(t, { aud: 'account' }), 'audience_mismatch', 401, 16);
    // Trino lets a token without aud through unless require-audience=true; here it is refused.
    assertDeny(await check(t, { aud: undefined }), 'audience_mismatch', 401, 16);
    assert.equal(t.service.authorizer.policy.providers[0]?.name, 'oauth2');
  });

  it('accepts additional-audiences alone', async () => {
    const t = await start(`${O}.additional-audiences=trino-cli, trino-jdbc\n`);
    assertAllow(await check(t, { aud: 'trino-jdbc' }));
    assertAllow(await check(t, { aud: 'trino-cli' }));
    assertDeny(await check(t, { aud: 'trino' }), 'audience_mismatch');
  });

  it('accepts client-id and additional-audiences together, and the legacy audience name', async () => {
    const both = await start(`${O}.client-id=trino\n${O}.additional-audiences=trino-cli\n`);
    assertAllow(await check(both, { aud: 'trino' }));
    assertAllow(await check(both, { aud: 'trino-cli' }));
    assertDeny(await check(both, { aud: 'other' }), 'audience_mismatch');
    const legacy = await start(`${O}.client-id=trino\n${O}.audience=trino-cli\n`);
    assertAllow(await check(legacy, { aud: 'trino-cli' }));
    assertDeny(await check(legacy, { aud: 'other' }), 'audience_mismatch');
  });

  it('maps principal-field, user-mapping and max-clock-skew', async () => {
    const t = await start(`${O}.client-id=trino
${O}.principal-field=email
${O}.user-mapping.pattern=(.*)@example\\\\.com
${O}.max-clock-skew=0s
`);
    const res = assertAllow(await check(t, { email: 'bob@example.com' }));
    assert.equal(res['x-jwt-principal'], 'bob');
    assertDeny(await check(t, { email: 'bob@elsewhere.com' }), 'user_mapping_failed', 403, 7);
    assertDeny(await check(t, { email: undefined }), 'principal_missing');
    // No skew: expired 5 s ago is expired (the global default would allow 60 s).
    assertDeny(await check(t, { email: 'bob@example.com', exp: nowSeconds() - 5 }), 'expired');
  });

  it('makes two providers of JWT and OAuth 2.0 lines in one file, each picked by its issuer', async () => {
    const dir = tempDir();
    const { ec } = testKeys();
    writeKey(dir, 'ci.pem', ec.publicKey);
    const t = await start(`${O}.client-id=trino
http-server.authentication.jwt.key-file=ci.pem
http-server.authentication.jwt.required-issuer=https://ci.example.com/
`, dir);
    assert.deepEqual(t.service.authorizer.policy.providers.map((p) => p.name), ['default', 'oauth2']);
    assertAllow(await check(t, { aud: 'trino' }));
    assertAllow(await t.client.check(bearer(await sign({ iss: 'https://ci.example.com/', sub: 'robot', exp: nowSeconds() + 60 }, ec.privateKey))));
    assertDeny(await t.client.check(bearer(await sign({ iss: 'https://elsewhere.example/', sub: 'x' }, ec.privateKey))), 'untrusted_issuer');
    assert.ok(t.logs.length > 0);
  });
});
