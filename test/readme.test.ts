import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_KEYS } from '../src/config/schema.js';
import { METRIC_NAMES } from '../src/metrics/metrics.js';
import { REASONS } from '../src/reasons.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Rows of the first markdown table after `heading`, as trimmed cells. */
function tableAfter(heading: string): string[][] {
  const start = README.indexOf(heading);
  assert.ok(start >= 0, `README has no "${heading}" section`);
  const lines = README.slice(start).split('\n').slice(1);
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    if (/^\|\s*-/.test(line)) continue;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows.slice(1);
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '');
/** A cell's text: `\|` is a literal `|` inside a table cell. */
const unescape = (cell: string): string => cell.replace(/\\\|/g, '|');

describe('README stays in sync with the code', () => {
  it('documents every configuration key, in schema order, with its type, default and description, and no others', () => {
    const rows = tableAfter('## Configuration reference');
    const documented = rows.map((r) => ({
      path: unquote(r[0] ?? ''),
      type: unescape(r[1] ?? ''),
      default: unquote(r[2] ?? ''),
      description: unescape(r[3] ?? ''),
    }));
    const expected = CONFIG_KEYS.map((k) => ({ path: k.path, type: k.type, default: k.default, description: k.description }));
    assert.deepEqual(documented, expected);
  });

  it('documents every reason code with its HTTP status and gRPC status code', () => {
    const rows = tableAfter('## Reason codes');
    const documented = rows.map((r) => [unquote(r[0] ?? ''), Number(r[1]), Number(r[2])]);
    const expected = Object.entries(REASONS).map(([reason, v]) => [reason, v.http, v.grpc]);
    assert.deepEqual(documented, expected);
  });

  it('documents every metric family', () => {
    const rows = tableAfter('### Metrics');
    assert.deepEqual(rows.map((r) => unquote(r[0] ?? '')), [...METRIC_NAMES]);
  });
});
