import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { METRIC_NAMES } from '../../src/metrics/metrics.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { nowSeconds, sign, spkiPem } from '../helpers/keys.js';
import { bearer, checkRequest } from '../helpers/requests.js';
import { adminGet, eventually } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';
import { DEPLOY, type JsonObject, at, isObject, obj, objects, read, str, yamlDoc } from './support.js';

const RULES_FILE = join(DEPLOY, 'observability', 'prometheus-rules.yaml');
const DASHBOARD_FILE = join(DEPLOY, 'observability', 'grafana-dashboard.json');
const dashboard = obj(JSON.parse(read(DASHBOARD_FILE)) as unknown, 'dashboard');

const promtool = (args: string[]): { status: number | null; output: string } => {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
};

// ---------------------------------------------------------------- the rules file

interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

const alertRules: AlertRule[] = objects(at(yamlDoc(RULES_FILE), 'groups'), 'groups').flatMap((g) =>
  objects(g['rules'], 'rules').map((r) => ({
    alert: str(r['alert'], 'alert'),
    expr: str(r['expr'], 'expr'),
    labels: Object.fromEntries(Object.entries(obj(r['labels'] ?? {}, 'labels')).map(([k, v]) => [k, str(v, k)])),
    annotations: Object.fromEntries(Object.entries(obj(r['annotations'] ?? {}, 'annotations')).map(([k, v]) => [k, str(v, k)])),
  })));

// ---------------------------------------------------------------- the dashboard

interface Query {
  readonly where: string;
  readonly expr: string;
}

const panels = (): JsonObject[] => objects(dashboard['panels'], 'panels').flatMap((p) => [p, ...(Array.isArray(p['panels']) ? objects(p['panels'], 'row panels') : [])]);

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
const dashboardQueries = (): Query[] => [
  ...panels().flatMap((p) => (Array.isArray(p['targets']) ? objects(p['targets'], 'targets') : []).map((t) => ({
    where: `panel "${String(p['title'])}" ${String(t['refId'])}`,
    expr: str(t['expr'], 'expr'),
  }))),
  ...objects(at(dashboard, 'templating', 'list'), 'templating').filter((v) => v['type'] === 'query').map((v) => ({
    where: `variable ${String(v['name'])}`,
    expr: str(at(v, 'query', 'query'), 'variable query'),
  })),
];

/** Grafana's variables replaced by values PromQL accepts. */
const withoutGrafanaVariables = (expr: string): string =>
  expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, '.+');

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/** The metric names and label names an expression refers to (a small PromQL scanner, enough for these files). */
function references(query: string): { metrics: Set<string>; labels: Set<string> } {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  let expr = withoutGrafanaVariables(query);
  // Grafana's label_values(metric{...}, label).
  expr = expr.replace(/label_values\(\s*([^,]+),\s*(\w+)\s*\)/g, (_m, selector: string, label: string) => {
    labels.add(label);
    return selector;
  });
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const l of (m[1] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"/g)) labels.add(l[1] ?? '');
  }
  for (const m of expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const l of (m[1] ?? '').split(',')) if (l.trim() !== '') labels.add(l.trim());
  }
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  for (const m of bare.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const name = m[0];
    const next = bare.slice((m.index ?? 0) + name.length).trimStart()[0];
    if (next === '(' || KEYWORDS.has(name.toLowerCase())) continue;
    metrics.add(name);
  }
  return { metrics, labels };
}

// ---------------------------------------------------------------- a real service to scrape

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
}

function samples(text: string): Sample[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((line) => {
    const name = /^[a-zA-Z_:][\w:]*/.exec(line)?.[0] ?? '';
    const body = line.startsWith(`${name}{`) ? line.slice(name.length + 1, line.lastIndexOf('}')) : '';
    const labels: Record<string, string> = {};
    for (const m of body.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] ?? ''] = m[2] ?? '';
    return { name, labels };
  });
}

