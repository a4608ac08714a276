/**
 * The one way key material is fetched over the network (SPEC §4): exactly status 200, a bounded
 * body, one time limit for the whole exchange, an extra CA. JWKS documents and OIDC discovery
 * documents (SPEC §13) both go through it, so every rule holds for both.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';
import { readError } from '../util/errno.js';
import { parseJwksBody } from './jwks-decode.js';

export const MAX_JWKS_BYTES = 1024 * 1024;

/** The parseable certificates in a PEM text (node silently ignores what it cannot parse in `ca`). */
function pemCertificates(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return blocks.filter((b) => {
    try { return new X509Certificate(b) !== undefined; } catch { return false; }
  });
}

/**
 * The CA file plus the public roots, so that adding an internal CA does not break public ones.
 * An explicit `ca` also drops NODE_EXTRA_CA_CERTS, so those are added back.
 */
export function trustedContext(caFile: string): SecureContext {
  const fail = (message: string): never => {
    throw new ConfigError([{ file: caFile, key: 'jwks.ca-file', message }]);
  };
  let pem = '';
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (e: unknown) {
    fail(readError(e));
  }
  const own = pemCertificates(pem);
  if (own.length === 0) fail('contains no PEM certificate');
  let extra: string[] = [];
  const extraFile = process.env['NODE_EXTRA_CA_CERTS'];
  try {
    if (extraFile !== undefined && extraFile !== '') extra = pemCertificates(readFileSync(extraFile, 'utf8'));
  } catch {
    // node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; so do we (by ignoring it).
  }
  // Built once: parsing ~150 roots per request would block the event loop for tens of ms.
  return createSecureContext({ ca: [...rootCertificates, ...extra, ...own] });
}

export type FetchResult = { body: unknown } | { error: string };

export interface Fetcher {
  /** Host and path of the URL: what logs and errors name (the query may carry a credential). */
  readonly origin: string;
  /** Resolves with the parsed JSON body or why there is none; never rejects. */
  get(): Promise<FetchResult>;
  /** Ends the exchange in flight, if any (it resolves with an error). */
  abort(): void;
}

/** Host and path of a URL, never its query or credentials. */
export const originOf = (url: URL): string => `${url.protocol}//${url.host}${url.pathname}`;

/** One GET at a time: exactly status 200, at most MAX_JWKS_BYTES, `timeoutMs` for the whole exchange, a JSON body. */
export function createFetcher(url: URL, timeoutMs: number, secureContext: SecureContext | undefined): Fetcher {
  let abortCurrent: (() => void) | undefined;
  const get = (): Promise<FetchResult> =>
    new Promise<FetchResult>((resolve) => {
      // `secureContext` is passed through to tls.connect (not in the RequestOptions typings).
      const options: RequestOptions & { secureContext?: SecureContext } = {
        method: 'GET', agent: false, headers: { accept: 'application/json', 'accept-encoding': 'identity' },
        ...(secureContext === undefined ? {} : { secureContext }),
      };
      const req = url.protocol === 'https:'
        ? httpsRequest(url, options)
        : httpRequest(url, options);
      let done = false;
      const finish = (result: FetchResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        abortCurrent = undefined;
        if ('error' in result) req.destroy();
        resolve(result);
      };
      const timer = setTimeout(() => finish({ error: `timed out after ${timeoutMs} ms` }), timeoutMs);
      timer.unref();
      abortCurrent = () => finish({ error: 'aborted (source closed)' });
      req.on('error', (e: NodeJS.ErrnoException) => finish({ error: e.code === undefined ? e.message : `${e.code}: ${e.message}` }));
      req.on('response', (res: IncomingMessage) => {
        if (res.statusCode !== 200) return finish({ error: `unexpected status ${res.statusCode ?? '?'}` });
        const declared = Number(res.headers['content-length']);
        if (declared > MAX_JWKS_BYTES) return finish({ error: `body larger than ${MAX_JWKS_BYTES} bytes` });
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          // Stop reading at once: never buffer more than the limit.
          if (size > MAX_JWKS_BYTES) return finish({ error: `body larger than ${MAX_JWKS_BYTES} bytes` });
          chunks.push(chunk);
          return undefined;
        });
        res.on('error', (e) => finish({ error: `reading the body: ${e.message}` }));
        res.on('close', () => finish({ error: 'connection closed before the body was complete' }));
        res.on('end', () => finish(parseJwksBody(Buffer.concat(chunks))));
        return undefined;
      });
      req.end();
    });
  return { origin: originOf(url), get, abort: () => abortCurrent?.() };
}
