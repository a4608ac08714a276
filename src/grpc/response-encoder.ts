import type { CheckResponse, Struct } from '../envoy/check-response.js';
import type { HeaderValueOption } from '../envoy/check-response.js';

/**
 * CheckResponse → protobuf bytes for the answers the responder builds, in one pass over a
 * reusable scratch buffer. protobufjs' reflective encoder was ~10 µs per allow on the cold path
 * (a Writer op list, a fork per nested message, Struct map entries); this is ~1 µs. Field
 * numbers are those of proto/ (Envoy's API); test/grpc/codec.test.ts holds the bytes
 * to protobufjs' decoding of its own encoding for every shape of answer.
 *
 * Wire types: 0 varint, 2 length-delimited. A tag is (field << 3) | wire type.
 */

let buf = Buffer.allocUnsafeSlow(16 * 1024);
let pos = 0;
/** encodeMarked: the string whose bytes to locate, and where they start once written (-1: not yet). */
let marked: string | undefined;
let markAt = -1;

function ensure(extra: number): void {
  if (pos + extra <= buf.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, pos + extra + 1024));
  buf.copy(bigger, 0, 0, pos);
  buf = bigger;
}

function varint(value: number): void {
  ensure(10);
  let v = value >>> 0;
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
}

/** int32/enum fields: a negative value is sign-extended to 64 bits (10 bytes), as protobuf does. */
function int32Field(tag: number, value: number): void {
  if (value === 0) return; // proto3 default: not on the wire
  varint(tag);
  if (value > 0) {
    varint(value);
    return;
  }
  ensure(10);
  let lo = value >>> 0;
  let hi = 0xffffffff;
  while (hi !== 0) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  buf[pos++] = lo;
}

/** A length-delimited string, written even when empty (repeated elements, oneof members). */
function writeString(tag: number, value: string): void {
  varint(tag);
  // At most 3 UTF-8 bytes per UTF-16 unit, plus up to 5 for the length.
  ensure(5 + value.length * 3);
  const lengthAt = pos++;
  const n = buf.write(value, pos, 'utf8');
  finishLength(lengthAt, n);
  if (markAt < 0 && value === marked) markAt = pos - n;
}

/** A proto3 string field: the empty default is not on the wire. */
function stringField(tag: number, value: string | undefined): void {
  if (value !== undefined && value !== '') writeString(tag, value);
}

/** Opens a length-delimited field; `end` writes its length once the body is in place. */
function begin(tag: number): number {
  varint(tag);
  ensure(1);
  return pos++;
}

function end(lengthAt: number): void {
  finishLength(lengthAt, pos - lengthAt - 1);
}

/** One byte was reserved for the length at `lengthAt`; move the body if the length needs more. */
function finishLength(lengthAt: number, length: number): void {
  pos = lengthAt + 1 + length;
  if (length < 0x80) {
    buf[lengthAt] = length;
    return;
  }
  let size = 1;
  for (let v = length >>> 7; v > 0; v >>>= 7) size++;
  ensure(size - 1);
  buf.copyWithin(lengthAt + size, lengthAt + 1, pos);
  // The body moved right: so did a marked string inside it.
  if (markAt > lengthAt) markAt += size - 1;
  const after = pos + size - 1;
  pos = lengthAt;
  varint(length);
  pos = after;
}

// HeaderValueOption { HeaderValue header = 1 { key = 1; value = 2 }; BoolValue append = 2 { value = 1 };
// HeaderAppendAction append_action = 3 }
function headers(tag: number, list: readonly HeaderValueOption[]): void {
  for (const h of list) {
    const option = begin(tag);
    const header = begin(0x0a);
    stringField(0x0a, h.header.key);
    stringField(0x12, h.header.value);
    end(header);
    // The wrapper is written even for false: its presence is what says "do not append".
    const append = begin(0x12);
    if (h.append.value) {
      varint(0x08);
      varint(1);
    }
    end(append);
    int32Field(0x18, h.append_action);
    end(option);
  }
}

function strings(tag: number, list: readonly string[]): void {
  for (const s of list) writeString(tag, s);
}

// Struct { map<string, Value> fields = 1 }: entries { key = 1; Value value = 2 { string_value = 3 } }.
function struct(tag: number, value: Struct): void {
  const at = begin(tag);
  for (const key in value.fields) {
    const field = value.fields[key];
    if (field === undefined) continue;
    const entry = begin(0x0a);
    stringField(0x0a, key);
    const v = begin(0x12);
    // string_value is a oneof member: present even when empty.
    writeString(0x1a, field.stringValue);
    end(v);
    end(entry);
  }
  end(at);
}

/** The encoded message, in a Buffer of its own (grpc-js may compress it asynchronously). */
export function encodeCheckResponse(response: CheckResponse): Buffer {
  marked = undefined;
  markAt = -1;
  write(response);
  const out = Buffer.allocUnsafe(pos);
  buf.copy(out, 0, 0, pos);
  return out;
}

/**
 * The encoded message in a Buffer of its own that nothing else shares (never a slice of a
 * pooled slab, which would keep the whole slab alive), and where the first string equal to
 * `mark` starts in it (-1 when none).
 */
export function encodeMarked(response: CheckResponse, mark: string | undefined): { bytes: Buffer; at: number } {
  marked = mark;
  markAt = -1;
  write(response);
  const bytes = Buffer.allocUnsafeSlow(pos);
  buf.copy(bytes, 0, 0, pos);
  const at = markAt;
  marked = undefined;
  return { bytes, at };
}

function write(response: CheckResponse): void {
  pos = 0;
  // CheckResponse.status = 1: google.rpc.Status { code = 1; message = 2 }
  const status = begin(0x0a);
  // Written even when 0 (OK), as protobufjs does: clients decoding without defaults then
  // still read status.code 0 instead of undefined.
  if (response.status.code === 0) {
    varint(0x08);
    varint(0);
  } else {
    int32Field(0x08, response.status.code);
  }
  stringField(0x12, response.status.message);
  end(status);
  const denied = response.denied_response;
  if (denied !== undefined) {
    // denied_response = 2: { HttpStatus status = 1 { code = 1 }; headers = 2; body = 3 }
    const at = begin(0x12);
    const httpStatus = begin(0x0a);
    int32Field(0x08, denied.status.code);
    end(httpStatus);
    headers(0x12, denied.headers);
    stringField(0x1a, denied.body);
    end(at);
  }
  const ok = response.ok_response;
  if (ok !== undefined) {
    // ok_response = 3: { headers = 2; headers_to_remove = 5; query_parameters_to_remove = 8 }
    const at = begin(0x1a);
    headers(0x12, ok.headers);
    strings(0x2a, ok.headers_to_remove);
    strings(0x42, ok.query_parameters_to_remove);
    end(at);
  }
  // dynamic_metadata = 4
  if (response.dynamic_metadata !== undefined) struct(0x22, response.dynamic_metadata);
}
