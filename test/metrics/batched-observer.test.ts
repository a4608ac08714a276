import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { batchedObserver, CHECK_DURATION_BUCKETS } from '../../src/metrics/metrics.js';

/** The same observations through prom-client's own observe and through batchedObserver. */
async function exposition(batched: boolean, values: readonly number[]): Promise<string> {
  const registry = new Registry();
  const flushers: (() => void)[] = [];
  const histogram = new Histogram({
    name: 'd_seconds',
    help: 'd',
    labelNames: ['decision', 'transport'],
    buckets: [...CHECK_DURATION_BUCKETS],
    registers: [registry],
    collect: () => {
      for (const f of flushers) f();
    },
  });
  const labels = { decision: 'allow', transport: 'grpc' };
  if (batched) {
    const o = batchedObserver(histogram, CHECK_DURATION_BUCKETS, labels, (f) => void flushers.push(f));
    assert.equal(o.batched, true, "prom-client's per-series record was found (else every check pays its observe)");
    for (const v of values) o.observe(v);
  } else {
    histogram.zero(labels);
    const child = histogram.labels(labels);
    for (const v of values) child.observe(v);
  }
  return registry.metrics();
}

describe('batchedObserver', () => {
  it('exposes exactly what prom-client observing each value would, across scrapes', async () => {
    const values = [0.00001, 0.00005, 0.00007, 0.0003, 0.002, 0.002, 0.7, 1, 3, 42, 0.000049];
    assert.equal(await exposition(true, values), await exposition(false, values));
    // Observations made after a scrape are added once, not again with every later scrape.
    const registry = new Registry();
    const flushers: (() => void)[] = [];
    const histogram = new Histogram({ name: 'e_seconds', help: 'e', labelNames: ['decision'], buckets: [0.1, 1], registers: [registry], collect: () => flushers.forEach((f) => f()) });
    const o = batchedObserver(histogram, [0.1, 1], { decision: 'deny' }, (f) => void flushers.push(f));
    o.observe(0.05);
    await registry.metrics();
    o.observe(0.5);
    const text = await registry.metrics();
    assert.match(text, /e_seconds_bucket\{le="0.1",decision="deny"\} 1\n/);
    assert.match(text, /e_seconds_bucket\{le="1",decision="deny"\} 2\n/);
    assert.match(text, /e_seconds_count\{decision="deny"\} 2\n/);
    assert.match(text, /e_seconds_sum\{decision="deny"\} 0.55\n/);
  });

  it('exists at 0 from the start, like every series a dashboard needs', async () => {
    const text = await exposition(true, []);
    assert.match(text, /d_seconds_count\{decision="allow",transport="grpc"\} 0\n/);
  });
});
