import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { CheckResponse } from '../../src/envoy/check-response.js';
import type { DecodedCheckResponse } from '../../src/grpc/client.js';
import { authorizationServiceDefinition, CHECK_PATH, PROTO_DIR } from '../../src/grpc/proto.js';
import { decodeCheckRequest } from '../../src/grpc/request-decoder.js';
import { fastAuthorizationServiceDefinition } from '../../src/grpc/codec.js';
import { headerValues, type CheckRequest } from '../../src/envoy/check-request.js';
import { encodeCheckResponse } from '../../src/grpc/response-encoder.js';
import { assertAllow, assertDeny } from '../helpers/assertions.js';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { bearer, rawHeaderRequest } from '../helpers/requests.js';
import { adminGet, sample } from '../helpers/scrape.js';
import { startTestService, tempDir, type TestService } from '../helpers/service.js';
import { SAMPLE_ANSWERS } from '../helpers/answers.js';

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

const ANSWERS = SAMPLE_ANSWERS;

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

describe('the server-side Check definition', () => {
  it('has the path and streaming flags proto-loader reads from the proto, so Envoy reaches the handler', () => {
    const ours = fastAuthorizationServiceDefinition();
    assert.deepEqual(Object.keys(ours), ['Check']);
    const lean = ours['Check'];
    assert.ok(lean !== undefined);
    assert.equal(lean.path, CHECK_PATH);
    assert.equal(lean.path, check.path);
    assert.equal(lean.requestStream, check.requestStream);
    assert.equal(lean.responseStream, check.responseStream);
  });

  it('refuses the client half of the codec with an error that says so', () => {
    const lean = fastAuthorizationServiceDefinition()['Check'];
    assert.throws(() => lean?.requestSerialize({}), /server-side only/);
    assert.throws(() => lean?.responseDeserialize(Buffer.alloc(0)), /server-side only/);
  });
});

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
    assert.deepEqual(Object.keys(http), ['path'], 'nothing else is decoded up front');
    assert.equal(http.method, envoyRequest.attributes.request.http.method, 'method: read when a route asks');
    assert.equal(http.host, envoyRequest.attributes.request.http.host, 'host: read when a route asks');
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

  it('throws on a field that runs past the end of the message holding it, as protobufjs does', () => {
    for (const [name, bytes] of Object.entries(OVERRUNS)) {
      assert.throws(() => requestType.decode(bytes), `protobufjs refuses ${name}`);
      assert.throws(() => decodeCheckRequest(bytes), name);
    }
  });
});

/** Messages whose inner field claims more bytes than its parent holds; the bytes exist after it. */
const OVERRUNS: Record<string, Buffer> = {
  // attributes (2 bytes) { request (5 bytes) { http { path: "/" } } }
  'a request running past its attributes': Buffer.from([0x0a, 0x02, 0x22, 0x05, 0x12, 0x03, 0x22, 0x01, 0x2f]),
  // attributes { context_extensions entry (2 bytes) { key (3 bytes): "abc" } }
  'a map entry key running past its entry': Buffer.from([0x0a, 0x07, 0x52, 0x02, 0x0a, 0x03, 0x61, 0x62, 0x63]),
};

const requestType = root.lookupType('envoy.service.auth.v3.CheckRequest');

/**
 * protobuf's MergeFrom, over protobufjs' reflection: what parsing the concatenation of two
 * encoded messages means (scalars last-wins, maps merged with later keys winning, repeated
 * fields concatenated, singular messages merged). protobufjs' own decoder does not merge (it
 * keeps the last occurrence of a singular message), so it decodes each piece alone here.
 */
function mergeFrom(type: protobuf.Type, into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const field of type.fieldsArray) {
    const name = field.name;
    if (!Object.hasOwn(from, name)) continue;
    const value = from[name];
    const mine = Object.hasOwn(into, name) ? into[name] : undefined;
    if (field.map) into[name] = Object.assign({}, mine, value);
    else if (field.repeated) into[name] = [...((mine as unknown[] | undefined) ?? []), ...(value as unknown[])];
    else if (field.resolvedType instanceof protobuf.Type && mine !== undefined) {
      mergeFrom(field.resolvedType, mine as Record<string, unknown>, value as Record<string, unknown>);
    } else into[name] = value;
  }
}

/** From the CheckRequest down to attributes.request.http: the type at each level and the field to the next. */
const CHAIN = [
  { type: 'envoy.service.auth.v3.CheckRequest', field: 'attributes' },
  { type: 'envoy.service.auth.v3.AttributeContext', field: 'request' },
  { type: 'envoy.service.auth.v3.AttributeContext.Request', field: 'http' },
  { type: 'envoy.service.auth.v3.AttributeContext.HttpRequest', field: '' },
] as const;

