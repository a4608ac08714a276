import type { Policy, PolicyHooks } from '../authz/policy.js';
import { keyLocation } from '../config/key-location.js';
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
        } else if (e.step === 'discovery') {
          logger.warn({ provider, trigger: e.trigger, error: e.error }, 'discovery document failed or refused; keeping the last accepted jwks_uri and key set');
        } else {
          logger.warn({ provider, trigger: e.trigger, error: e.error }, 'key set fetch failed; keeping the last good set');
        }
      },
      onDiscovered: (e) => logger.info({ provider, issuer: e.issuer, jwksUri: e.jwksUri, previous: e.previous },
        e.previous === undefined ? 'discovery document accepted' : 'discovery document names a new jwks_uri; following it'),
      onSkippedKey: (e) => logger.warn({ provider, kid: e.kid, why: e.why, more: e.more }, e.more === undefined ? 'JWKS key skipped' : 'more JWKS keys skipped'),
    }),
    onKeyFileReload(provider, path, keys) {
      metrics.keyFetches.inc({ provider, result: 'success', trigger: 'file_change' });
      metrics.keyFetchLastSuccess.set({ provider }, Date.now() / 1000);
      if (keys !== undefined) metrics.keysLoaded.set({ provider }, keys);
      logger.info({ provider, path, keys }, 'key file reloaded');
    },
    onKeyFileSkippedKey: (provider, path, e) =>
      logger.warn({ provider, path, kid: e.kid, why: e.why, more: e.more }, e.more === undefined ? 'key file key skipped' : 'more key file keys skipped'),
    onKeyFileError(provider, path, message) {
      metrics.keyFetches.inc({ provider, result: 'failure', trigger: 'file_change' });
      logger.warn({ provider, path, error: message }, 'key file change rejected; keeping the old key');
    },
  };
}

/** Metrics and warnings for the providers of a new service: file keys count as fetched at start. */
export function seedKeyMetrics(policy: Policy, metrics: Metrics, logger: Logger): void {
  for (const p of policy.providers) {
    const location = keyLocation(p.config);
    if (p.jwks === undefined) {
      metrics.keyFetches.inc({ provider: p.name, result: 'success', trigger: 'startup' });
      metrics.keyFetchLastSuccess.set({ provider: p.name }, Date.now() / 1000);
      // A static key file holds its keys now; a ${KID} template loads keys on demand.
      if (location?.kind !== 'file' || !isKeyTemplate(location.path)) metrics.keysLoaded.set({ provider: p.name }, p.keys.size ?? 1);
    } else if (location !== undefined && location.kind !== 'file' && location.url.startsWith('http://')) {
      logger.warn({ provider: p.name }, location.kind === 'discovery'
        ? 'the discovery document is fetched over plain http://; use https:// in production'
        : 'JWKS is fetched over plain http://; use https:// in production');
    }
  }
}
