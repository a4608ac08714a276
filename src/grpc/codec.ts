import type { ServiceDefinition } from '@grpc/grpc-js';
import type { CheckResponse } from '../envoy/check-response.js';
import { UNDECODABLE, type CheckRequest } from '../envoy/check-request.js';
import { authorizationServiceDefinition } from './proto.js';
import { decodeCheckRequest } from './request-decoder.js';
import { encodeCheckResponse } from './response-encoder.js';

/**
 * A leaner codec for our own server side of Check. proto-loader decodes every field of the
 * request into a message and then copies it into a plain object (toObject), and builds a
 * message from every answer (fromObject) before encoding it. Here the request decoder reads only
 * the fields the check uses, and the answer, already shaped like the message (numeric enums,
 * snake_case names), is written straight to bytes. Clients keep proto-loader's codec, so every
 * test that goes through a real client also proves the two agree on the wire.
 */

let fast: ServiceDefinition | undefined;

/** The Authorization service definition with the lean codec on Check (server side only). */
export function fastAuthorizationServiceDefinition(): ServiceDefinition {
  if (fast !== undefined) return fast;
  const standard = authorizationServiceDefinition();
  const check = standard['Check'];
  if (check === undefined) throw new Error('Check method missing from the proto');
  // Frozen answers are reused as they are (cache hits, constant answers): encode each once.
  const encoded = new WeakMap<object, Buffer>();
  fast = {
    ...standard,
    Check: {
      ...check,
      // Never throws: grpc-js would answer INTERNAL, not a deny (SPEC §8).
      requestDeserialize: (bytes: Buffer): CheckRequest => {
        try {
          return decodeCheckRequest(bytes);
        } catch {
          return UNDECODABLE;
        }
      },
      responseSerialize: (value: CheckResponse) => {
        if (!Object.isFrozen(value)) return encodeCheckResponse(value);
        let bytes = encoded.get(value);
        if (bytes === undefined) {
          // Own the bytes: small Buffers are slices of shared 8 KiB slabs, and keeping a
          // slice alive would keep its whole slab alive.
          const slice = encodeCheckResponse(value);
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
