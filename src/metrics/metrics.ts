import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REASON_CODES } from '../reasons.js';

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
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
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
