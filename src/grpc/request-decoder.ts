import protobuf from 'protobufjs';
import type { CheckRequest, CheckRequestAttributes, HeaderValue, HttpRequestAttributes } from '../envoy/check-request.js';

/**
 * CheckRequest bytes → the fields the check reads, and nothing else: attributes.request.http
 * (`path`, the `headers` map, `header_map`, and for routes `method` and `host`, decoded only
 * when read) and attributes.context_extensions. Everything else Envoy sends (peers,
 * addresses, metadata, TLS session, body) is skipped unread, which
 * protobufjs' full decoder cannot do for fields our protos declare; the `headers` map is only
 * indexed, and a header becomes a string when the check looks it up. Uses protobufjs' Reader;
 * field numbers are those of proto/ (Envoy's API). context_extensions is a null-prototype
 * object. A field whose wire type is not the declared one is skipped as unknown, as Envoy's C++
 * library does. Malformed bytes throw, as protobufjs does; so does a field running past the
 * end of the message holding it.
 *
 * A singular message field may occur several times on the wire; protobuf merges the occurrences
 * (MergeFrom: scalars last-wins, maps merged with later keys winning, repeated fields
 * concatenated), and so does Envoy's C++ library. protobufjs 7 does not: it keeps the last
 * occurrence only. Reading those bytes any other way than Envoy would let a crafted request
 * mean one thing to us and another to Envoy, so every occurrence is decoded into one
 * accumulator, `Fields`, and the answer is built from it at the end.
 */

/** What the check reads, merged over every occurrence of attributes, request and http. */
class Fields {
  attributes = false;
  http = false;
  path: string | undefined = undefined;
  /** The `headers` map entries, as offsets into the bytes (see rawMapEntry). */
  headers: number[] | undefined = undefined;
  headerMap: HeaderValue[] | undefined = undefined;
  extensions: Record<string, string> | undefined = undefined;
  /** Where `method` and `host` lie in the bytes: [start, end]. */
  method: readonly [number, number] | undefined = undefined;
  host: readonly [number, number] | undefined = undefined;
}

export function decodeCheckRequest(bytes: Uint8Array): CheckRequest {
  const r = protobuf.Reader.create(bytes);
  const f = new Fields();
  while (r.pos < r.len) {
    const tag = r.uint32();
    // attributes = 1
    if (tag === 0x0a) attributeContext(r, endOf(r), f);
    else r.skipType(tag & 7);
  }
  return f.attributes ? { attributes: attributesOf(r.buf, f) } : {};
}

/** The end of the length-delimited field whose length comes next. */
const endOf = (r: protobuf.Reader): number => r.uint32() + r.pos;

/** protobuf refuses a field that runs past the end of the message holding it. */
function atEnd(r: protobuf.Reader, end: number): void {
  if (r.pos !== end) throw new RangeError('index out of range');
}

function attributeContext(r: protobuf.Reader, end: number, f: Fields): void {
  f.attributes = true;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x22) {
      // request = 4: Request { http = 2 }
      const requestEnd = endOf(r);
      while (r.pos < requestEnd) {
        const t = r.uint32();
        if (t === 0x12) httpRequest(r, endOf(r), f);
        else r.skipType(t & 7);
      }
      atEnd(r, requestEnd);
    } else if (tag === 0x52) {
      // context_extensions = 10: map<string, string>
      mapEntry(r, (f.extensions ??= Object.create(null) as Record<string, string>));
    } else {
      r.skipType(tag & 7);
    }
  }
  atEnd(r, end);
}

function httpRequest(r: protobuf.Reader, end: number, f: Fields): void {
  f.http = true;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x1a) {
      // headers = 3: map<string, string>; only where each key and value lie is noted here.
      rawMapEntry(r, (f.headers ??= []));
    } else if (tag === 0x22) {
      // path = 4
      f.path = r.string();
    } else if (tag === 0x12 || tag === 0x2a) {
      // method = 2, host = 5: read only if a route asks
      const length = r.uint32();
      const start = r.pos;
      if (start + length > r.len) throw new RangeError('index out of range');
      r.pos = start + length;
      if (tag === 0x12) f.method = [start, r.pos];
      else f.host = [start, r.pos];
    } else if (tag === 0x6a) {
      // header_map = 13: HeaderMap { repeated HeaderValue headers = 1 }
      const mapEnd = endOf(r);
      const headerMap = (f.headerMap ??= []);
      while (r.pos < mapEnd) {
        const t = r.uint32();
        if (t === 0x0a) headerMap.push(headerValue(r, endOf(r)));
        else r.skipType(t & 7);
      }
      atEnd(r, mapEnd);
    } else {
      r.skipType(tag & 7);
    }
  }
  atEnd(r, end);
}

