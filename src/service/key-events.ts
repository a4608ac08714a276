import type { Policy, PolicyHooks } from '../authz/policy.js';
import { isKeyTemplate } from '../keys/file-source.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';

/**
 * Key-load metrics and logs for every provider (SPEC §7). `onFetched` runs after every JWKS
 * fetch, when a provider may have become ready: health is pushed from there, not polled.
 */
export function policyHooks(metrics: Metrics, logger: Logger, onFetched: () => void = () => undefined): PolicyHooks {
  return {
    jwks: (provider) => ({
      onFetch(e) {
        onFetched();
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

/** Metrics and warnings for the providers of a new service: file keys count as fetched at start. */
export function seedKeyMetrics(policy: Policy, metrics: Metrics, logger: Logger): void {
  for (const p of policy.providers) {
    if (p.jwks === undefined) {
      metrics.keyFetches.inc({ provider: p.name, result: 'success', trigger: 'startup' });
      metrics.keyFetchLastSuccess.set({ provider: p.name }, Date.now() / 1000);
      // A static key file is one key; a ${KID} template loads keys on demand.
      if (!isKeyTemplate(p.config.keyFile)) metrics.keysLoaded.set({ provider: p.name }, 1);
    } else if (p.config.keyFile.startsWith('http://')) {
      logger.warn({ provider: p.name }, 'JWKS is fetched over plain http://; use https:// in production');
    }
  }
}
