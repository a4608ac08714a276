/**
 * The baseline of SPEC §10: a grpc-js server with the same protos and server options as the
 * service, whose Check handler answers a constant OK and does nothing else. Prints one JSON
 * line {"msg":"listening","port":N}; SIGTERM stops it.
 *
 * `node empty-server.js [standard|lean]`: the codec of Check. `standard` (default) is
 * proto-loader's, what any grpc-js server gets from `authorizationServiceDefinition()`; `lean`
 * is the service's own server-side codec (src/grpc/codec.ts: the request is not copied into a
 * plain object), so the baseline pays exactly the decoding the service pays.
 *
 * `node empty-server.js CODEC rs256`: the same handler plus one RS256 (RSA-2048) signature
 * verification per call with node:crypto, of a constant 700-byte input: the floor of any
 * service that verifies one signature per request on this stack (bench scenario `floor`).
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from '@grpc/grpc-js';
import { fastAuthorizationServiceDefinition } from '../src/grpc/codec.js';
import { authorizationServiceDefinition } from '../src/grpc/proto.js';

const OK = { status: { code: 0 } };
const codec = process.argv[2] ?? 'standard';
if (codec !== 'standard' && codec !== 'lean') {
  process.stderr.write(`empty-server: unknown codec ${codec} (standard or lean)\n`);
  process.exit(2);
}
const mode = process.argv[3] ?? 'none';
if (mode !== 'none' && mode !== 'rs256') {
  process.stderr.write(`empty-server: unknown mode ${mode} (none or rs256)\n`);
  process.exit(2);
}
const definition: ServiceDefinition = codec === 'lean' ? fastAuthorizationServiceDefinition() : authorizationServiceDefinition();

const server = new Server({ 'grpc.max_receive_message_length': 1024 * 1024, 'grpc.max_concurrent_streams': 1000 });
const DENIED = { status: { code: 16 } };
let handler = (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => callback(null, OK);
if (mode === 'rs256') {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const input = Buffer.alloc(700, 'eyJhbGciOiJSUzI1NiJ9');
  const signature = sign('sha256', input, privateKey);
  handler = (_call, callback) => callback(null, verify('sha256', input, publicKey, signature) ? OK : DENIED);
}
server.addService(definition, { Check: handler });
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) {
    process.stderr.write(`empty-server: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port, codec, mode, time: Date.now() })}\n`);
});
process.once('SIGTERM', () => {
  const force = setTimeout(() => process.exit(0), 2000);
  server.tryShutdown(() => {
    clearTimeout(force);
    process.exit(0);
  });
});
