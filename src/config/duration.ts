/** Durations as written in config files (`500ms`, `30s`, `15m`, `1h`), held as milliseconds. */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;

/** Result of parsing: milliseconds, or a message saying what was wrong. */
export type DurationResult = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly message: string };

const HINT = 'expected a duration like 30s (a number followed by ms, s, m or h)';

/**
 * Parses `text` (already trimmed by the caller or not). Fractions are accepted as airlift
 * does (`1.5h`) and rounded to whole milliseconds.
 */
export function parseDuration(text: string): DurationResult {
  const t = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(t)) {
    return { ok: false, message: `${HINT}; "${t}" has no unit (write ${t}s or ${t}ms)` };
  }
  const m = DURATION.exec(t);
  if (m === null) return { ok: false, message: `${HINT}, got "${t}"` };
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] as Unit]);
  if (!Number.isSafeInteger(ms)) return { ok: false, message: `duration "${t}" is too large` };
  return { ok: true, ms };
}

/**
 * Writes milliseconds back in the largest unit that keeps a whole number, except that one
 * minute is written `60s` (the way the defaults are documented, and Envoy's habit).
 */
export function formatDuration(ms: number): string {
  if (ms === 60_000) return '60s';
  for (const unit of ['h', 'm', 's'] as const) {
    const size = UNIT_MS[unit];
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
