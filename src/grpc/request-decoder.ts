import protobuf from 'protobufjs';
import type { CheckRequest, CheckRequestAttributes, HeaderValue, HttpRequestAttributes } from '../token/request.js';

/**
 * CheckRequest bytes → the fields the check reads, and nothing else: attributes.request.http
 * (`path`, `headers`, `header_map`) and attributes.context_extensions. Everything else Envoy
 * sends (peers, addresses, metadata, TLS session, body) is skipped unread, which protobufjs'
 * full decoder cannot do for fields our protos declare. Uses protobufjs' Reader; field numbers
 * are those of proto/ (Envoy's API). Maps are null-prototype objects: a header named
 * `__proto__` or `constructor` is just a header. Malformed bytes throw, as protobufjs does.
 */

export function decodeCheckRequest(bytes: Uint8Array): CheckRequest {
  const r = protobuf.Reader.create(bytes);
  let attributes: CheckRequestAttributes | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    // attributes = 1
    if (tag === 0x0a) attributes = attributeContext(r, r.uint32() + r.pos);
    else r.skipType(tag & 7);
  }
  return attributes === undefined ? {} : { attributes };
}

function attributeContext(r: protobuf.Reader, end: number): CheckRequestAttributes {
  let http: HttpRequestAttributes | undefined;
  let extensions: Record<string, string> | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x22) {
      // request = 4: Request { http = 2 }
      const requestEnd = r.uint32() + r.pos;
      while (r.pos < requestEnd) {
        const t = r.uint32();
        if (t === 0x12) http = httpRequest(r, r.uint32() + r.pos);
        else r.skipType(t & 7);
      }
    } else if (tag === 0x52) {
      // context_extensions = 10: map<string, string>
      mapEntry(r, (extensions ??= Object.create(null) as Record<string, string>));
    } else {
      r.skipType(tag & 7);
    }
  }
  const out: { request?: { http: HttpRequestAttributes }; context_extensions?: Record<string, string> } = {};
  if (http !== undefined) out.request = { http };
  if (extensions !== undefined) out.context_extensions = extensions;
  return out;
}

function httpRequest(r: protobuf.Reader, end: number): HttpRequestAttributes {
  let headers: Record<string, string> | undefined;
  let path: string | undefined;
  let headerMap: HeaderValue[] | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x1a) {
      // headers = 3: map<string, string>
      mapEntry(r, (headers ??= Object.create(null) as Record<string, string>));
    } else if (tag === 0x22) {
      // path = 4
      path = r.string();
    } else if (tag === 0x6a) {
      // header_map = 13: HeaderMap { repeated HeaderValue headers = 1 }
      const mapEnd = r.uint32() + r.pos;
      headerMap ??= [];
      while (r.pos < mapEnd) {
        const t = r.uint32();
        if (t === 0x0a) headerMap.push(headerValue(r, r.uint32() + r.pos));
        else r.skipType(t & 7);
      }
    } else {
      r.skipType(tag & 7);
    }
  }
  const out: { path?: string; headers?: Record<string, string>; header_map?: { headers: HeaderValue[] } } = {};
  if (path !== undefined) out.path = path;
  if (headers !== undefined) out.headers = headers;
  if (headerMap !== undefined) out.header_map = { headers: headerMap };
  return out;
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
  return out;
}

/** One map<string, string> entry { key = 1; value = 2 }; absent parts are "" (proto3). */
function mapEntry(r: protobuf.Reader, into: Record<string, string>): void {
  const end = r.uint32() + r.pos;
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) value = r.string();
    else r.skipType(tag & 7);
  }
  into[key] = value;
}