/**
 * Pieces of the message at CHAIN[depth], each encoded alone and concatenated, then wrapped once
 * in each enclosing message: so the fields of the pieces repeat at that depth. Returns the bytes
 * and the reference: each piece wrapped on its own, decoded by protobufjs, merged in order.
 */
function split(depth: number, pieces: readonly object[]): { bytes: Buffer; reference: CheckRequest } {
  const type = root.lookupType((CHAIN[depth] as (typeof CHAIN)[number]).type);
  let bytes = Buffer.concat(pieces.map((p) => type.encode(type.fromObject(p)).finish()));
  let wrapped = pieces;
  for (let d = depth - 1; d >= 0; d--) {
    const { type: name, field } = CHAIN[d] as (typeof CHAIN)[number];
    const tag = ((root.lookupType(name).fields[field] as protobuf.Field).id << 3) | 2;
    bytes = Buffer.from(protobuf.Writer.create().uint32(tag).bytes(bytes).finish());
    wrapped = wrapped.map((p) => ({ [field]: p }));
  }
  const reference: Record<string, unknown> = {};
  for (const p of wrapped) {
    const alone = requestType.toObject(requestType.decode(requestType.encode(requestType.fromObject(p)).finish()));
    mergeFrom(requestType, reference, alone);
  }
  return { bytes, reference: reference as CheckRequest };
}

/** What the check reads of a request, comparable between our decoder and the reference. */
function reading(request: CheckRequest, names: readonly string[]): object {
  const http = request.attributes?.request?.http ?? undefined;
  return {
    hasHttp: http !== undefined,
    path: http?.path ?? '',
    headers: Object.fromEntries(names.map((n) => [n, http === undefined ? [] : headerValues(http, n)])),
    header_map: (http?.header_map?.headers ?? []).map((h) => [h.key ?? '', h.value ?? '', Buffer.from(h.raw_value ?? []).toString('hex')]),
    context_extensions: { ...request.attributes?.context_extensions },
  };
}

const raw = (lines: readonly [string, string][]) => ({ headers: lines.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) });

/** [depth (CHAIN index), pieces at that depth, header names to look up]. */
const SPLITS: Record<string, [number, object[], string[]]> = {
  'attributes twice: context_extensions in the first, the request in the second': [
    0,
    [{ attributes: { context_extensions: { 'jwt.providers': 'hmac' } } }, { attributes: { request: { http: { path: '/a', headers: { authorization: 'Bearer t' } } } } }],
    ['authorization'],
  ],
  'attributes three times, later context_extensions keys winning': [
    0,
    [
      { attributes: { context_extensions: { 'jwt.providers': 'a', 'jwt.allow-missing': 'true' } } },
      { attributes: { request: { http: { path: '/p' } } } },
      { attributes: { context_extensions: { 'jwt.providers': 'b', other: 'x' } } },
    ],
    [],
  ],
  'attributes twice, each with header_map: the lines of both kept': [
    0,
    [{ attributes: { request: { http: { header_map: raw([['authorization', 'Bearer one']]) } } } }, { attributes: { request: { http: { header_map: raw([['authorization', 'Bearer two'], ['x-b', '2']]) } } } }],
    ['authorization', 'x-b'],
  ],
  'request twice: headers maps merged with later keys winning, path last-wins': [
    1,
    [
      { request: { http: { path: '/one', headers: { authorization: 'Bearer one', 'x-a': '1' } } } },
      { request: { http: { path: '/two', headers: { authorization: 'Bearer two', 'x-b': '2' } } } },
    ],
    ['authorization', 'x-a', 'x-b', 'x-c'],
  ],
  'http twice: header_map lines concatenated, a path in the first only': [
    2,
    [{ http: { path: '/kept', header_map: raw([['authorization', 'Bearer one']]) } }, { http: { header_map: raw([['authorization', 'Bearer two']]) } }],
    ['authorization'],
  ],
  'header_map and path twice inside one http, beside headers': [
    3,
    [
      { path: '/one', headers: { cookie: 'a=1' }, header_map: raw([[':path', '/one']]) },
      { path: '/two', headers: { cookie: 'b=2' }, header_map: { headers: [{ key: 'authorization', value: 'Bearer v' }] } },
    ],
    ['authorization', 'cookie', ':path'],
  ],
};

