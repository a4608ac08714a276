import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';

/** Deny lines written per second at level info; the rest are counted and summarised. */
export const DENY_LINES_PER_SECOND = 100;
const WINDOW_MS = 1000;

/**
 * Bounds the deny log under a flood. A line per deny costs ~20 µs (redaction, fingerprint,
 * write) and a flood of bad tokens would otherwise spend the service's CPU and the node's disk
 * on identical lines. Up to `limit` deny lines are written per one-second window; past that,
 * denies are counted by reason and one "deny lines suppressed" line per window reports them
 * (metrics count every deny regardless). At level debug every deny is written.
 */
export class DenyLog {
  private windowStart = -Infinity;
  private written = 0;
  private suppressed: Map<string, number> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    /** Monotonic: a wall clock stepped back would silence denies until it caught up. */
    private readonly now: () => number = () => performance.now(),
    private readonly limit = DENY_LINES_PER_SECOND,
  ) {}

  /** True when this deny's line should be written; false when it was counted as suppressed. */
  admit(reason: string): boolean {
    if (!this.logger.isLevelEnabled('info')) return false;
    if (this.logger.isLevelEnabled('debug')) return true;
    const t = this.now();
    if (t - this.windowStart >= WINDOW_MS) {
      this.flush();
      this.windowStart = t;
      this.written = 0;
    }
    if (this.written < this.limit) {
      this.written++;
      return true;
    }
    const counts = (this.suppressed ??= new Map());
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    // Report at the end of the window even if the flood stops before the next deny.
    this.timer ??= setTimeout(() => this.flush(), Math.max(1, this.windowStart + WINDOW_MS - t)).unref();
    return false;
  }

  /** Writes the summary of the current window, if anything was suppressed. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const counts = this.suppressed;
    if (counts === undefined) return;
    this.suppressed = undefined;
    let total = 0;
    for (const n of counts.values()) total += n;
    this.logger.info(
      { decision: 'deny', suppressed: total, byReason: Object.fromEntries(counts), limitPerSecond: this.limit },
      'deny lines suppressed',
    );
  }
}
