import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import type { CheckResponse } from '../../src/authz/response.js';
import { setHeader } from '../../src/authz/headers.js';
import { authorizationServiceDefinition, PROTO_DIR } from '../../src/grpc/proto.js';
import { decodeCheckRequest } from '../../src/grpc/request-decoder.js';
import { headerValues } from '../../src/token/request.js';
import { encodeCheckResponse } from '../../src/grpc/response-encoder.js';

// proto-loader's codec (what Envoy-compatible clients and our tests use) is the reference.
const check = authorizationServiceDefinition()['Check'];
assert.ok(check !== undefined);
const encodeRequest = check.requestSerialize as (value: object) => Buffer;
const encodeResponseStandard = check.responseSerialize as (value: object) => Buffer;
const decodeResponse = check.responseDeserialize as (bytes: Buffer) => object;

// proto3 semantics: a field written with its default value and an absent one are the same message.
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_DIR, target));
root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true });
const responseType = root.lookupType('envoy.service.auth.v3.CheckResponse');
const meaning = (bytes: Uint8Array): object => responseType.toObject(responseType.decode(bytes), { defaults: true, longs: String, enums: Number });

const long = (n: number): string => 'x'.repeat(n);
const meta = (fields: Record<string, string>) => ({ fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { stringValue: v }])) });

const ANSWERS: Record<string, CheckResponse> = {
  'an empty OK': { status: { code: 0 } },
  'an allow with headers, removals and dynamic metadata': {
    status: { code: 0 },
    ok_response: {
      headers: [setHeader('x-jwt-principal', 'alice'), setHeader('x-forwarded-access-token', `ey.${long(900)}.sig`)],
      headers_to_remove: ['x_jwt_principal', 'cookie', ''],
      query_parameters_to_remove: ['access_token'],
    },
    dynamic_metadata: meta({ principal: 'alice@example.com', user: 'alice', provider: 'corp', iss: 'https://idp/', sub: '' }),
  },
  'an allow with non-ASCII values and an appended header': {
    status: { code: 0 },
    ok_response: {
      headers: [setHeader('x-name', 'Zoë 日本 😀'), { header: { key: 'x-a', value: '' }, append: { value: true }, append_action: 0 }],
      headers_to_remove: [],
      query_parameters_to_remove: [],
    },
    dynamic_metadata: meta({ 'ключ': 'значение 😀' }),
  },
  'a 401 deny with a challenge and a JSON body': {
    status: { code: 16 },
    denied_response: {
      status: { code: 401 },
      headers: [setHeader('content-type', 'application/json'), setHeader('www-authenticate', 'Bearer realm="trino", error="invalid_token"')],
      body: '{"error":"invalid_token","reason":"expired","message":"the token has expired"}',
    },
  },
  'a token page whose body needs a three-byte length': {
    status: { code: 7, message: 'token page' },
    denied_response: { status: { code: 200 }, headers: [setHeader('content-type', 'text/html')], body: `<p>${long(20_000)}</p>` },
  },
  'a body past the 16 KiB scratch buffer and a two-byte header length': {
    status: { code: 14 },
    denied_response: { status: { code: 503 }, headers: [setHeader('x-big', long(200))], body: long(70_000) },
  },
  'a negative status code (sign-extended varint)': { status: { code: -3 } },
};

describe('response encoder', () => {
  for (const [name, answer] of Object.entries(ANSWERS)) {
    it(`writes ${name} as the message protobufjs' own encoding carries`, () => {
      assert.deepEqual(meaning(encodeCheckResponse(answer)), meaning(encodeResponseStandard(answer)));
    });
  }

  it('writes status.code 0 explicitly, so clients decoding without defaults read 0, not undefined', () => {
    assert.deepEqual(decodeResponse(encodeCheckResponse({ status: { code: 0 } })), { status: { code: 0 } });
  });

  it('hands out a buffer of its own for every answer', () => {
    const a = encodeCheckResponse(ANSWERS['an empty OK'] as CheckResponse);
    const copy = Buffer.from(a);
    encodeCheckResponse(ANSWERS['a 401 deny with a challenge and a JSON body'] as CheckResponse);
    assert.deepEqual(a, copy);
  });

  it('keeps append=false on the wire as an empty BoolValue (what makes Envoy overwrite)', () => {
    const decoded = decodeResponse(encodeCheckResponse(ANSWERS['an allow with headers, removals and dynamic metadata'] as CheckResponse)) as {
      ok_response: { headers: { append?: { value?: boolean }; append_action?: number }[] };
    };
    const first = decoded.ok_response.headers[0];
    assert.ok(first?.append !== undefined, 'append wrapper present');
    assert.equal(first.append.value ?? false, false);
    assert.equal(first.append_action, 2);
  });
});

