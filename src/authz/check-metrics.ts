import { performance } from 'node:perf_hooks';
import { batchedObserver, CHECK_DURATION_BUCKETS, type Metrics, type Transport } from '../metrics/metrics.js';
import type { CacheStats } from './cache.js';

/** What the check pipeline counts for one transport (SPEC §7, §12). */
export interface TransportMetrics {
  /** `startedMs`: `checkStart()` when the check began. */
  allowed(startedMs: number): void;
  denied(reason: string, provider: string, startedMs: number): void;
  /** A would-be deny answered as an allow under report-only: an allow, counted apart (SPEC §14). */
  reportedOnly(reason: string, provider: string, startedMs: number): void;
}

/** A check's start, for its duration: monotonic milliseconds (a double, not a BigInt per check). */
export const checkStart = (): number => performance.now();

/** With prom-client's labelled children resolved once, per transport. */
export interface CheckMetrics {
  readonly grpc: TransportMetrics;
  readonly http: TransportMetrics;
  readonly cacheStats: CacheStats;
}

const QUIET: TransportMetrics = { allowed: () => undefined, denied: () => undefined, reportedOnly: () => undefined };
const NONE: CheckMetrics = { grpc: QUIET, http: QUIET, cacheStats: {} };

const secondsSince = (startedMs: number): number => (performance.now() - startedMs) / 1000;

/** A count kept in a plain number and handed to its prom-client child when metrics are read. */
class Pending {
  n = 0;
  constructor(private readonly child: { inc(value: number): void }) {}
  flush(): void {
    if (this.n === 0) return;
    this.child.inc(this.n);
    this.n = 0;
  }
}

export function createCheckMetrics(metrics: Metrics | undefined): CheckMetrics {
  if (metrics === undefined) return NONE;
  // prom-client validates and hashes labels on every inc: the decisions and cache lookups of the
  // hot path are counted here and handed over when metrics are read (Metrics.onCollect).
  const pending: Pending[] = [];
  const counted = (child: { inc(value: number): void }): Pending => {
    const p = new Pending(child);
    pending.push(p);
    return p;
  };
  metrics.onCollect(() => {
    for (const p of pending) p.flush();
  });
  const hit = counted(metrics.cacheLookups.labels('hit'));
  const miss = counted(metrics.cacheLookups.labels('miss'));
  // Provider names come from the config, reasons from the table: this stays small.
  const byReason = (counter: Metrics['rejections']) => {
    const children = new Map<string, { inc(): void }>();
    return (reason: string, provider: string): { inc(): void } => {
      const key = `${reason}\0${provider}`;
      let child = children.get(key);
      if (child === undefined) {
        child = counter.labels(reason, provider);
        children.set(key, child);
      }
      return child;
    };
  };
  const rejection = byReason(metrics.rejections);
  const reportOnly = byReason(metrics.reportOnlyDenials);
  const of = (transport: Transport): TransportMetrics => {
    const allow = counted(metrics.checks.labels('allow', transport));
    const deny = counted(metrics.checks.labels('deny', transport));
    const allowDuration = batchedObserver(metrics.checkDuration, CHECK_DURATION_BUCKETS, { decision: 'allow', transport }, metrics.onCollect);
    const denyDuration = batchedObserver(metrics.checkDuration, CHECK_DURATION_BUCKETS, { decision: 'deny', transport }, metrics.onCollect);
    return {
      allowed(startedMs) {
        allow.n++;
        allowDuration.observe(secondsSince(startedMs));
      },
      denied(reason, provider, startedMs) {
        rejection(reason, provider).inc();
        deny.n++;
        denyDuration.observe(secondsSince(startedMs));
      },
      reportedOnly(reason, provider, startedMs) {
        reportOnly(reason, provider).inc();
        allow.n++;
        allowDuration.observe(secondsSince(startedMs));
      },
    };
  };
  return {
    grpc: of('grpc'),
    http: of('http'),
    cacheStats: {
      onLookup: (isHit) => {
        (isHit ? hit : miss).n++;
      },
    },
  };
}
