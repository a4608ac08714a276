import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REASON_CODES } from '../reasons.js';
import { isObject } from '../util/strings.js';

/** Every metric family of SPEC §7, on a registry of our own. */
export interface Metrics {
  readonly registry: Registry;
  readonly checks: Counter<'decision' | 'transport'>;
  readonly rejections: Counter<'reason' | 'provider'>;
  /** Would-be denies answered as allows under report-only (SPEC §14); not in `rejections`. */
  readonly reportOnlyDenials: Counter<'reason' | 'provider'>;
  readonly checkDuration: Histogram<'decision' | 'transport'>;
  readonly keyFetches: Counter<'provider' | 'result' | 'trigger'>;
  readonly keyFetchDuration: Histogram<'provider'>;
  readonly keysLoaded: Gauge<'provider'>;
  readonly keyFetchLastSuccess: Gauge<'provider'>;
  readonly cacheLookups: Counter<'result'>;
  readonly configReloads: Counter<'result'>;
  /**
   * Registers `flush`, run before `checks` and `cacheLookups` are read (a scrape, or a worker's
   * answer to the primary): the hot path counts in plain numbers and hands them over then,
   * since prom-client validates and hashes labels on every `inc`.
   */
  onCollect(flush: () => void): void;
}

/** How a check arrived: Envoy's gRPC Check, or the HTTP mode (SPEC §12). */
export const TRANSPORTS = ['grpc', 'http'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const METRIC_NAMES = [
  'jwt_ext_authz_checks_total',
  'jwt_ext_authz_rejections_total',
  'jwt_ext_authz_check_duration_seconds',
  'jwt_ext_authz_key_fetches_total',
  'jwt_ext_authz_key_fetch_duration_seconds',
  'jwt_ext_authz_keys_loaded',
  'jwt_ext_authz_key_fetch_last_success_timestamp_seconds',
  'jwt_ext_authz_token_cache_lookups_total',
  'jwt_ext_authz_config_reloads_total',
  'jwt_ext_authz_report_only_denials_total',
] as const;

export const CHECK_DURATION_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Observations of one labelled histogram series, taken on the hot path. */
export interface Observer {
  observe(value: number): void;
  /** False when prom-client's observe runs per value (the fallback). */
  readonly batched: boolean;
}

/** prom-client's per-series record inside a Histogram (not in its typings; checked at run time). */
interface SeriesRecord {
  labels: Record<string, string>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

function seriesRecord(histogram: Histogram<string>, labels: Readonly<Record<string, string>>): SeriesRecord | undefined {
  const hashMap: unknown = Reflect.get(histogram, 'hashMap');
  if (!isObject(hashMap)) return undefined;
  for (const record of Object.values(hashMap)) {
    if (!isObject(record) || !isObject(record['labels']) || !isObject(record['bucketValues'])) continue;
    if (typeof record['sum'] !== 'number' || typeof record['count'] !== 'number') continue;
    const own = record['labels'];
    if (Object.keys(own).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => own[k] === v)) {
      return record as unknown as SeriesRecord;
    }
  }
  return undefined;
}

/**
 * One histogram series observed in plain numbers and added to prom-client's record of it when
 * metrics are read (`onCollect`): prom-client's own `observe` validates and hashes the labels
 * on every call, about a microsecond per check. Should prom-client ever keep its series
 * differently, this falls back to its `observe` per value (`batched` false; a test notices).
 */
export function batchedObserver(
  histogram: Histogram<string>,
  buckets: readonly number[],
  labels: Readonly<Record<string, string>>,
  onCollect: (flush: () => void) => void,
): Observer {
  histogram.zero(labels);
  if (seriesRecord(histogram, labels) === undefined) {
    const child = histogram.labels(labels);
    return { observe: (value) => child.observe(value), batched: false };
  }
  const counts = new Float64Array(buckets.length);
  let sum = 0;
  let n = 0;
  onCollect(() => {
    if (n === 0) return;
    const record = seriesRecord(histogram, labels);
    if (record !== undefined) {
      record.sum += sum;
      record.count += n;
      for (let i = 0; i < buckets.length; i++) {
        const key = String(buckets[i]);
        if (counts[i] !== 0 && key in record.bucketValues) record.bucketValues[key] = (record.bucketValues[key] ?? 0) + (counts[i] ?? 0);
      }
    }
    counts.fill(0);
    sum = 0;
    n = 0;
  });
  return {
    batched: true,
    observe(value) {
      // As prom-client: the first bucket whose upper bound holds the value (none: +Inf only).
      for (let i = 0; i < buckets.length; i++) {
        if (value <= (buckets[i] ?? 0)) {
          counts[i] = (counts[i] ?? 0) + 1;
          break;
        }
      }
      sum += value;
      n++;
    },
  };
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const flushers: (() => void)[] = [];
  const collect = (): void => {
    for (const flush of flushers) flush();
  };
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const m: Metrics = {
    registry,
    checks: new Counter({
      name: 'jwt_ext_authz_checks_total',
      help: 'Checks answered, by decision and transport (grpc, http).',
      labelNames: ['decision', 'transport'],
      registers,
      collect,
    }),
    rejections: new Counter({
      name: 'jwt_ext_authz_rejections_total',
      help: 'Denied checks, by reason code and provider ("" when no provider was chosen).',
      labelNames: ['reason', 'provider'],
      registers,
    }),
    checkDuration: new Histogram({
      name: 'jwt_ext_authz_check_duration_seconds',
      help: 'Time from request decoded to answer built, by decision and transport (grpc, http).',
      labelNames: ['decision', 'transport'],
      buckets: [...CHECK_DURATION_BUCKETS],
      registers,
      collect,
    }),
    keyFetches: new Counter({
      name: 'jwt_ext_authz_key_fetches_total',
      help: 'Key set loads, by provider, result and trigger.',
      labelNames: ['provider', 'result', 'trigger'],
      registers,
    }),
    keyFetchDuration: new Histogram({
      name: 'jwt_ext_authz_key_fetch_duration_seconds',
      help: 'Duration of JWKS fetches, by provider.',
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    // With workers each process holds the same key set: aggregate with max, not sum.
    keysLoaded: new Gauge({ name: 'jwt_ext_authz_keys_loaded', help: 'Usable keys in the current key set, by provider.', labelNames: ['provider'], registers, aggregator: 'max' }),
    keyFetchLastSuccess: new Gauge({
      name: 'jwt_ext_authz_key_fetch_last_success_timestamp_seconds',
      help: 'Unix time of the last successful key load, by provider.',
      labelNames: ['provider'],
      registers,
      aggregator: 'max',
    }),
    cacheLookups: new Counter({ name: 'jwt_ext_authz_token_cache_lookups_total', help: 'Verified-token cache lookups, by result.', labelNames: ['result'], registers, collect }),
    reportOnlyDenials: new Counter({
      name: 'jwt_ext_authz_report_only_denials_total',
      help: 'Checks report-only answered as allows that enforcing would deny, by reason code and provider ("" when no provider was chosen).',
      labelNames: ['reason', 'provider'],
      registers,
    }),
    configReloads: new Counter({ name: 'jwt_ext_authz_config_reloads_total', help: 'Configuration reloads, by result.', labelNames: ['result'], registers }),
    onCollect: (flush) => void flushers.push(flush),
  };
  // Every series a dashboard needs exists from startup, at 0 (SPEC §7).
  for (const decision of ['allow', 'deny']) for (const transport of TRANSPORTS) m.checks.inc({ decision, transport }, 0);
  for (const reason of REASON_CODES) m.rejections.inc({ reason, provider: '' }, 0);
  for (const reason of REASON_CODES) m.reportOnlyDenials.inc({ reason, provider: '' }, 0);
  for (const result of ['hit', 'miss']) m.cacheLookups.inc({ result }, 0);
  for (const result of ['success', 'failure']) m.configReloads.inc({ result }, 0);
  return m;
}
