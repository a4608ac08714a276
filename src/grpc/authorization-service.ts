import type { sendUnaryData, Server, ServerUnaryCall } from '@grpc/grpc-js';
import type { Authorizer } from '../authz/authorizer.js';
import { reusedAnswer, type CheckResponse } from '../envoy/check-response.js';
import type { CheckRequest } from '../envoy/check-request.js';
import { fastAuthorizationServiceDefinition } from './codec.js';

/** Only if failing closed itself failed: still an answer, never a gRPC error. */
const LAST_RESORT: CheckResponse = reusedAnswer({
  status: { code: 14 },
  denied_response: { status: { code: 503 }, headers: [], body: '{"error":"unavailable","reason":"internal_error","message":"internal error"}' },
});

/**
 * `envoy.service.auth.v3.Authorization`, as an object with `addToServer` (grpc-health-check
 * style). The handler is thin: every decision, deny included, is a CheckResponse — never a
 * gRPC error, which Envoy could fail open on.
 */
export class AuthorizationService {
  constructor(private readonly authorizer: Authorizer) {}

  addToServer(server: Server): void {
    server.addService(fastAuthorizationServiceDefinition(), { Check: this.check });
  }

  private readonly check = (call: ServerUnaryCall<CheckRequest, CheckResponse>, callback: sendUnaryData<CheckResponse>): void => {
    const result = this.authorizer.check(call.request);
    if (result instanceof Promise) void result.then((response) => callback(null, response), () => callback(null, LAST_RESORT));
    else callback(null, result);
  };
}
