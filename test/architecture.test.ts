import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The TypeScript sources, next to the compiled tests (dist/test → src/). */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * Layers, lowest first: a module imports its own folder or lower layers only. Leaves hold the
 * Envoy wire types and small helpers; the CLI sits on top.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['util', 'envoy'],
  ['errors.ts', 'reasons.ts', 'log.ts'],
  ['config'],
  ['keys', 'identity', 'metrics'],
  ['token'],
  ['authz'],
  ['grpc', 'http', 'admin'],
  ['service'],
  ['cluster.ts'],
  ['cli'],
];

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

/** Relative imports of a file (static, dynamic and re-exports), as source paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)) {
    out.push(resolve(dirname(file), (m[1] ?? '').replace(/\.js$/, '.ts')));
  }
  return out;
}

/** The top-level unit of a source file: its folder under src/, or the file itself. */
const unitOf = (file: string): string => relative(SRC, file).split('/')[0] ?? '';
const layerOf = (unit: string): number => LAYERS.findIndex((layer) => layer.includes(unit));

const graph = new Map(files(SRC).map((f) => [f, importsOf(f)]));

describe('architecture', () => {
  it('places every src/ folder and top-level file in a layer', () => {
    const units = new Set([...graph.keys()].map(unitOf));
    for (const unit of units) assert.notEqual(layerOf(unit), -1, `src/${unit} is in no layer of test/architecture.test.ts`);
  });

  it('imports only from the same folder or a lower layer, never upward or sideways', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = unitOf(file);
      for (const target of imports) {
        const to = unitOf(target);
        if (to !== from && layerOf(to) >= layerOf(from)) wrong.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('has no import cycle between files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it('resolves every relative import to a source file', () => {
    const missing = [...graph].flatMap(([file, imports]) => imports.filter((t) => !graph.has(t)).map((t) => `${relative(SRC, file)} -> ${t}`));
    assert.deepEqual(missing, []);
  });
});
