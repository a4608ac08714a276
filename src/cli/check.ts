import { readFileSync } from 'node:fs';
import { credentials } from '@grpc/grpc-js';
import { UsageError } from '../errors.js';
import { createCheckClient, type DecodedCheckResponse } from '../grpc/client.js';
import type { CliArgs } from './args.js';

/** Builds the CheckRequest Envoy would send for one HTTP request. */
export function buildCheckRequest(token: string | undefined, headerArgs: readonly string[], path = '/', method = 'GET', host = 'jwt-ext-authz.check'): object {
  const headers: Record<string, string> = { ':method': method, ':path': path, ':authority': host };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  for (const h of headerArgs) {
    const eq = h.indexOf('=');
    if (eq <= 0) throw new UsageError(`--header wants k=v, got "${h}"`);
    const key = h.slice(0, eq).trim().toLowerCase();
    // Envoy merges repeated headers with ","; do the same.
    const value = h.slice(eq + 1);
    headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
  }
  return { attributes: { request: { http: { method, path, host, headers } } } };
}

const headerObject = (list: NonNullable<DecodedCheckResponse['ok_response']>['headers']): Record<string, string> =>
  Object.fromEntries((list ?? []).map((h) => [h.header?.key ?? '', h.header?.value ?? '']));

const metadataOf = (res: DecodedCheckResponse): Record<string, string | undefined> | undefined =>
  res.dynamic_metadata?.fields === undefined ? undefined : Object.fromEntries(Object.entries(res.dynamic_metadata.fields).map(([k, v]) => [k, v.stringValue]));

/** A readable summary of a CheckResponse for the terminal; `route` is the route the server matched (SPEC §11), when it says. */
export function summarize(res: DecodedCheckResponse): Record<string, unknown> {
  const code = res.status?.code ?? 0;
  const metadata = metadataOf(res);
  const route = metadata?.['route'] === undefined ? {} : { route: metadata['route'] };
  if (res.denied_response !== undefined) {
    const d = res.denied_response;
    let body: unknown = d.body;
    try {
      body = JSON.parse(d.body ?? '');
    } catch {
      // not JSON (e.g. the token page): print as is
    }
    const reason = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['reason'] : undefined;
    return { decision: code === 0 ? 'allow' : 'deny', grpcStatus: code, httpStatus: Number(d.status?.code ?? 403), reason, ...route, headers: headerObject(d.headers), body };
  }
  const ok = res.ok_response;
  return {
    decision: code === 0 ? 'allow' : 'deny',
    grpcStatus: code,
    ...route,
    // Report-only (SPEC §14): allowed, but enforcing would have denied it for this reason.
    ...(metadata?.['report_only'] === 'true' ? { reportOnly: true, wouldDeny: metadata['reason'] } : {}),
    headers: headerObject(ok?.headers),
    headersToRemove: ok?.headers_to_remove ?? [],
    ...(ok?.query_parameters_to_remove?.length ? { queryParametersToRemove: ok.query_parameters_to_remove } : {}),
    ...(metadata === undefined ? {} : { metadata }),
  };
}

export async function runCheck(args: CliArgs): Promise<number> {
  if (args.target === undefined) throw new UsageError('check needs --target ADDR (host:port or unix:/path)');
  const creds =
    args.tlsCa === undefined && args.tlsCert === undefined
      ? credentials.createInsecure()
      : credentials.createSsl(
          args.tlsCa === undefined ? null : readFileSync(args.tlsCa),
          args.tlsKey === undefined ? null : readFileSync(args.tlsKey),
          args.tlsCert === undefined ? null : readFileSync(args.tlsCert),
        );
  const client = createCheckClient(args.target, creds);
  try {
    const response = await client.check(buildCheckRequest(args.token, args.headers, args.path ?? '/', args.method ?? 'GET', args.host ?? 'jwt-ext-authz.check'));
    const summary = summarize(response);
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return summary['decision'] === 'allow' ? 0 : 1;
  } catch (e: unknown) {
    process.stderr.write(`jwt-ext-authz check: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  } finally {
    client.close();
  }
}
