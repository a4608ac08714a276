/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per package/file and per function,
 * and inclusive time of the project's own functions. Optionally only the samples inside a
 * window (CLOCK_MONOTONIC microseconds, the clock V8 stamps profiles with, the same as
 * process.hrtime), and per request when the number of requests in that window is known.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileRow {
  readonly name: string;
  readonly ms: number;
  /** Share of the busy time (everything except "(idle)"). */
  readonly share: number;
  /** Microseconds per request, when the request count is known. */
  readonly usPerRequest: number | undefined;
}

export interface ProfileSummary {
  readonly busyMs: number;
  readonly idleMs: number;
  readonly windowed: boolean;
  readonly requests: number | undefined;
  readonly groups: readonly ProfileRow[];
  readonly functions: readonly ProfileRow[];
  /** Inclusive (self + callees) time of the project's own functions (dist/src). */
  readonly ownInclusive: readonly ProfileRow[];
}

export interface SummaryOptions {
  readonly top?: number;
  /** [from, to] in CLOCK_MONOTONIC microseconds. */
  readonly window?: readonly [number, number];
  readonly requests?: number;
}

/** protobufjs generates its codecs at run time (no url): `Type$decode`, `Type$encode`, ... */
const GENERATED = /\$(decode|encode|verify|fromObject|toObject)$/;

/** Where a function lives: a package, a node internal module, the project's own file, or V8. */
function group(url: string, name: string): string {
  if (url === '') {
    if (name.startsWith('(')) return name;
    if (GENERATED.test(name)) return 'protobufjs (generated codecs)';
    return '(native / builtins)';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm?.[1] !== undefined) return nm[1];
  if (url.startsWith('node:internal/')) return `node:internal/${url.slice('node:internal/'.length).split('/')[0] ?? ''}`;
  if (url.startsWith('node:')) return url;
  const own = /\/dist\/((?:src|bench)\/.*)$/.exec(url);
  if (own?.[1] !== undefined) return own[1];
  return url;
}

function short(url: string): string {
  const nm = /node_modules\/(.*)$/.exec(url);
  if (nm?.[1] !== undefined) return nm[1];
  const own = /\/dist\/(.*)$/.exec(url);
  return own?.[1] ?? url;
}

const keyOf = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${f.url === '' ? '' : `${short(f.url)}:${f.lineNumber + 1}`}`.trim();

export function summariseProfile(file: string, options: SummaryOptions = {}): ProfileSummary {
  const top = options.top ?? 20;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const fn = new Map<string, number>();
  const grp = new Map<string, number>();
  const own = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  let t = profile.startTime;
  const seen = new Set<string>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: charge it to this sample.
    const us = profile.timeDeltas[i] ?? 0;
    t += us;
    if (options.window !== undefined && (t < options.window[0] || t > options.window[1])) continue;
    const id = profile.samples[i] ?? -1;
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const key = keyOf(node.callFrame);
    fn.set(key, (fn.get(key) ?? 0) + us);
    const g = group(url, functionName);
    grp.set(g, (grp.get(g) ?? 0) + us);
    // Inclusive time of our own functions: each function once per sample, however deep it recurses.
    seen.clear();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)?.callFrame;
      if (f === undefined || !/\/dist\/src\//.test(f.url)) continue;
      const k = keyOf(f);
      if (seen.has(k)) continue;
      seen.add(k);
      own.set(k, (own.get(k) ?? 0) + us);
    }
  }
  const requests = options.requests;
  const rows = (m: Map<string, number>): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy === 0 ? 0 : us / busy, usPerRequest: requests === undefined || requests === 0 ? undefined : us / requests }));
  return { busyMs: busy / 1000, idleMs: idle / 1000, windowed: options.window !== undefined, requests, groups: rows(grp), functions: rows(fn), ownInclusive: rows(own) };
}

export function formatProfile(title: string, s: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const per = (r: ProfileRow): string => (r.usPerRequest === undefined ? '–' : r.usPerRequest.toFixed(1));
  const esc = (n: string): string => `\`${n.replace(/\|/g, '\\|')}\``;
  const table = (heading: string, rows: readonly ProfileRow[], code: boolean): string[] => [
    `| ${heading} | ms | share of busy | µs per request |`,
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${code ? esc(r.name) : r.name} | ${r.ms.toFixed(0)} | ${pct(r.share)} | ${per(r)} |`),
    '',
  ];
  const busyPer = s.requests === undefined || s.requests === 0 ? '' : `, ${((s.busyMs * 1000) / s.requests).toFixed(1)} µs of CPU per request (${s.requests.toLocaleString('en-US')} requests)`;
  return [
    `#### ${title}`,
    '',
    `${s.windowed ? 'measured window only' : 'whole process lifetime'}: busy ${(s.busyMs / 1000).toFixed(2)} s, idle ${(s.idleMs / 1000).toFixed(2)} s${busyPer}`,
    '',
    ...table('self time by package / module', s.groups, false),
    ...table('self time by function', s.functions, true),
    ...table('inclusive time, own functions (dist/src)', s.ownInclusive, true),
  ].join('\n');
}
