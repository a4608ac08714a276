import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { authorizationServiceDefinition, PROTO_DIR } from './proto.js';

/**
 * A leaner codec for our own server side of Check. proto-loader converts every request to a
 * plain object (toObject) and every response from one (fromObject): two full copies per call.
 * Here the request is the decoded message itself (map fields are plain objects, unset scalars
 * read as their defaults) and the response, already shaped like the message (numeric enums,
 * snake_case names), is encoded directly. Clients keep proto-loader's codec, so every test also
 * proves the two agree on the wire.
 */
function loadTypes(): { request: protobuf.Type; response: protobuf.Type } {
  const root = new protobuf.Root();
  // google/protobuf/* resolve to protobufjs' bundled well-known types.
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_DIR, target));
  root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true });
  return {
    request: root.lookupType('envoy.service.auth.v3.CheckRequest'),
    response: root.lookupType('envoy.service.auth.v3.CheckResponse'),
  };
}

let fast: ServiceDefinition | undefined;

/** The Authorization service definition with the lean codec on Check (server side only). */
export function fastAuthorizationServiceDefinition(): ServiceDefinition {
  if (fast !== undefined) return fast;
  const standard = authorizationServiceDefinition();
  const check = standard['Check'];
  if (check === undefined) throw new Error('Check method missing from the proto');
  const { request, response } = loadTypes();
  // Frozen answers are reused as they are (cache hits, constant answers): encode each once.
  const encoded = new WeakMap<object, Buffer>();
  const encode = (value: object): Buffer => {
    const bytes = response.encode(value as protobuf.Message).finish();
    // protobufjs already hands out a Buffer under Node; wrap (not copy) otherwise.
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  fast = {
    ...standard,
    Check: {
      ...check,
      requestDeserialize: (bytes: Buffer) => request.decode(bytes),
      responseSerialize: (value: object) => {
        if (!Object.isFrozen(value)) return encode(value);
        let bytes = encoded.get(value);
        if (bytes === undefined) {
          // Own the bytes: protobufjs (like Node) slices small buffers out of shared 8 KiB
          // slabs, and keeping a slice alive would keep its whole slab alive.
          const slice = encode(value);
          bytes = Buffer.allocUnsafeSlow(slice.length);
          slice.copy(bytes);
          encoded.set(value, bytes);
        }
        return bytes;
      },
    },
  };
  return fast;
}
