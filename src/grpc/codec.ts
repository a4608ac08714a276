import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { reuseOf, type CheckResponse } from '../envoy/check-response.js';
import { UNDECODABLE, type CheckRequest } from '../envoy/check-request.js';
import { CHECK_PATH } from './proto.js';
import { decodeCheckRequest } from './request-decoder.js';
import { encodeCheckResponse, encodeMarked } from './response-encoder.js';

/**
 * A leaner codec for our own server side of Check. proto-loader decodes every field of the
 * request into a message and then copies it into a plain object (toObject), and builds a
 * message from every answer (fromObject) before encoding it. Here the request decoder reads only
 * the fields the check uses, and the answer, already shaped like the message (numeric enums,
 * snake_case names), is written straight to bytes. Clients keep proto-loader's codec, so every
 * test that goes through a real client also proves the two agree on the wire.
 *
 * The service's method definition is written here, not taken from proto-loader: parsing
 * external_auth.proto and its imports at start-up cost ~40 ms and 0.6 MB of heap for a
 * definition whose codec this file replaces anyway. test/grpc/codec.test.ts holds it to
 * proto-loader's (path, streaming flags).
 */

let fast: ServiceDefinition | undefined;

const ASCII = /^[\x00-\x7f]*$/;

/**
 * The bytes of a reused answer: whole, or around its carried string. Around a string they are
 * kept as two latin1 strings (one byte a character, in V8's heap): a cached allow then holds
 * no Buffer of its own, whose ArrayBuffer objects and malloc'd store cost more than its bytes.
 */
type Kept = Buffer | { readonly head: string; readonly carried: string; readonly tail: string };

function keep(answer: CheckResponse, carries: string | undefined): Kept {
  const splice = carries !== undefined && ASCII.test(carries);
  const { bytes, at } = encodeMarked(answer, splice ? carries : undefined);
  if (!splice || at < 0) return bytes;
  // ASCII: one byte per character, so the string's bytes are exactly [at, at + length).
  return { head: bytes.toString('latin1', 0, at), carried: carries, tail: bytes.toString('latin1', at + carries.length) };
}

function send(kept: Kept): Buffer {
  if (Buffer.isBuffer(kept)) return kept;
  const { head, carried, tail } = kept;
  const out = Buffer.allocUnsafe(head.length + carried.length + tail.length);
  out.write(head, 0, 'latin1');
  out.write(carried, head.length, 'latin1');
  out.write(tail, head.length + carried.length, 'latin1');
  return out;
}

/** The server never encodes a request nor decodes an answer: those are a client's half. */
const clientSide = (): never => {
  throw new Error('the lean Check codec is server-side only; clients use proto-loader (src/grpc/client.ts)');
};

/** The Authorization service definition with the lean codec on Check (server side only). */
export function fastAuthorizationServiceDefinition(): ServiceDefinition {
  if (fast !== undefined) return fast;
  // Answers marked reusedAnswer (cache hits, constant answers) are encoded once.
  const encoded = new WeakMap<CheckResponse, Kept>();
  const check: MethodDefinition<CheckRequest, CheckResponse> = {
    path: CHECK_PATH,
    requestStream: false,
    responseStream: false,
    originalName: 'check',
    requestSerialize: clientSide,
    responseDeserialize: clientSide,
    // Never throws: grpc-js would answer INTERNAL, not a deny (SPEC §8).
    requestDeserialize: (bytes: Buffer): CheckRequest => {
      try {
        return decodeCheckRequest(bytes);
      } catch {
        return UNDECODABLE;
      }
    },
    responseSerialize: (value: CheckResponse) => {
      const reuse = reuseOf(value);
      if (reuse === undefined) return encodeCheckResponse(value);
      let kept = encoded.get(value);
      if (kept === undefined) {
        kept = keep(value, reuse.carries);
        encoded.set(value, kept);
      }
      return send(kept);
    },
  };
  fast = { Check: check };
  return fast;
}
