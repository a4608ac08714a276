import { Client, credentials, type ChannelCredentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import type { DecodedCheckResponse } from '../envoy/check-response.js';
import { authorizationServiceDefinition, CHECK_PATH } from './proto.js';

export type { DecodedCheckResponse } from '../envoy/check-response.js';

export interface CheckClient {
  check(request: object, deadlineMs?: number): Promise<DecodedCheckResponse>;
  close(): void;
}

/** A real grpc-js client for `envoy.service.auth.v3.Authorization/Check` (CLI `check`, tests, bench). */
export function createCheckClient(target: string, creds: ChannelCredentials = credentials.createInsecure(), options: ChannelOptions = {}): CheckClient {
  const method = authorizationServiceDefinition()['Check'];
  if (method === undefined) throw new Error('Check method missing from the proto');
  const client = new Client(target, creds, options);
  return {
    check(request, deadlineMs = 5000) {
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          CHECK_PATH,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          { deadline: Date.now() + deadlineMs },
          (err: ServiceError | null, value?: unknown) => (err ? reject(err) : resolve(value as DecodedCheckResponse)),
        );
      });
    },
    close: () => client.close(),
  };
}
