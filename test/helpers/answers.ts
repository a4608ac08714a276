import { setHeader, type CheckResponse } from '../../src/envoy/check-response.js';

const long = (n: number): string => 'x'.repeat(n);
const meta = (fields: Record<string, string>) => ({ fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { stringValue: v }])) });

/**
 * Every shape of answer the responder builds, and the encoder's edge cases (multi-byte lengths,
 * bodies past its scratch buffer, UTF-8, negative codes): the codec tests and the upstream-proto
 * tests encode each one.
 */
export const SAMPLE_ANSWERS: Readonly<Record<string, CheckResponse>> = {
  'an empty OK': { status: { code: 0 } },
  'an allow with headers, removals and dynamic metadata': {
    status: { code: 0 },
    ok_response: {
      headers: [setHeader('x-jwt-principal', 'alice'), setHeader('x-forwarded-access-token', `ey.${long(900)}.sig`)],
      headers_to_remove: ['x_jwt_principal', 'cookie', ''],
      query_parameters_to_remove: ['access_token', 'token'],
    },
    dynamic_metadata: meta({ principal: 'alice@example.com', user: 'alice', provider: 'corp', iss: 'https://idp/', sub: '' }),
  },
  'an allow with non-ASCII values and appended headers': {
    status: { code: 0 },
    ok_response: {
      headers: [
        setHeader('x-name', 'Zoë 日本 😀'),
        { header: { key: 'x-a', value: '' }, append: { value: true }, append_action: 0 },
        { header: { key: 'x-b', value: 'v' }, append: { value: false }, append_action: 1 },
        { header: { key: 'x-c', value: 'w' }, append: { value: true }, append_action: 3 },
      ],
      headers_to_remove: [],
      query_parameters_to_remove: [],
    },
    dynamic_metadata: meta({ 'ключ': 'значение 😀' }),
  },
  'a 401 deny with a challenge and a JSON body': {
    status: { code: 16 },
    denied_response: {
      status: { code: 401 },
      headers: [setHeader('content-type', 'application/json'), setHeader('www-authenticate', 'Bearer realm="trino", error="invalid_token"')],
      body: '{"error":"invalid_token","reason":"expired","message":"the token has expired"}',
    },
  },
  'a token page: 200 in a denied_response': {
    status: { code: 7, message: 'token page' },
    denied_response: { status: { code: 200 }, headers: [setHeader('content-type', 'text/html')], body: `<p>${long(20_000)}</p>` },
  },
  'a 503 deny with a large body': {
    status: { code: 14 },
    denied_response: { status: { code: 503 }, headers: [setHeader('x-big', long(200))], body: long(70_000) },
  },
  'a 403 deny without headers or body': { status: { code: 7 }, denied_response: { status: { code: 403 }, headers: [], body: '' } },
  'a negative status code': { status: { code: -3 } },
};
