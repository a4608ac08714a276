import type { ReadinessReport } from './admin/http.js';
import { policyReady, type Policy, type PolicyHooks } from './authz/providers.js';
import type { Config } from './config/types.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics/metrics.js';

/** Key-load metrics and logs for every provider (SPEC §7). */
export function policyHooks(metrics: Metrics, logger: Logger): PolicyHooks {
  return {
    jwks: (provider) => ({
      onFetch(e) {
        metrics.keyFetches.inc({ provider, result: e.ok ? 'success' : 'failure', trigger: e.trigger });
        metrics.keyFetchDuration.observe({ provider }, e.durationSeconds);
        if (e.ok) {
          metrics.keysLoaded.set({ provider }, e.keysLoaded);
          metrics.keyFetchLastSuccess.set({ provider }, Date.now() / 1000);
          logger.info({ provider, trigger: e.trigger, keys: e.keysLoaded }, 'key set fetched');
        } else {
          logger.warn({ provider, trigger: e.trigger, error: e.error }, 'key set fetch failed; keeping the last good set');
        }
      },
      onSkippedKey: (e) => logger.warn({ provider, kid: e.kid, why: e.why, more: e.more }, e.more === undefined ? 'JWKS key skipped' : 'more JWKS keys skipped'),
    }),
    onKeyFileReload(provider, path) {
      metrics.keyFetches.inc({ provider, result: 'success', trigger: 'file_change' });
      metrics.keyFetchLastSuccess.set({ provider }, Date.now() / 1000);
      logger.info({ provider, path }, 'key file reloaded');
    },
    onKeyFileError(provider, path, message) {
      metrics.keyFetches.inc({ provider, result: 'failure', trigger: 'file_change' });
      logger.warn({ provider, path, error: message }, 'key file change rejected; keeping the old key');
    },
  };
}

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

/** Settings a running process cannot change: listeners and process count. */
export function restartOnlyChanges(old: Config, next: Config): string[] {
  const out: string[] = [];
  if (old.listen !== next.listen) out.push('listen');
  if (old.adminListen !== next.adminListen) out.push('admin-listen');
  if (old.workers !== next.workers) out.push('workers');
  if (JSON.stringify(old.tls) !== JSON.stringify(next.tls)) out.push('tls');
  return out;
}
