import assert from 'node:assert/strict';
import type { DecodedCheckResponse } from '../../src/grpc/client.js';

type Headers = NonNullable<NonNullable<DecodedCheckResponse['ok_response']>['headers']>;

export const headerMap = (headers: Headers | undefined): Record<string, string> =>
  Object.fromEntries((headers ?? []).map((h) => [h.header?.key ?? '', h.header?.value ?? '']));

/** Asserts a deny with the SPEC §5 status pair and JSON body; returns the parsed body. */
export function assertDeny(res: DecodedCheckResponse, reason: string, http = 401, grpc = 16): Record<string, string> {
  assert.equal(res.status?.code, grpc, `grpc status for ${reason}: ${JSON.stringify(res)}`);
  assert.ok(res.denied_response, `expected a denied_response, got ${JSON.stringify(res)}`);
  assert.equal(Number(res.denied_response.status?.code), http);
  const body = JSON.parse(res.denied_response.body ?? '') as Record<string, string>;
  assert.equal(body['reason'], reason, `reason: ${res.denied_response.body}`);
  assert.equal(headerMap(res.denied_response.headers)['content-type'], 'application/json');
  return body;
}

/** Asserts an allow; every header set must use append=false and OVERWRITE_IF_EXISTS_OR_ADD. */
export function assertAllow(res: DecodedCheckResponse): Record<string, string> {
  assert.equal(res.status?.code ?? 0, 0, `expected allow, got ${JSON.stringify(res)}`);
  assert.ok(res.ok_response, 'expected an ok_response');
  for (const h of res.ok_response.headers ?? []) {
    assert.equal(h.append?.value ?? false, false);
    assert.notEqual(h.append, undefined, 'append must be set explicitly');
    assert.equal(h.append_action, 2, 'append_action must be OVERWRITE_IF_EXISTS_OR_ADD');
  }
  const set = headerMap(res.ok_response.headers);
  for (const name of res.ok_response.headers_to_remove ?? []) assert.equal(set[name], undefined, `${name} both set and removed`);
  return set;
}
