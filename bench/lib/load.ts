/**
 * A closed-loop HTTP/2 load generator for the Check RPC, for the scenarios h2load cannot run
 * (h2load sends the same body with every request; these need many distinct tokens).
 *
 * It speaks just enough HTTP/2 over a plain TCP socket (TCP_NODELAY), like h2load does, instead
 * of using node:http2: per request it writes one pre-built HEADERS frame (a constant HPACK block
 * of static-table references and literals, so no HPACK state) and one DATA frame (a pre-encoded
 * gRPC frame), and it never decodes response headers. That makes it cheap enough to keep a
 * single-core grpc-js server busy from a single core; a node:http2 client was not (see README).
 * Flow control, SETTINGS/PING acks and GOAWAY are handled. The decision is read from the
 * response message (CheckResponse.status.code); a response without a message (a gRPC error)
 * is counted as decision -2.
 */
import { connect, type Socket } from 'node:net';
import { CHECK_PATH, decisionCode } from './requests.js';

export interface LoadOptions {
  readonly port: number;
  readonly bodies: readonly Buffer[];
  readonly connections: number;
  /** Concurrent streams per connection. */
  readonly streams: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Instead of warm-up + duration: send exactly this many requests, all measured. */
  readonly requests?: number;
  /**
   * Open loop at a fixed rate, as h2load --rps: each connection starts this many requests a
   * second, each as soon as one of its `streams` is free (a late one is sent at once, not
   * skipped). Without it the loop is closed: a request starts when one ends.
   */
  readonly rps?: number;
  /** Longest wait for the requests in flight once the run is over. */
  readonly drainMs?: number;
  /** Hard limit for the whole run (then it ends as if the duration were over). */
  readonly timeoutMs?: number;
  /** Called when the first request is sent and when the measured window starts and ends. */
  readonly onPhase?: (phase: 'start' | 'measure' | 'end') => void;
}

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface LoadResult {
  /** Requests that completed inside the measured window. */
  readonly measured: number;
  /** Every completed request, warm-up included. */
  readonly completed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly rps: number;
  /** Latency of the measured requests, microseconds. */
  readonly latencyUs: Percentiles;
  /** CheckResponse status.code → count (every completed request); -2: no response message. */
  readonly decisions: Readonly<Record<string, number>>;
  readonly distinctBodies: number;
  readonly errors: readonly string[];
}

export class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  percentiles(): Percentiles {
    const n = this.length;
    if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
    const sorted = this.data.slice(0, n).sort();
    const at = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] ?? NaN;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += sorted[i] ?? 0;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[n - 1] ?? NaN, mean: sum / n };
  }
}

// --- HTTP/2 framing (RFC 9113) ------------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_ENABLE_PUSH = 0x2;
/** What we let the server send before we acknowledge with WINDOW_UPDATE. */
const RECEIVE_WINDOW = 1 << 30;
const DEFAULT_WINDOW = 65_535;

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.alloc(9);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  return b;
}

const hpackString = (s: string): Buffer => {
  const v = Buffer.from(s, 'latin1');
  if (v.length >= 127) throw new Error('header value too long for this encoder');
  return Buffer.concat([Buffer.from([v.length]), v]);
};

/** The request header block: static-table references and literals without indexing (no HPACK state). */
function requestHeaderBlock(authority: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83]), // :method POST (static 3)
    Buffer.from([0x86]), // :scheme http (static 6)
    Buffer.from([0x04]), hpackString(CHECK_PATH), // :path (name static 4)
    Buffer.from([0x01]), hpackString(authority), // :authority (name static 1)
    Buffer.from([0x0f, 0x10]), hpackString('application/grpc'), // content-type (name static 31)
    Buffer.from([0x00]), hpackString('te'), hpackString('trailers'),
  ]);
}

/** HEADERS + DATA(END_STREAM) for one body, stream id left 0 (patched into a copy per request). */
interface RequestTemplate {
  readonly bytes: Buffer;
  readonly dataLength: number;
  /** Offset of the DATA frame header. */
  readonly dataAt: number;
}

function requestTemplate(block: Buffer, body: Buffer): RequestTemplate {
  const h = frameHeader(block.length, HEADERS, END_HEADERS, 0);
  const d = frameHeader(body.length, DATA, END_STREAM, 0);
  return { bytes: Buffer.concat([h, block, d, body]), dataLength: body.length, dataAt: 9 + block.length };
}

interface Stream {
  readonly start: number;
  code: number;
}