function attributesOf(bytes: Uint8Array, f: Fields): CheckRequestAttributes {
  const out: { request?: { http: HttpRequestAttributes }; context_extensions?: Record<string, string> } = {};
  if (f.http) out.request = { http: new DecodedHttp(bytes, f) };
  if (f.extensions !== undefined) out.context_extensions = f.extensions;
  return out;
}

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** attributes.request.http: `path` and `header_map` decoded; headers, method and host read from the bytes when asked for. */
class DecodedHttp implements HttpRequestAttributes {
  // Declared only: set when present, so an absent field is no own property.
  declare readonly path?: string;
  declare readonly header_map?: { readonly headers: readonly HeaderValue[] };
  readonly #text: Buffer;
  readonly #entries: readonly number[] | undefined;
  readonly #method: readonly [number, number] | undefined;
  readonly #host: readonly [number, number] | undefined;

  constructor(bytes: Uint8Array, f: Fields) {
    if (f.path !== undefined) this.path = f.path;
    if (f.headerMap !== undefined) this.header_map = { headers: f.headerMap };
    this.#text = asBuffer(bytes);
    this.#entries = f.headers;
    this.#method = f.method;
    this.#host = f.host;
  }

  get method(): string | undefined {
    return this.#method === undefined ? undefined : this.#text.toString('utf8', this.#method[0], this.#method[1]);
  }

  get host(): string | undefined {
    return this.#host === undefined ? undefined : this.#text.toString('utf8', this.#host[0], this.#host[1]);
  }

  lookupHeader(name: string): string | undefined {
    return this.#entries === undefined ? undefined : lookup(this.#text, this.#entries, name);
  }
}

/** HeaderValue { key = 1; value = 2; bytes raw_value = 3 } */
function headerValue(r: protobuf.Reader, end: number): HeaderValue {
  const out: { key?: string; value?: string; raw_value?: Uint8Array } = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) out.key = r.string();
    else if (tag === 0x12) out.value = r.string();
    else if (tag === 0x1a) out.raw_value = r.bytes();
    else r.skipType(tag & 7);
  }
  atEnd(r, end);
  return out;
}

/** A map<string, string> entry as [keyStart, keyEnd, valueStart, valueEnd] offsets into the bytes. */
function rawMapEntry(r: protobuf.Reader, into: number[]): void {
  const end = endOf(r);
  let k0 = 0;
  let k1 = 0;
  let v0 = 0;
  let v1 = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a || tag === 0x12) {
      const length = r.uint32();
      const start = r.pos;
      if (start + length > r.len) throw new RangeError('index out of range');
      r.pos = start + length;
      if (tag === 0x0a) {
        k0 = start;
        k1 = r.pos;
      } else {
        v0 = start;
        v1 = r.pos;
      }
    } else {
      r.skipType(tag & 7);
    }
  }
  atEnd(r, end);
  into.push(k0, k1, v0, v1);
}

/**
 * Looks a header up by comparing its name with the keys' bytes; the last entry of a name wins,
 * as when decoding into a map. Header names are ASCII; any other name is never found.
 */
function lookup(text: Buffer, entries: readonly number[], name: string): string | undefined {
  for (let i = entries.length - 4; i >= 0; i -= 4) {
    const k0 = entries[i] as number;
    if ((entries[i + 1] as number) - k0 !== name.length) continue;
    let j = 0;
    for (; j < name.length; j++) {
      const c = name.charCodeAt(j);
      if (c > 0x7f || text[k0 + j] !== c) break;
    }
    if (j === name.length) return text.toString('utf8', entries[i + 2], entries[i + 3]);
  }
  return undefined;
}

/** One map<string, string> entry { key = 1; value = 2 }; absent parts are "" (proto3). */
function mapEntry(r: protobuf.Reader, into: Record<string, string>): void {
  const end = endOf(r);
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) value = r.string();
    else r.skipType(tag & 7);
  }
  atEnd(r, end);
  into[key] = value;
}
