import type { ReadinessReport } from '../admin/http.js';
import { policyReady } from '../authz/key-lifecycle.js';
import type { Policy } from '../authz/policy.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * /readyz detail: one entry per provider. A discovery-backed one also shows the document, the
 * issuer it named, the jwks_uri in use and why the last reading failed (SPEC §13); URLs are host
 * and path only.
 */
export function readinessOf(policy: Policy): ReadinessReport {
  const providers: Record<string, unknown> = {};
  for (const p of policy.providers) {
    const j = p.jwks;
    if (j === undefined) {
      providers[p.name] = { ready: true, source: 'file' };
      continue;
    }
    const keys = { ready: j.ready, stale: j.stale, lastSuccess: iso(j.lastSuccessAt) };
    const d = j.discovery;
    providers[p.name] = d === undefined
      ? { ready: keys.ready, stale: keys.stale, source: 'jwks', lastSuccess: keys.lastSuccess }
      : {
          ...keys,
          source: 'discovery',
          discovery: { document: d.document, issuer: d.issuer ?? null, jwksUri: d.jwksUri ?? null, lastSuccess: iso(d.lastSuccessAt), error: d.error ?? null },
        };
  }
  return { ready: policyReady(policy), providers };
}
