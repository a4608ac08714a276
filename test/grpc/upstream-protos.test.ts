import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { headerValues, requestPath, type CheckRequest, type HttpRequestAttributes } from '../../src/envoy/check-request.js';
import { setHeader, type CheckResponse } from '../../src/envoy/check-response.js';
import { PROTO_DIR } from '../../src/grpc/proto.js';
import { decodeCheckRequest } from '../../src/grpc/request-decoder.js';
import { encodeCheckResponse } from '../../src/grpc/response-encoder.js';
import { SAMPLE_ANSWERS } from '../helpers/answers.js';

/**
 * Our protos (proto/) are hand-written subsets of Envoy's API, and test/grpc/codec.test.ts holds
 * our codec to protobufjs loading those same files: a field number wrong in both would pass there.
 * Here upstream Envoy's own protos, as @grpc/grpc-js-xds ships them, are the judge.
 */

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
/** Include roots: Envoy's API, then what it imports (udpa/xds annotations, validate, google.rpc). */
const UPSTREAM_ROOTS = ['envoy-api', 'xds', 'protoc-gen-validate', 'googleapis'].map((d) => join(DEPS, d));
/** google/protobuf/*: protobufjs bundles any, struct, wrappers...; descriptor.proto (the annotations extend it) is a file in its package. */
const PROTOBUFJS = dirname(require.resolve('protobufjs/package.json'));

function load(roots: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target.startsWith('google/protobuf/')) {
      const file = join(PROTOBUFJS, target);
      return existsSync(file) ? file : target;
    }
    for (const dir of roots) {
      const file = join(dir, target);
      if (existsSync(file)) return file;
    }
    throw new Error(`${target} is under none of ${roots.join(', ')}`);
  };
  root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

const upstream = load(UPSTREAM_ROOTS);
const ours = load([PROTO_DIR]);

/** Every type, enum and service declared in a file under proto/ (not protobufjs' bundled google.protobuf). */
function declared(ns: protobuf.NamespaceBase): protobuf.ReflectionObject[] {
  const out: protobuf.ReflectionObject[] = [];
  for (const child of ns.nestedArray) {
    if (child.filename?.startsWith(PROTO_DIR)) out.push(child);
    if (child instanceof protobuf.Namespace) out.push(...declared(child));
  }
  return out;
}

const OURS = declared(ours);
const messages = OURS.filter((o): o is protobuf.Type => o instanceof protobuf.Type);
const enums = OURS.filter((o): o is protobuf.Enum => o instanceof protobuf.Enum);

/** What matters of a field on the wire and to a reader: scalars by name, messages and enums by full name. */
function shape(field: protobuf.Field): object {
  field.resolve();
  return {
    id: field.id,
    type: field.resolvedType !== null ? field.resolvedType.fullName : field.type,
    repeated: field.repeated,
    map: field.map,
    keyType: field instanceof protobuf.MapField ? field.keyType : undefined,
  };
}

/**
 * Fields Envoy added after the envoy-api snapshot @grpc/grpc-js-xds ships: held to what Envoy's
 * API declares (checked by hand against envoyproxy/data-plane-api) while the snapshot lacks them,
 * and to the snapshot itself once it has them.
 */
const NEWER_THAN_SNAPSHOT: Record<string, object> = {
  // envoyproxy/envoy#38945 (April 2025): the network namespace a listener or cluster address lives in.
  '.envoy.config.core.v3.SocketAddress.network_namespace_filepath': { id: 7, type: 'string', repeated: false, map: false, keyType: undefined, oneof: undefined },
  // envoyproxy/envoy#42099 (December 2025): a custom HTTP reply for errors, as denied_response is for denials.
  '.envoy.service.auth.v3.CheckResponse.error_response': {
    id: 5,
    type: '.envoy.service.auth.v3.DeniedHttpResponse',
    repeated: false,
    map: false,
    keyType: undefined,
    oneof: 'http_response',
  },
};

