import type { ReadinessReport } from '../admin/http.js';
import { policyReady } from '../authz/key-lifecycle.js';
import type { Policy } from '../authz/policy.js';

/** /readyz detail: one entry per provider. */
export function readinessOf(policy: Policy): ReadinessReport {
  const providers: Record<string, unknown> = {};
  for (const p of policy.providers) {
    const j = p.jwks;
    providers[p.name] =
      j === undefined
        ? { ready: true, source: 'file' }
        : { ready: j.ready, stale: j.stale, source: 'jwks', lastSuccess: j.lastSuccessAt === undefined ? null : new Date(j.lastSuccessAt).toISOString() };
  }
  return { ready: policyReady(policy), providers };
}
