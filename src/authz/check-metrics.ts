import type { Metrics } from '../metrics/metrics.js';
import type { CacheStats } from './cache.js';

/** What the check pipeline counts (SPEC §7), with prom-client's labelled children resolved once. */
export interface CheckMetrics {
  allowed(startedNs: bigint): void;
  denied(reason: string, provider: string, startedNs: bigint): void;
  readonly cacheStats: CacheStats;
}

const NONE: CheckMetrics = { allowed: () => undefined, denied: () => undefined, cacheStats: {} };

const secondsSince = (startedNs: bigint): number => Number(process.hrtime.bigint() - startedNs) / 1e9;

export function createCheckMetrics(metrics: Metrics | undefined): CheckMetrics {
  if (metrics === undefined) return NONE;
  // Resolved once: the hot path then skips prom-client's label hashing.
  const allow = metrics.checks.labels('allow');
  const deny = metrics.checks.labels('deny');
  const allowDuration = metrics.checkDuration.labels('allow');
  const denyDuration = metrics.checkDuration.labels('deny');
  const hit = metrics.cacheLookups.labels('hit');
  const miss = metrics.cacheLookups.labels('miss');
  // Provider names come from the config, reasons from the table: this stays small.
  const rejections = new Map<string, { inc(): void }>();
  return {
    allowed(startedNs) {
      allow.inc();
      allowDuration.observe(secondsSince(startedNs));
    },
    denied(reason, provider, startedNs) {
      const key = `${reason}\0${provider}`;
      let child = rejections.get(key);
      if (child === undefined) {
        child = metrics.rejections.labels(reason, provider);
        rejections.set(key, child);
      }
      child.inc();
      deny.inc();
      denyDuration.observe(secondsSince(startedNs));
    },
    cacheStats: { onLookup: (isHit) => (isHit ? hit : miss).inc() },
  };
}