const envoyRequest = {
  attributes: {
    source: { address: { socket_address: { address: '10.0.0.1', port_value: 5555 } }, principal: 'spiffe://a', labels: { app: 'x' } },
    destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8443 } } },
    request: {
      time: { seconds: '1700000000', nanos: 5 },
      http: {
        id: '42',
        method: 'POST',
        path: '/v1/statement?x=1',
        host: 'trino',
        scheme: 'https',
        size: '123',
        protocol: 'HTTP/2',
        headers: { authorization: 'Bearer abc', 'x-request-id': 'r-1', __proto__: 'p', constructor: 'c', 'x-empty': '' },
      },
    },
    context_extensions: { 'jwt.providers': 'a,b', 'jwt.allow-missing': 'true' },
    metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { a: { stringValue: 'b' } } } } },
    tls_session: { sni: 'trino.example.com' },
  },
};

describe('request decoder', () => {
  it('reads path, headers and context_extensions and skips everything else Envoy sends', () => {
    // `__proto__` in a literal sets the prototype; build the header map by assignment instead.
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    Object.assign(headers, envoyRequest.attributes.request.http.headers);
    Object.defineProperty(headers, '__proto__', { value: 'p', enumerable: true });
    const request = structuredClone(envoyRequest);
    (request.attributes.request.http as { headers: unknown }).headers = headers;

    const decoded = decodeCheckRequest(encodeRequest(request));
    const http = decoded.attributes?.request?.http;
    assert.ok(http !== undefined && http !== null);
    assert.equal(http.path, '/v1/statement?x=1');
    const header = (name: string) => headerValues(http, name)[0];
    assert.equal(header('authorization'), 'Bearer abc');
    assert.equal(header('x-empty'), '');
    assert.equal(header('__proto__'), 'p');
    assert.equal(header('constructor'), 'c');
    assert.equal(header('toString'), undefined, 'no prototype behind the header map');
    assert.equal(header('Authorization'), undefined, 'names match exactly, as map keys do');
    assert.equal(header('x-request-i'), undefined);
    assert.deepEqual({ ...decoded.attributes?.context_extensions }, { 'jwt.providers': 'a,b', 'jwt.allow-missing': 'true' });
    assert.deepEqual(Object.keys(http).sort(), ['lookupHeader', 'path']);
  });

  it('reads header values as UTF-8 and lets the last of two entries with one name win, as a map does', () => {
    // Two entries for one key cannot be built through an object: write the message by hand.
    const entry = (k: string, v: string) => protobuf.Writer.create().uint32(0x0a).string(k).uint32(0x12).string(v).finish();
    const httpBytes = protobuf.Writer.create().uint32(0x1a).bytes(entry('x-name', 'first')).uint32(0x1a).bytes(entry('x-name', 'second')).finish();
    const requestBytes = protobuf.Writer.create().uint32(0x12).bytes(httpBytes).finish();
    const attributes = protobuf.Writer.create().uint32(0x22).bytes(requestBytes).finish();
    const message = Buffer.from(protobuf.Writer.create().uint32(0x0a).bytes(attributes).finish());
    const http1 = decodeCheckRequest(message).attributes?.request?.http;
    assert.ok(http1 !== undefined && http1 !== null);
    assert.equal(headerValues(http1, 'x-name')[0], 'second');
    const one = encodeRequest({ attributes: { request: { http: { headers: { 'x-name': 'Zoë 😀' } } } } });
    const http2 = decodeCheckRequest(one).attributes?.request?.http;
    assert.ok(http2 !== undefined && http2 !== null);
    assert.equal(headerValues(http2, 'x-name')[0], 'Zoë 😀');
  });

  it('reads header_map entries (encode_raw_headers) with value or raw_value', () => {
    const bytes = encodeRequest({
      attributes: { request: { http: { header_map: { headers: [{ key: 'authorization', raw_value: Buffer.from('Bearer r') }, { key: 'cookie', value: 'a=1' }] } } } },
    });
    const http = decodeCheckRequest(bytes).attributes?.request?.http;
    assert.equal(http?.header_map?.headers?.length, 2);
    assert.equal(Buffer.from(http?.header_map?.headers?.[0]?.raw_value ?? []).toString(), 'Bearer r');
    assert.equal(http?.header_map?.headers?.[1]?.value, 'a=1');
  });

  it('decodes an empty message to a request without attributes', () => {
    assert.deepEqual(decodeCheckRequest(Buffer.alloc(0)), {});
  });

  it('throws (never hangs) on truncated or invalid bytes, as protobufjs does', () => {
    const bytes = encodeRequest(envoyRequest);
    assert.throws(() => decodeCheckRequest(bytes.subarray(0, bytes.length - 3)));
    assert.throws(() => decodeCheckRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
    assert.throws(() => decodeCheckRequest(Buffer.from([0x0f])), 'wire type 7 is invalid');
  });
});
