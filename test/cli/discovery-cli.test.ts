import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { idpKey, startIdp, WELL_KNOWN, type IdpKey, type TestIdp } from '../helpers/idp.js';
import { runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/service.js';

describe('verify and validate-config with OIDC discovery (SPEC §13)', () => {
  let idp: TestIdp;
  let key: IdpKey;
  before(async () => {
    idp = await startIdp();
    key = idpKey('k1');
    idp.keys([key]);
  });
  after(() => idp.close());

  const config = (yaml: string): string => {
    const file = join(tempDir(), 'c.yaml');
    writeFileSync(file, yaml);
    return file;
  };
  const byIssuer = () => config(`providers:
  - name: corp
    discovery: true
    required-issuer: ${idp.issuer}
    jwks: { ca-file: ${idp.caFile} }
`);

  it('verify shows the discovery document\'s issuer and the jwks_uri it used', async () => {
    const res = await runCli(['verify', '--config', byIssuer(), '--token', await idp.token(key)]);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as Record<string, unknown>;
    assert.equal(out['decision'], 'allow');
    assert.equal(out['provider'], 'corp');
    assert.deepEqual(out['discovery'], { document: `${idp.issuer}${WELL_KNOWN}`, issuer: idp.issuer, jwksUri: `${idp.server.url}/realms/corp/certs` });
    assert.match(String(out['key']), /kid="k1" https:\/\/127\.0\.0\.1:\d+\/realms\/corp\/certs$/);
  });

  it('verify explains a refused discovery document: deny keys_unavailable, and why', async () => {
    idp.document({ issuer: 'https://impostor.example/' });
    try {
      const res = await runCli(['verify', '--config', byIssuer(), '--token', await idp.token(key)]);
      assert.equal(res.code, 1, res.stderr);
      const out = JSON.parse(res.stdout) as { reason: string; discovery: { issuer: unknown; jwksUri: unknown; error: string } };
      assert.equal(out.reason, 'keys_unavailable');
      assert.equal(out.discovery.issuer, null);
      assert.equal(out.discovery.jwksUri, null);
      assert.match(out.discovery.error, /names issuer "https:\/\/impostor\.example\/", not the required issuer/);
    } finally {
      idp.document({});
    }
  });

  it('validate-config reports discovery: true without required-issuer, with file, line and key, and exits 2', async () => {
    const file = config('providers:\n  - name: corp\n    discovery: true\n');
    const res = await runCli(['validate-config', '--config', file]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /c\.yaml:3: providers\[0\]\.discovery: OIDC discovery needs required-issuer/);
  });

  it('validate-config reports a discovery key-file URL without required-issuer, and discovery beside a key-file', async () => {
    const file = config(`providers:
  - name: a
    key-file: https://idp.example.com${WELL_KNOWN}
  - name: b
    discovery: true
    required-issuer: https://idp.example.com
    key-file: https://idp.example.com/certs
`);
    const res = await runCli(['validate-config', '--config', file]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /c\.yaml:3: providers\[0\]\.key-file: OIDC discovery needs required-issuer/);
    assert.match(res.stderr, /c\.yaml:7: providers\[1\]\.key-file: key-file and discovery: true are exclusive/);
  });

  it('validate-config prints a discovery provider without fetching anything', async () => {
    const before = idp.documentRequests();
    const res = await runCli(['validate-config', '--config', byIssuer()]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /discovery: true/);
    assert.equal(idp.documentRequests(), before);
  });
});