describe('our protos against upstream Envoy', () => {
  it('walks every message and enum of proto/', () => {
    assert.ok(messages.length >= 10, `${messages.length} messages`);
    assert.ok(enums.length >= 2, `${enums.length} enums`);
    for (const name of ['.envoy.service.auth.v3.CheckRequest', '.envoy.config.core.v3.HeaderValueOption', '.google.rpc.Status']) {
      assert.ok(messages.some((m) => m.fullName === name), name);
    }
  });

  it('declares only fields that upstream Envoy declares, with the same numbers and types', () => {
    const problems: string[] = [];
    for (const mine of messages) {
      const theirs = upstream.lookup(mine.fullName);
      if (!(theirs instanceof protobuf.Type)) {
        problems.push(`${mine.fullName}: upstream has no such message`);
        continue;
      }
      for (const field of mine.fieldsArray) {
        const name = `${mine.fullName}.${field.name}`;
        const other: protobuf.Field | undefined = theirs.fields[field.name];
        const expected: object | undefined = other !== undefined ? { ...shape(other), oneof: other.partOf?.name } : NEWER_THAN_SNAPSHOT[name];
        if (expected === undefined) {
          problems.push(`${name}: upstream ${mine.fullName} has no field ${field.name}`);
          continue;
        }
        const actual = { ...shape(field), oneof: field.partOf?.name };
        try {
          assert.deepEqual(actual, expected);
        } catch {
          problems.push(`${name}: ours ${JSON.stringify(actual)}, upstream ${JSON.stringify(expected)}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('declares only enum values that upstream Envoy declares, with the same numbers', () => {
    const problems: string[] = [];
    for (const mine of enums) {
      const theirs = upstream.lookup(mine.fullName);
      if (!(theirs instanceof protobuf.Enum)) {
        problems.push(`${mine.fullName}: upstream has no such enum`);
        continue;
      }
      for (const [name, number] of Object.entries(mine.values)) {
        if (theirs.values[name] !== number) problems.push(`${mine.fullName}.${name}: ours ${number}, upstream ${String(theirs.values[name])}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('declares Authorization.Check with the request and response types upstream declares', () => {
    const method = (root: protobuf.Root) => {
      const m = root.lookupService('envoy.service.auth.v3.Authorization').methods['Check'];
      assert.ok(m !== undefined);
      m.resolve();
      return {
        request: m.resolvedRequestType?.fullName,
        response: m.resolvedResponseType?.fullName,
        requestStream: m.requestStream ?? false,
        responseStream: m.responseStream ?? false,
      };
    };
    assert.deepEqual(method(ours), method(upstream));
    assert.deepEqual(method(ours), { request: '.envoy.service.auth.v3.CheckRequest', response: '.envoy.service.auth.v3.CheckResponse', requestStream: false, responseStream: false });
  });
});

const upstreamRequest = upstream.lookupType('envoy.service.auth.v3.CheckRequest');
const upstreamResponse = upstream.lookupType('envoy.service.auth.v3.CheckResponse');

const peer = (address: object, extra: object = {}) => ({ address, service: 'svc', labels: { app: 'trino', tier: 'x' }, principal: 'spiffe://cluster/ns/a', certificate: '-----BEGIN%20CERTIFICATE-----', ...extra });
const struct = { fields: { a: { stringValue: 'b' }, n: { numberValue: 2 }, l: { listValue: { values: [{ boolValue: true }] } } } };
const typed = { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from([0x0a, 0x01, 0x78]) };
const lines = (entries: readonly [string, string][]) => entries.map(([key, v]) => ({ key, raw_value: Buffer.from(v, 'latin1') }));

/** [request, written with the upstream schema; header names to look up]. */
const REQUESTS: Record<string, [object, string[]]> = {
  'everything Envoy sends, with the headers map': [
    {
      attributes: {
        source: peer({ socket_address: { protocol: 'TCP', address: '10.0.0.1', port_value: 5555, resolver_name: 'r', ipv4_compat: true } }),
        destination: peer({ socket_address: { address: '::1', named_port: 'https' } }),
        request: {
          time: { seconds: '1700000000', nanos: 5 },
          http: {
            id: '42',
            method: 'POST',
            headers: { authorization: 'Bearer abc.def.ghi', ':path': '/other', cookie: 'a=1; b=2', 'x-forwarded-for': '1.2.3.4, 5.6.7.8', 'x-empty': '', 'x-utf8': 'Zoë 😀' },
            path: '/v1/statement?x=1&y=%20',
            host: 'trino.example.com',
            scheme: 'https',
            query: 'x=1&y=%20',
            fragment: 'frag',
            size: '123456789012',
            protocol: 'HTTP/2',
            body: '{"query":"SELECT 1"}',
            raw_body: Buffer.from([0, 1, 2, 0xff, 0x0a]),
          },
        },
        context_extensions: { 'jwt.providers': 'corp,hmac', 'jwt.allow-missing': 'true', other: '' },
        metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': struct }, typed_filter_metadata: { t: typed } },
        route_metadata_context: { filter_metadata: { route: struct } },
        tls_session: { sni: 'trino.example.com' },
      },
    },
    ['authorization', ':path', 'cookie', 'x-forwarded-for', 'x-empty', 'x-utf8', 'x-absent'],
  ],
  'header_map (encode_raw_headers) with value and raw_value lines': [
    {
      attributes: {
        source: peer({ pipe: { path: '/run/envoy.sock', mode: 0o600 } }),
        destination: peer({ envoy_internal_address: { server_listener_name: 'internal', endpoint_id: 'e1' } }),
        request: {
          http: {
            method: 'GET',
            host: 'trino',
            body: 'x'.repeat(3000),
            raw_body: Buffer.alloc(20_000, 7),
            header_map: {
              headers: [
                { key: ':path', raw_value: Buffer.from('/ui/api/query?token=1') },
                { key: 'authorization', raw_value: Buffer.from('Bearer one') },
                { key: 'Authorization', value: 'Bearer two' },
                { key: 'x-latin1', raw_value: Buffer.from([0x63, 0x61, 0x66, 0xe9]) },
                { key: 'cookie', value: 'a=1', raw_value: Buffer.from('ignored') },
                ...lines([['cookie', 'b=2']]),
              ],
            },
          },
        },
        context_extensions: { 'jwt.providers': 'corp' },
        tls_session: { sni: '' },
        metadata_context: {},
      },
    },
    ['authorization', ':path', 'cookie', 'x-latin1', 'x-absent'],
  ],
  'both the headers map and header_map, path empty': [
    {
      attributes: {
        request: { http: { headers: { authorization: 'Bearer map' }, header_map: { headers: lines([[':path', '/from/header_map?q=1'], ['authorization', 'Bearer raw']]) }, query: 'q=1' } },
      },
    },
    ['authorization', ':path'],
  ],
  'only peers and metadata, no request': [
    { attributes: { source: peer({ socket_address: { address: '10.0.0.9', port_value: 1 } }), metadata_context: { filter_metadata: { a: struct } }, context_extensions: { k: 'v' } } },
    ['authorization'],
  ],
};

/** What the check reads of a request. */
function reading(request: CheckRequest, names: readonly string[]): object {
  const http: HttpRequestAttributes | undefined = request.attributes?.request?.http ?? undefined;
  return {
    http: http !== undefined,
    path: http === undefined ? '' : requestPath(http),
    headers: Object.fromEntries(names.map((n) => [n, http === undefined ? [] : headerValues(http, n)])),
    header_map: (http?.header_map?.headers ?? []).map((h) => [h.key ?? '', h.value ?? '', Buffer.from(h.raw_value ?? []).toString('hex')]),
    context_extensions: { ...request.attributes?.context_extensions },
  };
}

describe('request decoder against upstream Envoy', () => {
  for (const [name, [request, names]] of Object.entries(REQUESTS)) {
    it(`reads ${name} as upstream's schema writes it`, () => {
      const message = upstreamRequest.fromObject(request);
      const bytes = upstreamRequest.encode(message).finish();
      // The reference: upstream's own decoding of the same bytes, read through the same accessors.
      const reference = upstreamRequest.toObject(upstreamRequest.decode(bytes), { longs: String, enums: Number }) as CheckRequest;
      assert.deepEqual(reading(decodeCheckRequest(bytes), names), reading(reference, names));
    });
  }

  it('reads the header values, path and context_extensions written, not merely what the reference reads', () => {
    const read = (name: string) => {
      const [request, names] = REQUESTS[name] as [object, string[]];
      return reading(decodeCheckRequest(upstreamRequest.encode(upstreamRequest.fromObject(request)).finish()), names) as {
        path: string;
        headers: Record<string, readonly string[]>;
        context_extensions: Record<string, string>;
      };
    };
    const map = read('everything Envoy sends, with the headers map');
    assert.equal(map.path, '/v1/statement?x=1&y=%20');
    assert.deepEqual(map.headers['authorization'], ['Bearer abc.def.ghi']);
    assert.deepEqual(map.headers['x-empty'], ['']);
    assert.deepEqual(map.headers['x-utf8'], ['Zoë 😀']);
    assert.deepEqual(map.headers['x-absent'], []);
    assert.deepEqual(map.context_extensions, { 'jwt.providers': 'corp,hmac', 'jwt.allow-missing': 'true', other: '' });
    const raw = read('header_map (encode_raw_headers) with value and raw_value lines');
    assert.equal(raw.path, '/ui/api/query?token=1');
    assert.deepEqual(raw.headers['authorization'], ['Bearer one', 'Bearer two']);
    assert.deepEqual(raw.headers['cookie'], ['a=1', 'b=2']);
    assert.deepEqual(raw.headers['x-latin1'], ['café']);
    assert.equal(read('both the headers map and header_map, path empty').path, '/from/header_map?q=1');
  });
});

const ANSWERS = SAMPLE_ANSWERS;

const MEANING = { defaults: true, longs: String, enums: Number } as const;

/** Every value `input` holds is in `decoded` (read with defaults), at the same place. */
function assertCarries(decoded: unknown, input: unknown, at: string): void {
  if (Array.isArray(input)) {
    assert.ok(Array.isArray(decoded), `${at}: an array`);
    assert.equal(decoded.length, input.length, `${at}: length`);
    input.forEach((v, i) => assertCarries(decoded[i], v, `${at}[${i}]`));
  } else if (typeof input === 'object' && input !== null) {
    assert.ok(typeof decoded === 'object' && decoded !== null, `${at}: present`);
    for (const [k, v] of Object.entries(input)) assertCarries((decoded as Record<string, unknown>)[k], v, `${at}.${k}`);
  } else {
    assert.equal(decoded, input, at);
  }
}

describe('response encoder against upstream Envoy', () => {
  for (const [name, answer] of Object.entries(ANSWERS)) {
    it(`writes ${name} as upstream's CheckResponse reads it`, () => {
      const decoded = upstreamResponse.toObject(upstreamResponse.decode(encodeCheckResponse(answer)), MEANING);
      assertCarries(decoded, answer, 'CheckResponse');
      // Nothing beyond the input either: the same as upstream's own encoding of it.
      assert.deepEqual(decoded, upstreamResponse.toObject(upstreamResponse.fromObject(answer), MEANING));
    });
  }

  it('writes append (BoolValue, field 2) and append_action (field 3) as upstream reads them', () => {
    const answer = ANSWERS['an allow with non-ASCII values and appended headers'] as CheckResponse;
    const decoded = upstreamResponse.toObject(upstreamResponse.decode(encodeCheckResponse(answer)), { longs: String, enums: Number }) as {
      ok_response: { headers: { header: { key: string }; append?: { value?: boolean }; append_action?: number }[] };
    };
    const written = answer.ok_response?.headers ?? [];
    assert.equal(decoded.ok_response.headers.length, written.length);
    decoded.ok_response.headers.forEach((h, i) => {
      const w = written[i];
      assert.ok(w !== undefined);
      assert.equal(h.header.key, w.header.key);
      assert.ok(h.append !== undefined, `${w.header.key}: the append wrapper is on the wire, even for false`);
      assert.equal(h.append.value ?? false, w.append.value, `${w.header.key}: append`);
      assert.equal(h.append_action ?? 0, w.append_action, `${w.header.key}: append_action`);
    });
    const option = upstream.lookupType('envoy.config.core.v3.HeaderValueOption');
    assert.equal(option.fields['append']?.id, 2);
    assert.equal(option.fields['append']?.resolvedType?.fullName, '.google.protobuf.BoolValue');
    assert.equal(option.fields['append_action']?.id, 3);
  });
});
