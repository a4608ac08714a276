/** CheckRequests shaped as Envoy sends them. */
export function checkRequest(headers: Record<string, string>, options: { path?: string; context?: Record<string, string> } = {}): object {
  const path = options.path ?? '/';
  return {
    attributes: {
      request: { http: { method: 'GET', path, host: 'app.test', headers: { ':method': 'GET', ':path': path, ':authority': 'app.test', ...headers } } },
      ...(options.context === undefined ? {} : { context_extensions: options.context }),
    },
  };
}

export const bearer = (token: string, context?: Record<string, string>): object =>
  checkRequest({ authorization: `Bearer ${token}` }, context === undefined ? {} : { context });

/** `encode_raw_headers: true`: header_map with raw_value bytes, duplicates kept. */
export function rawHeaderRequest(headers: readonly [string, string][]): object {
  return {
    attributes: {
      request: { http: { method: 'GET', path: '/', header_map: { headers: headers.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) } } },
    },
  };
}