const signer = generateKeyPairSync('rsa', { modulusLength: 2048 });
let idp: TestServer | undefined;
let down: TestServer | undefined;
let service: TestService | undefined;
let scraped: Sample[] = [];
/** Temp folders of this file, removed at the end. */
const dirs: string[] = [];
const scratch = (prefix: string): string => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};

before(async () => {
  idp = await startHttpsServer({ tls: false });
  idp.setHandler(() => ({ body: { keys: [{ ...signer.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig' }] } }));
  down = await startHttpsServer({ tls: false });
  down.setHandler(() => ({ status: 500, body: 'IdP down' }));
  const dir = scratch('jwt-ext-authz-observability-');
  writeFileSync(join(dir, 'files.pem'), spkiPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
  // Three kinds of provider: a JWKS that loads, a JWKS that never loads, and a key file.
  service = await startTestService(`providers:
  - name: idp
    key-file: ${idp.url}/jwks.json
    required-issuer: https://idp.test/
  - name: down
    key-file: ${down.url}/jwks.json
    required-issuer: https://down.test/
    jwks: { timeout: 500ms }
  - name: files
    key-file: ${join(dir, 'files.pem')}
    required-issuer: https://files.test/
`, { dir });
  const admin = service.service.adminAddress ?? '';
  const scrape = async (): Promise<string> => (await adminGet(admin, '/metrics')).body;
  await eventually(async () => {
    const text = await scrape();
    return text.includes('jwt_ext_authz_key_fetch_duration_seconds_count{provider="idp"}')
      && text.includes('jwt_ext_authz_key_fetch_duration_seconds_count{provider="down"}');
  }, 5000, 'both JWKS fetched once');
  const token = await sign({ iss: 'https://idp.test/', sub: 'alice', exp: nowSeconds() + 300 }, signer.privateKey, { kid: 'k1' });
  assertAllow(await service.client.check(bearer(token)));
  assertAllow(await service.client.check(bearer(token)));
  assertDeny(await service.client.check(checkRequest({})), 'missing_token');
  scraped = samples(await scrape());
});

after(async () => {
  await service?.close();
  await idp?.close();
  await down?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Sample names → label names, from the real /metrics. */
const exposed = (): Map<string, Set<string>> => {
  const m = new Map<string, Set<string>>();
  for (const s of scraped) {
    const set = m.get(s.name) ?? new Set<string>();
    for (const l of Object.keys(s.labels)) set.add(l);
    m.set(s.name, set);
  }
  return m;
};

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

function assertUsesExposedSeries(q: Query): void {
  const names = exposed();
  const { metrics, labels } = references(q.expr);
  assert.ok(metrics.size > 0, `${q.where}: no metric in ${q.expr}`);
  const known = new Set<string>(TARGET_LABELS);
  for (const metric of metrics) {
    // `up` is Prometheus' own per-target series.
    if (metric === 'up') continue;
    const exposedLabels = names.get(metric);
    assert.ok(exposedLabels, `${q.where}: ${metric} is not in /metrics`);
    for (const l of exposedLabels) known.add(l);
  }
  for (const l of labels) assert.ok(known.has(l), `${q.where}: label ${l} is not on ${[...metrics].join(', ')}`);
}

// ---------------------------------------------------------------- tests

describe('Prometheus alert rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    assert.equal(r.status, 0, r.output);
  });

  it('cover down, no metrics, JWKS never loaded or stale, deny ratio, 503 answers, p99 latency and rejected reloads', () => {
    assert.deepEqual(alertRules.map((r) => r.alert), [
      'JwtExtAuthzDown', 'JwtExtAuthzMetricsAbsent', 'JwtExtAuthzJwksNeverLoaded', 'JwtExtAuthzJwksStale', 'JwtExtAuthzHighDenyRatio',
      'JwtExtAuthzUnavailableAnswers', 'JwtExtAuthzSlowChecks', 'JwtExtAuthzConfigReloadRejected',
    ]);
    for (const r of alertRules) {
      assert.ok(['warning', 'critical'].includes(r.labels['severity'] ?? ''), `${r.alert} severity`);
      assert.ok(r.annotations['summary'] && r.annotations['description'], `${r.alert} annotations`);
    }
  });

  it('query only metric names and labels that /metrics of a running service exposes', () => {
    for (const r of alertRules) assertUsesExposedSeries({ where: `alert ${r.alert}`, expr: r.expr });
  });

  it('scope the JWKS alerts correctly: only JWKS providers have fetch durations, a never-loaded one has no success time', () => {
    const has = (name: string, provider: string): boolean => scraped.some((s) => s.name === name && s.labels['provider'] === provider);
    const success = 'jwt_ext_authz_key_fetch_last_success_timestamp_seconds';
    const fetched = 'jwt_ext_authz_key_fetch_duration_seconds_count';
    assert.ok(has(success, 'files') && !has(fetched, 'files'), 'a key-file provider sets the success time but has no fetch duration');
    assert.ok(has(success, 'idp') && has(fetched, 'idp'), 'a loaded JWKS provider has both');
    assert.ok(!has(success, 'down') && has(fetched, 'down'), 'a never-loaded JWKS provider has fetch durations only');
  });

  it('fire, and stay quiet, as promtool test rules shows on the series a real service exposes', () => {
    const target = { job: 'jwt-ext-authz', instance: '10.0.0.7:9901' };
    /** A series as the scrape shows it, with target labels; the scrape must really have it. */
    const series = (name: string, match: Record<string, string>, extra: Record<string, string> = {}): string => {
      const found = scraped.find((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
      assert.ok(found, `/metrics has ${name} ${JSON.stringify(match)}`);
      const labels = { ...found.labels, ...match, ...target, ...extra };
      return `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
    };
    const buckets = scraped.filter((s) => s.name === 'jwt_ext_authz_check_duration_seconds_bucket' && s.labels['decision'] === 'allow').map((s) => s.labels['le'] ?? '');
    assert.ok(buckets.some((le) => Number(le) <= 0.05) && buckets.includes('+Inf'));
    const bucketSeries = (job: string, fastest: boolean) => buckets.map((le) => ({
      series: series('jwt_ext_authz_check_duration_seconds_bucket', { decision: 'allow', le }, { job }),
      // 60 checks a minute; "fastest": all in the first bucket, else all just above 50 ms.
      values: fastest || Number(le) > 0.05 ? '0+60x30' : '0+0x30',
    }));

    const rendered = (alert: string, labels: Record<string, string>): Record<string, string> => {
      const rule = alertRules.find((r) => r.alert === alert);
      assert.ok(rule, alert);
      return Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => {
        const text = v.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_m, l: string) => labels[l] ?? '');
        assert.doesNotMatch(text, /\{\{/, `${alert}.${k}: the test renders $labels only`);
        return [k, text];
      }));
    };
    const expect = (alert: string, evalTime: string, fired: Record<string, string>[]) => ({
      alertname: alert,
      eval_time: evalTime,
      exp_alerts: fired.map((labels) => {
        const all = { ...labels, severity: alertRules.find((r) => r.alert === alert)?.labels['severity'] ?? '' };
        return { exp_labels: all, exp_annotations: rendered(alert, all) };
      }),
    });

    const tests = [
      {
        // A JWKS provider whose last success was at 0 goes stale after 30 min; the file provider,
        // whose gauge is just as old, does not.
        interval: '1m',
        input_series: [
          { series: series('jwt_ext_authz_key_fetch_last_success_timestamp_seconds', { provider: 'idp' }), values: '0+0x60' },
          { series: series('jwt_ext_authz_key_fetch_last_success_timestamp_seconds', { provider: 'files' }), values: '0+0x60' },
          { series: series('jwt_ext_authz_key_fetch_duration_seconds_count', { provider: 'idp' }), values: '1+0x60' },
          { series: series('jwt_ext_authz_checks_total', { decision: 'allow' }), values: '0+60x60' },
        ],
        alert_rule_test: [
          expect('JwtExtAuthzJwksStale', '20m', []),
          expect('JwtExtAuthzJwksStale', '40m', [{ provider: 'idp', ...target }]),
          expect('JwtExtAuthzJwksNeverLoaded', '40m', []),
          expect('JwtExtAuthzMetricsAbsent', '40m', []),
          expect('JwtExtAuthzDown', '40m', []),
        ],
      },
      {
        // A JWKS provider that never loaded: fetch attempts, no success time.
        interval: '1m',
        input_series: [{ series: series('jwt_ext_authz_key_fetch_duration_seconds_count', { provider: 'down' }), values: '1+1x20' }],
        alert_rule_test: [
          expect('JwtExtAuthzJwksNeverLoaded', '3m', []),
          expect('JwtExtAuthzJwksNeverLoaded', '10m', [{ provider: 'down', ...target }]),
        ],
      },
      {
        // Our target stops answering scrapes at 11m; another job's target is down throughout.
        interval: '1m',
        input_series: [
          { series: `up{job="${target.job}",instance="${target.instance}"}`, values: '1x10 0x20' },
          { series: 'up{job="node",instance="10.0.0.9:9100"}', values: '0x30' },
          { series: series('jwt_ext_authz_checks_total', { decision: 'allow' }), values: '5x10' },
        ],
        alert_rule_test: [
          expect('JwtExtAuthzDown', '8m', []),
          expect('JwtExtAuthzDown', '20m', [target]),
        ],
      },
      {
        // 2 denies/s (keys_unavailable) against 1 allow/s.
        interval: '1m',
        input_series: [
          { series: series('jwt_ext_authz_checks_total', { decision: 'deny' }), values: '0+120x30' },
          { series: series('jwt_ext_authz_checks_total', { decision: 'allow' }), values: '0+60x30' },
          { series: series('jwt_ext_authz_rejections_total', { reason: 'keys_unavailable' }, { provider: 'idp' }), values: '0+120x30' },
          { series: series('jwt_ext_authz_rejections_total', { reason: 'expired' }, { provider: 'idp' }), values: '0+0x30' },
        ],
        alert_rule_test: [
          expect('JwtExtAuthzHighDenyRatio', '20m', [{ job: target.job }]),
          expect('JwtExtAuthzUnavailableAnswers', '20m', [{ job: target.job, reason: 'keys_unavailable' }]),
        ],
      },
      {
        // p99 just above 50 ms for one job, in the first bucket for another.
        interval: '1m',
        input_series: [...bucketSeries(target.job, false), ...bucketSeries('fast', true)],
        alert_rule_test: [expect('JwtExtAuthzSlowChecks', '20m', [{ job: target.job }])],
      },
      {
        // One rejected reload at 6m.
        interval: '1m',
        input_series: [{ series: series('jwt_ext_authz_config_reloads_total', { result: 'failure' }), values: '0x5 1x25' }],
        alert_rule_test: [
          expect('JwtExtAuthzConfigReloadRejected', '10m', [{ result: 'failure', ...target }]),
          expect('JwtExtAuthzConfigReloadRejected', '30m', []),
        ],
      },
      {
        // Prometheus scrapes other things, but no jwt-ext-authz.
        interval: '1m',
        input_series: [{ series: 'up{job="node",instance="10.0.0.9:9100"}', values: '1x30' }],
        alert_rule_test: [expect('JwtExtAuthzMetricsAbsent', '10m', []), expect('JwtExtAuthzMetricsAbsent', '20m', [{}])],
      },
    ];
    const file = join(scratch('jwt-ext-authz-rules-'), 'tests.yaml');
    writeFileSync(file, stringify({ rule_files: [RULES_FILE], evaluation_interval: '1m', tests }));
    const r = promtool(['test', 'rules', file]);
    assert.equal(r.status, 0, r.output);
  });
});

describe('Grafana dashboard', () => {
  it('is dashboard JSON whose panels all query the Prometheus data source variable', () => {
    assert.equal(dashboard['uid'], 'jwt-ext-authz');
    assert.equal(typeof dashboard['schemaVersion'], 'number');
    const variables = objects(at(dashboard, 'templating', 'list'), 'templating');
    assert.deepEqual(variables.find((v) => v['name'] === 'datasource'), {
      name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, regex: '', options: [],
    });
    const ids = new Set<unknown>();
    for (const p of panels()) {
      assert.ok(!ids.has(p['id']), `panel id ${String(p['id'])} is unique`);
      ids.add(p['id']);
      const pos = obj(p['gridPos'], 'gridPos');
      assert.ok(Number(pos['x']) + Number(pos['w']) <= 24, `panel "${String(p['title'])}" fits the 24-column grid`);
      if (p['type'] === 'row') continue;
      assert.deepEqual(p['datasource'], { type: 'prometheus', uid: '${datasource}' }, String(p['title']));
      const targets = objects(p['targets'], 'targets');
      assert.ok(targets.length > 0, String(p['title']));
      for (const t of targets) assert.deepEqual(t['datasource'], { type: 'prometheus', uid: '${datasource}' }, String(p['title']));
      assert.equal(new Set(targets.map((t) => t['refId'])).size, targets.length, `refIds of "${String(p['title'])}"`);
    }
  });

  it('shows decisions by decision, rejections by reason, p50/p99 latency, key fetches by result, keys loaded and the cache hit ratio', () => {
    const exprs = dashboardQueries().map((q) => q.expr.replace(/\s+/g, ' '));
    const has = (re: RegExp, what: string) => assert.ok(exprs.some((e) => re.test(e)), what);
    has(/sum by \(decision\) \(rate\(jwt_ext_authz_checks_total/, 'decisions/s by decision');
    has(/sum by \(reason\) \(rate\(jwt_ext_authz_rejections_total/, 'rejections by reason');
    has(/histogram_quantile\(0\.5, sum by \(le\) \(rate\(jwt_ext_authz_check_duration_seconds_bucket/, 'p50 latency');
    has(/histogram_quantile\(0\.99, sum by \(le\) \(rate\(jwt_ext_authz_check_duration_seconds_bucket/, 'p99 latency');
    has(/sum by \(provider, result\) \(increase\(jwt_ext_authz_key_fetches_total/, 'key fetches by result');
    has(/jwt_ext_authz_keys_loaded/, 'keys loaded');
    has(/jwt_ext_authz_token_cache_lookups_total\{[^}]*result="hit"[^}]*\}.*\/ sum\(rate\(jwt_ext_authz_token_cache_lookups_total/, 'cache hit ratio');
    for (const family of METRIC_NAMES) assert.ok(exprs.some((e) => e.includes(family)), `the dashboard shows ${family}`);
  });

  it('queries only metric names (with _bucket/_sum/_count) and labels that /metrics of a running service exposes', () => {
    for (const q of dashboardQueries()) assertUsesExposedSeries(q);
  });

  it('has queries that parse as PromQL (promtool, with Grafana variables filled in)', () => {
    const queries = dashboardQueries().filter((q) => !q.expr.startsWith('label_values('));
    const rules = { groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: withoutGrafanaVariables(q.expr) })) }] };
    const file = join(scratch('jwt-ext-authz-dashboard-'), 'dashboard-queries.yaml');
    writeFileSync(file, stringify(rules));
    const r = promtool(['check', 'rules', file]);
    assert.equal(r.status, 0, r.output);
  });

  it('finds metrics and labels with a scanner that does not take functions or keywords for metric names', () => {
    const r = references('sum by (job, le) (rate(x_bucket{a="1", b=~"$v"}[$__rate_interval])) > 0.5 and on (job) up == 0 unless absent(y)');
    assert.deepEqual([...r.metrics].sort(), ['up', 'x_bucket', 'y']);
    assert.deepEqual([...r.labels].sort(), ['a', 'b', 'job', 'le']);
    assert.ok(isObject(dashboard));
  });
});
