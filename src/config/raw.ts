/**
 * The syntax-neutral tree both readers produce (YAML and .properties), so that one
 * validator serves both. Every node knows how to name itself in a message (`path`: the
 * YAML path, or the properties key) and, when known, its 1-based line.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { ConfigProblem } from '../errors.js';

export interface ConfigWarning {
  readonly file: string;
  readonly key: string;
  readonly line?: number;
  readonly message: string;
}

interface RawBase {
  readonly path: string;
  readonly line?: number;
}
export interface RawMap extends RawBase {
  readonly kind: 'map';
  readonly entries: Map<string, Raw>;
}
export interface RawSeq extends RawBase {
  readonly kind: 'seq';
  readonly items: Raw[];
}
export interface RawScalar extends RawBase {
  readonly kind: 'scalar';
  readonly value: string | number | boolean | null;
  /** From a .properties file: always a string, numbers/booleans/lists still to be read from it. */
  readonly text: boolean;
  /** The scalar as written (YAML), so `audience: 0123` stays `0123`. */
  readonly source?: string;
}
export type Raw = RawMap | RawSeq | RawScalar;

/** `{ line }` or `{}`: exactOptionalPropertyTypes forbids `line: undefined`. */
export const at = (line: number | undefined): { line?: number } => (line === undefined ? {} : { line });

export const joinPath = (parent: string, name: string): string => (parent === '' ? name : `${parent}.${name}`);

/** Shared state of one load: where problems and warnings go. */
export interface Ctx {
  readonly file: string;
  /** Directory that relative paths are resolved against. */
  readonly baseDir: string;
  readonly problems: ConfigProblem[];
  readonly warn: (w: ConfigWarning) => void;
  /** Canonical YAML path (e.g. `providers[1].name`) → the node read there, for later checks. */
  readonly nodes: Map<string, Raw>;
}

export function problem(ctx: Ctx, where: { readonly path: string; readonly line?: number }, message: string): void {
  ctx.problems.push({ file: ctx.file, key: where.path, ...at(where.line), message });
}

export function warning(ctx: Ctx, where: { readonly path: string; readonly line?: number }, message: string): void {
  ctx.warn({ file: ctx.file, key: where.path, ...at(where.line), message });
}

/** Plain JS (a parsed default) → Raw; no lines, since it is not in the file. */
export function plainToRaw(value: unknown, path: string): Raw {
  if (Array.isArray(value)) {
    return { kind: 'seq', path, items: value.map((v: unknown, i) => plainToRaw(v, `${path}[${i}]`)) };
  }
  if (typeof value === 'object' && value !== null) {
    const entries = new Map<string, Raw>();
    for (const [k, v] of Object.entries(value)) entries.set(k, plainToRaw(v, joinPath(path, k)));
    return { kind: 'map', path, entries };
  }
  const v = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : null;
  return { kind: 'scalar', path, value: v, text: false };
}

/** Aliases may nest; this bounds the work a hostile file can cause. */
const MAX_DEPTH = 64;

/** Parses YAML (or JSON) text into a Raw tree; syntax errors become problems with lines. */
export function yamlToRaw(text: string, ctx: Ctx): Raw | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lc.linePos(offset).line;
  for (const e of doc.errors) problem(ctx, { path: '', ...at(lineOf(e.pos[0])) }, `YAML syntax: ${e.message}`);
  for (const w of doc.warnings) warning(ctx, { path: '', ...at(lineOf(w.pos[0])) }, `YAML: ${w.message}`);
  if (doc.errors.length > 0) return undefined;

  const convert = (node: unknown, path: string, line: number | undefined, depth: number): Raw => {
    const here = { path, ...at(line) };
    if (depth > MAX_DEPTH) {
      problem(ctx, here, 'nested too deeply');
      return { kind: 'scalar', ...here, value: null, text: false };
    }
    if (isAlias(node)) return convert(node.resolve(doc as Document), path, line, depth + 1);
    if (isMap(node)) {
      const entries = new Map<string, Raw>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : undefined;
        const keyLine = isScalar(pair.key) ? lineOf(pair.key.range?.[0]) : line;
        if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'boolean') {
          problem(ctx, { path, ...at(keyLine) }, 'keys must be plain strings');
          continue;
        }
        const name = String(key);
        entries.set(name, convert(pair.value, joinPath(path, name), keyLine, depth + 1));
      }
      return { kind: 'map', ...here, entries };
    }
    if (isSeq(node)) {
      const items = node.items.map((item, i) => {
        const itemLine = isAlias(item) || isMap(item) || isSeq(item) || isScalar(item) ? lineOf(item.range?.[0]) : line;
        return convert(item, `${path}[${i}]`, itemLine ?? line, depth + 1);
      });
      return { kind: 'seq', ...here, items };
    }
    if (isScalar(node)) {
      const v = node.value;
      const value = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : v === null ? null : String(v);
      return { kind: 'scalar', ...here, value, text: false, ...(node.source === undefined ? {} : { source: node.source }) };
    }
    return { kind: 'scalar', ...here, value: null, text: false };
  };

  const root = doc.contents;
  return convert(root, '', root === null ? undefined : lineOf(root.range?.[0]), 0);
}
