/** Pre-encoded Check requests: the 5-byte gRPC frame header plus a serialized CheckRequest. */
import { authorizationServiceDefinition, CHECK_PATH } from '../../src/grpc/proto.js';

export { CHECK_PATH };

/** A CheckRequest as Envoy sends it for a Trino CLI call (default header encoding). */
export function checkRequest(token: string, i: number): object {
  const path = '/v1/statement';
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.3.17', port_value: 40000 + (i % 20000) } } },
      destination: { address: { socket_address: { address: '10.0.5.2', port_value: 8443 } } },
      request: {
        http: {
          id: String(1_000_000 + i),
          method: 'POST',
          path,
          host: 'trino.example.com',
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: {
            ':authority': 'trino.example.com',
            ':method': 'POST',
            ':path': path,
            ':scheme': 'https',
            accept: 'application/json',
            'content-type': 'text/plain; charset=utf-8',
            'user-agent': 'Trino CLI/435',
            'x-forwarded-proto': 'https',
            'x-request-id': `6f1c2a9e-0b7d-4c7e-9a51-${String(i).padStart(12, '0')}`,
            'x-trino-source': 'trino-cli',
            authorization: `Bearer ${token}`,
          },
        },
      },
    },
  };
}

let serialize: ((value: object) => Buffer) | undefined;

/** The message body of one HTTP/2 request: 0x00, 4-byte big-endian length, CheckRequest bytes. */
export function frame(request: object): Buffer {
  if (serialize === undefined) {
    const check = authorizationServiceDefinition()['Check'];
    if (check === undefined) throw new Error('Check missing from the proto');
    serialize = check.requestSerialize as (value: object) => Buffer;
  }
  const message = serialize(request);
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

export const frameFor = (token: string, i: number): Buffer => frame(checkRequest(token, i));

/**
 * status.code of a CheckResponse frame without a protobuf decoder: field 1 (Status) and its
 * field 1 (code). proto3 omits a zero code, so an absent field is 0 (OK). -1: not parseable.
 */
export function decisionCode(frameBytes: Buffer): number {
  if (frameBytes.length < 5) return -1;
  let p = 5;
  if (frameBytes.length === 5 || frameBytes[p] !== 0x0a) return 0;
  p++;
  // length varint of the Status message
  let len = 0;
  for (let shift = 0; p < frameBytes.length; shift += 7) {
    const b = frameBytes[p++] ?? 0;
    len |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
  }
  if (len === 0 || frameBytes[p] !== 0x08) return 0;
  p++;
  let code = 0;
  for (let shift = 0; p < frameBytes.length; shift += 7) {
    const b = frameBytes[p++] ?? 0;
    code |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
  }
  return code;
}
