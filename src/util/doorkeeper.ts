/**
 * An admission filter for a full cache (the "doorkeeper" of TinyLFU): a key is let in only if
 * it was seen once before within the last `window` refusals. A cache of one-hit keys costs
 * memory and eviction work and never answers a request, so under a flood of distinct keys the
 * cache keeps what it holds instead of churning through garbage.
 *
 * A Bloom filter in one fixed typed array, two bits a key: it allocates nothing per key and
 * the garbage collector never scans it. It is cleared after `window` refusals, which bounds
 * both how long a first sighting is remembered and the false-positive rate (with the defaults
 * at most 1.4%, just before a clearing, and about 0.5% over a window: a few keys let in on
 * their first sighting, which costs one eviction each).
 */
export class Doorkeeper {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private recorded = 0;

  /** `log2Bits`: the filter holds 2^log2Bits bits (default 2^19, 64 KiB). */
  constructor(
    private readonly window = 32_768,
    log2Bits = 19,
  ) {
    if (!Number.isInteger(log2Bits) || log2Bits < 5 || log2Bits > 30) throw new RangeError(`log2Bits must be an integer from 5 to 30, not ${log2Bits}`);
    this.bits = new Uint32Array(2 ** (log2Bits - 5));
    this.mask = 2 ** log2Bits - 1;
  }

  /**
   * True when `key` was seen since the last clearing (it is let in); otherwise records it and
   * answers false.
   */
  admit(key: string): boolean {
    const h = fnv1a(key);
    const a = h & this.mask;
    const b = mix(h) & this.mask;
    const bits = this.bits;
    const wa = a >>> 5;
    const wb = b >>> 5;
    const ma = 1 << (a & 31);
    const mb = 1 << (b & 31);
    if (((bits[wa] ?? 0) & ma) !== 0 && ((bits[wb] ?? 0) & mb) !== 0) return true;
    if (++this.recorded > this.window) {
      bits.fill(0);
      this.recorded = 1;
    }
    bits[wa] = (bits[wa] ?? 0) | ma;
    bits[wb] = (bits[wb] ?? 0) | mb;
    return false;
  }
}

/** 32-bit FNV-1a over UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** murmur3's finalizer: a second, independent-enough index from the same hash. */
function mix(h: number): number {
  let x = h ^ 0x9e3779b9;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