describe('request decoder: a singular message field seen several times is merged, as protobuf does', () => {
  for (const [name, [depth, pieces, names]] of Object.entries(SPLITS)) {
    it(`reads ${name} as protobuf's merge of the pieces`, () => {
      const { bytes, reference } = split(depth, pieces);
      assert.deepEqual(reading(decodeCheckRequest(bytes), names), reading(reference, names));
    });
  }

  it('keeps a route restriction and two authorization lines that arrive in separate occurrences', () => {
    const [, extensionsFirst] = SPLITS['attributes twice: context_extensions in the first, the request in the second'] as [number, object[], string[]];
    const a = decodeCheckRequest(split(0, extensionsFirst).bytes);
    assert.equal(a.attributes?.context_extensions?.['jwt.providers'], 'hmac');
    assert.equal(a.attributes?.request?.http?.path, '/a');
    const [, lines] = SPLITS['attributes twice, each with header_map: the lines of both kept'] as [number, object[], string[]];
    const http = decodeCheckRequest(split(0, lines).bytes).attributes?.request?.http;
    assert.ok(http !== undefined && http !== null);
    assert.deepEqual(headerValues(http, 'authorization'), ['Bearer one', 'Bearer two']);
  });
});

/** Sends `bytes` as the Check request body, unencoded: what a client with its own encoder may send. */
function checkRaw(address: string, bytes: Buffer): Promise<DecodedCheckResponse> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      CHECK_PATH,
      (b: Buffer) => b,
      decodeResponse,
      bytes,
      { deadline: Date.now() + 5000 },
      (err: ServiceError | null, value?: object) => {
        client.close();
        if (err) reject(err);
        else resolve(value as DecodedCheckResponse);
      },
    );
  });
}

describe('Check over gRPC with hand-made request bytes', () => {
  const IDP = 'https://idp.test/';
  const keys = testKeys();
  let t: TestService;
  const corpToken = () => sign({ iss: IDP, aud: 'trino', sub: 'alice', exp: nowSeconds() + 600 }, keys.rsa.privateKey);
  const metrics = async () => (await adminGet(t.service.adminAddress ?? '', '/metrics')).body;

  before(async () => {
    const dir = tempDir();
    writeKey(dir, 'rsa.pem', keys.rsa.publicKey);
    writeKey(dir, 'hmac.key', keys.hmac);
    t = await startTestService(
      `
providers:
  - name: corp
    key-file: rsa.pem
    required-issuer: ${IDP}
  - name: hmac
    key-file: hmac.key
    required-issuer: https://hmac.test/
`,
      { dir },
    );
  });
  after(() => t.close());

  it('denies with issuer_mismatch a route-restricted token when attributes is split in two', async () => {
    const token = await corpToken();
    const request = encodeRequest(bearer(token));
    assertAllow(await checkRaw(t.service.grpcAddress, request));
    const restriction = encodeRequest({ attributes: { context_extensions: { 'jwt.providers': 'hmac' } } });
    assertDeny(await checkRaw(t.service.grpcAddress, Buffer.concat([restriction, request])), 'issuer_mismatch');
  });

  it('denies with malformed_token two authorization lines sent in two request occurrences', async () => {
    const line = encodeRequest(rawHeaderRequest([['authorization', `Bearer ${await corpToken()}`]]));
    assertAllow(await checkRaw(t.service.grpcAddress, line));
    assertDeny(await checkRaw(t.service.grpcAddress, Buffer.concat([line, line])), 'malformed_token');
  });

  it('denies with 503 internal_error when the request bytes cannot be decoded, and counts it', async () => {
    const garbage: Record<string, Buffer> = {
      'a truncated varint': Buffer.from([0x0a, 0x80]),
      'a field 1 whose length runs past the end': Buffer.from([0x0a, 0x10, 0x22, 0x00]),
      'wire type 7': Buffer.from([0x0f]),
      ...OVERRUNS,
    };
    const series = 'jwt_ext_authz_rejections_total{reason="internal_error",provider=""}';
    const denies = 'jwt_ext_authz_checks_total{decision="deny",transport="grpc"}';
    const before = await metrics();
    const warnings = () => t.logs.join('').split('\n').filter((l) => l.includes('the request could not be decoded') && l.includes('"reason":"internal_error"')).length;
    const warned = warnings();
    for (const [name, bytes] of Object.entries(garbage)) {
      const res = await checkRaw(t.service.grpcAddress, bytes).catch((e: unknown) => assert.fail(`${name}: gRPC error ${String(e)}`));
      assertDeny(res, 'internal_error', 503, 14);
    }
    const n = Object.keys(garbage).length;
    const after = await metrics();
    assert.equal((sample(after, series) ?? 0) - (sample(before, series) ?? 0), n);
    assert.equal((sample(after, denies) ?? 0) - (sample(before, denies) ?? 0), n);
    assert.equal(warnings() - warned, n, 'one deny log line per undecodable request');
  });
});
