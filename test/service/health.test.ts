import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { it } from 'node:test';
import { startHttpsServer } from '../helpers/https-server.js';
import { adminGet, grpcHealth } from '../helpers/scrape.js';
import { startTestService } from '../helpers/service.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';

it('says SERVING on grpc.health.v1 the moment /readyz says ready after a JWKS provider recovers', async (t) => {
  const idp = await startHttpsServer();
  t.after(() => idp.close());
  idp.setHandler(() => ({ destroy: true }));
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const service = await startTestService(`providers:
  - name: corp
    key-file: ${idp.url}/jwks.json
    jwks:
      ca-file: ${idp.caFile}
      timeout: 500ms
`);
  t.after(() => service.close());
  const admin = service.service.adminAddress ?? '';
  assert.equal((await adminGet(admin, '/readyz')).status, 503);
  assert.equal(await grpcHealth(service.service.grpcAddress, AUTHZ), 'NOT_SERVING');

  // The IdP comes back; the retry (1 s after the failed start) picks it up.
  idp.setHandler(() => ({ body: { keys: [{ ...key.export({ format: 'jwk' }), kid: 'k1' }] } }));
  const deadline = Date.now() + 5_000;
  while ((await adminGet(admin, '/readyz')).status !== 200) {
    assert.ok(Date.now() < deadline, 'ready within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
  // No waiting here: health is pushed when the key set lands, not polled.
  assert.equal(await grpcHealth(service.service.grpcAddress, AUTHZ), 'SERVING');
  assert.equal(await grpcHealth(service.service.grpcAddress, ''), 'SERVING');
});