const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (o.bodies.length === 0) throw new Error('no request bodies');
  const authority = `127.0.0.1:${o.port}`;
  const block = requestHeaderBlock(authority);
  const templates = o.bodies.map((b) => requestTemplate(block, b));
  const latency = new Samples();
  const decisions: Record<string, number> = {};
  const errors: string[] = [];
  const fixedCount = o.requests;
  let nextBody = 0;
  let issued = 0;
  let inflight = 0;
  let completed = 0;
  let failed = 0;
  let measured = 0;
  let stopping = false;
  let resolved = false;
  let t0 = 0;
  let measureStart = 0;
  let measureEnd = Infinity;
  let lastEnd = 0;
  const timers: NodeJS.Timeout[] = [];
  const connections: Connection[] = [];
  let finish: () => void = () => undefined;

  const note = (e: string): void => {
    if (errors.length < 10) errors.push(e);
  };
  const stop = (why?: string): void => {
    if (why !== undefined) note(why);
    if (stopping) return;
    stopping = true;
    if (inflight === 0) finish();
    else timers.push(setTimeout(() => finish(), o.drainMs ?? 5000));
  };

  /** One HTTP/2 connection with its own closed loop of `o.streams` streams. */
  class Connection {
    private readonly socket: Socket;
    private pending: Buffer | undefined;
    private out: Buffer[] = [];
    private nextStream = 1;
    private sendWindow = DEFAULT_WINDOW;
    private streamWindow = DEFAULT_WINDOW;
    private received = 0;
    private readonly streams = new Map<number, Stream>();
    /** Requests owed (closed loop) but held back by flow control or before the server's SETTINGS. */
    private owed = 0;
    private ready = false;
    readonly connected: Promise<void>;

    constructor() {
      this.socket = connect({ host: '127.0.0.1', port: o.port, noDelay: true });
      this.connected = new Promise<void>((resolve, reject) => {
        this.socket.once('connect', () => {
          const settings = Buffer.alloc(12);
          settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0);
          settings.writeUInt32BE(0, 2);
          settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6);
          settings.writeUInt32BE(RECEIVE_WINDOW, 8);
          const wu = Buffer.alloc(4);
          wu.writeUInt32BE(RECEIVE_WINDOW - DEFAULT_WINDOW, 0);
          this.socket.write(Buffer.concat([PREFACE, frameHeader(12, SETTINGS, 0, 0), settings, frameHeader(4, WINDOW_UPDATE, 0, 0), wu]));
          resolve();
        });
        this.socket.once('error', reject);
      });
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
      this.socket.on('error', (e) => stop(`socket: ${e.message}`));
      this.socket.on('close', () => {
        if (!stopping && !resolved) stop('connection closed by the server');
      });
    }

    /** Starts the loop: `n` requests as soon as the server's SETTINGS arrived. */
    begin(n: number): void {
      this.owed += n;
      if (o.rps !== undefined) {
        const room = o.streams - this.streams.size - this.owed;
        const take = Math.min(this.due, Math.max(0, room));
        this.due -= take;
        this.owed += take;
      }
      this.pump();
      this.flush();
    }

    close(): void {
      this.socket.destroy();
    }

    private flush(): void {
      if (this.out.length === 0) return;
      const data = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
      this.out = [];
      this.socket.write(data);
    }

    /** Issues what is owed, as far as flow control allows. Writes are batched until flush(). */
    private pump(): void {
      while (this.owed > 0 && this.ready && !stopping) {
        if (fixedCount !== undefined && issued >= fixedCount) {
          this.owed = 0;
          break;
        }
        const t = templates[nextBody] as RequestTemplate;
        if (t.dataLength > this.sendWindow || t.dataLength > this.streamWindow) break;
        nextBody = nextBody + 1 === templates.length ? 0 : nextBody + 1;
        this.owed--;
        this.sendWindow -= t.dataLength;
        const id = this.nextStream;
        this.nextStream += 2;
        const bytes = Buffer.from(t.bytes);
        bytes.writeUInt32BE(id, 5);
        bytes.writeUInt32BE(id, t.dataAt + 5);
        this.out.push(bytes);
        this.streams.set(id, { start: performance.now(), code: -2 });
        issued++;
        inflight++;
      }
    }

    private onData(chunk: Buffer): void {
      const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
      let p = 0;
      while (buf.length - p >= 9) {
        const length = buf.readUIntBE(p, 3);
        if (buf.length - p < 9 + length) break;
        const type = buf[p + 3] ?? 0;
        const flags = buf[p + 4] ?? 0;
        const id = buf.readUInt32BE(p + 5) & 0x7fffffff;
        const payload = buf.subarray(p + 9, p + 9 + length);
        p += 9 + length;
        this.onFrame(type, flags, id, payload);
      }
      this.pending = p === buf.length ? undefined : Buffer.from(buf.subarray(p));
      this.pump();
      this.flush();
    }

    private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
      switch (type) {
        case DATA: {
          this.received += payload.length;
          if (this.received > RECEIVE_WINDOW / 2) {
            const wu = Buffer.alloc(4);
            wu.writeUInt32BE(this.received, 0);
            this.out.push(frameHeader(4, WINDOW_UPDATE, 0, 0), wu);
            this.received = 0;
          }
          const s = this.streams.get(id);
          if (s !== undefined && s.code === -2) s.code = decisionCode((flags & PADDED) !== 0 ? payload.subarray(1) : payload);
          if ((flags & END_STREAM) !== 0) this.done(id, true);
          return;
        }
        case HEADERS:
          if ((flags & END_STREAM) !== 0) this.done(id, true);
          return;
        case RST_STREAM:
          note(`stream reset by the server (code ${payload.length >= 4 ? payload.readUInt32BE(0) : '?'})`);
          this.done(id, false);
          return;
        case SETTINGS:
          if ((flags & ACK) !== 0) return;
          for (let i = 0; i + 6 <= payload.length; i += 6) {
            if (payload.readUInt16BE(i) === SETTINGS_INITIAL_WINDOW_SIZE) this.streamWindow = payload.readUInt32BE(i + 2);
          }
          this.out.push(frameHeader(0, SETTINGS, ACK, 0));
          this.ready = true;
          return;
        case PING:
          if ((flags & ACK) === 0) this.out.push(frameHeader(8, PING, ACK, 0), Buffer.from(payload));
          return;
        case GOAWAY:
          stop('server sent GOAWAY');
          return;
        case WINDOW_UPDATE:
          if (id === 0) this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
          return;
        default:
          // PRIORITY, PUSH_PROMISE (disabled), CONTINUATION of response headers we never decode.
          return;
      }
    }

    private done(id: number, ok: boolean): void {
      const s = this.streams.get(id);
      if (s === undefined) return;
      this.streams.delete(id);
      inflight--;
      const end = performance.now();
      if (ok) {
        completed++;
        lastEnd = end;
        bump(decisions, String(s.code));
        if (end >= measureStart && end <= measureEnd) {
          measured++;
          latency.push((end - s.start) * 1000);
        }
      } else {
        failed++;
      }
      if (stopping) {
        if (inflight === 0) finish();
        return;
      }
      if (fixedCount !== undefined && completed + failed >= fixedCount) {
        stop();
        return;
      }
      if (o.rps === undefined) this.owed++;
      else if (this.due > 0) this.begin(0);
    }

    /** Fixed rate: requests due by now that are not yet issued, at most `o.streams` in flight. */
    private due = 0;
    private scheduled = 0;

    tick(elapsedMs: number): void {
      const target = Math.floor((elapsedMs * (o.rps ?? 0)) / 1000);
      this.due += target - this.scheduled;
      this.scheduled = target;
      this.begin(0);
    }
  }

  for (let i = 0; i < o.connections; i++) connections.push(new Connection());
  try {
    await Promise.all(connections.map((c) => c.connected));
  } catch (e: unknown) {
    for (const c of connections) c.close();
    throw e;
  }

  return new Promise<LoadResult>((resolve) => {
    finish = () => {
      if (resolved) return;
      resolved = true;
      for (const t of timers) clearTimeout(t);
      for (const c of connections) c.close();
      const seconds = fixedCount === undefined ? o.durationMs / 1000 : (lastEnd - t0) / 1000;
      o.onPhase?.('end');
      resolve({
        measured,
        completed,
        failed,
        seconds,
        rps: measured / seconds,
        latencyUs: latency.percentiles(),
        decisions,
        distinctBodies: Math.min(o.bodies.length, issued),
        errors,
      });
    };
    t0 = performance.now();
    lastEnd = t0;
    measureStart = fixedCount === undefined ? t0 + o.warmupMs : t0;
    measureEnd = fixedCount === undefined ? measureStart + o.durationMs : Infinity;
    o.onPhase?.('start');
    if (o.timeoutMs !== undefined) timers.push(setTimeout(() => stop(`timed out after ${o.timeoutMs} ms`), o.timeoutMs));
    if (fixedCount === undefined) {
      timers.push(setTimeout(() => o.onPhase?.('measure'), o.warmupMs));
      timers.push(setTimeout(() => stop(), o.warmupMs + o.durationMs));
    } else {
      o.onPhase?.('measure');
    }
    if (o.rps === undefined) {
      for (const c of connections) c.begin(o.streams);
    } else {
      // A 1 ms tick: each connection issues what its rate says is due by now.
      const tick = setInterval(() => {
        const elapsed = performance.now() - t0;
        for (const c of connections) c.tick(elapsed);
      }, 1);
      timers.push(tick);
    }
  });
}
