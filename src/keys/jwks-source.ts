import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { performance } from 'node:perf_hooks';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { JwksConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import { readError } from '../util/errno.js';
import { reject } from '../reasons.js';
import { JWS_ALGORITHMS } from './algorithms.js';
import { MAX_KID_LENGTH, decodeJwksInSlices, parseJwksBody } from './jwks-decode.js';
import type { KeyLookupResult, KeySource, VerificationKey } from './types.js';

export type FetchTrigger = 'startup' | 'scheduled' | 'unknown_kid';

export interface JwksHooks {
  onFetch?(e: { trigger: FetchTrigger; ok: boolean; durationSeconds: number; keysLoaded: number; error?: string }): void;
  /** At most MAX_SKIP_REPORTS per fetch; then one with `more`, the count of the rest. */
  onSkippedKey?(e: { kid?: string; why: string; more?: number }): void;
}

export interface JwksKeySource extends KeySource {
  /** First fetch (trigger `startup`); resolves when it has finished either way, never rejects. */
  start(): Promise<void>;
  /** True when the last good set is older than `max-stale`, or none was ever loaded. */
  readonly stale: boolean;
  /** Epoch ms of the last successful fetch. */
  readonly lastSuccessAt: number | undefined;
  refresh(trigger: FetchTrigger): Promise<void>;
}

export const MAX_JWKS_BYTES = 1024 * 1024;
/** First retry delay while no usable set was ever loaded; doubles up to `refresh-interval`. */
const FIRST_RETRY_MS = 1000;
/** A token without `kid` is tried against at most this many keys that fit its `alg` (SPEC §8). */
export const MAX_KIDLESS_KEYS = 8;
/** Skipped keys reported one by one per fetch; the rest are summed up in one report. */
export const MAX_SKIP_REPORTS = 5;

/** A key set indexed so that a lookup hit allocates nothing. */
interface KeySet {
  readonly size: number;
  readonly byKid: ReadonlyMap<string, readonly VerificationKey[]>;
  readonly byAlg: ReadonlyMap<string, readonly VerificationKey[]>;
}

function indexKeys(keys: readonly VerificationKey[]): KeySet {
  const byKid = new Map<string, readonly VerificationKey[]>();
  for (const k of keys) if (k.kid !== undefined) byKid.set(k.kid, Object.freeze([k]));
  const byAlg = new Map<string, readonly VerificationKey[]>();
  for (const alg of JWS_ALGORITHMS) {
    // The first few in document order: each one tried costs a signature check.
    const fit = keys.filter((k) => k.algorithms.has(alg)).slice(0, MAX_KIDLESS_KEYS);
    if (fit.length > 0) byAlg.set(alg, Object.freeze(fit));
  }
  return { size: keys.length, byKid, byAlg };
}

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
function trustedContext(caFile: string): SecureContext {
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

type FetchResult = { body: unknown } | { error: string };

/** One GET at a time: exactly status 200, at most MAX_JWKS_BYTES, `timeoutMs` for the whole exchange. */
function createFetcher(url: URL, timeoutMs: number, secureContext: SecureContext | undefined): { get(): Promise<FetchResult>; abort(): void } {
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
  return { get, abort: () => abortCurrent?.() };
}

/**
 * Keys from a JWKS URL (SPEC §4): fetched at start, refreshed on a timer and, rate-limited, on an
 * unknown kid. A failed fetch keeps the last good set until it is older than `max-stale`.
 */
export function createJwksKeySource(url: string, cfg: JwksConfig, hooks: JwksHooks = {}, now: () => number = Date.now): JwksKeySource {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError([{ file: '<config>', key: 'key-file', message: 'not a valid JWKS URL' }]);
  }
  // Errors and descriptions name host and path only: the query may carry a credential.
  const origin = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  const context = cfg.caFile === undefined || parsed.protocol !== 'https:' ? undefined : trustedContext(cfg.caFile);
  const fetcher = createFetcher(parsed, cfg.timeoutMs, context);

  let set: KeySet | undefined;
  let lastSuccessAt: number | undefined;
  let lastFetchAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let started: Promise<void> | undefined;
  let ready = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let retryMs = FIRST_RETRY_MS;

  // A throwing hook must not break fetching (or crash from a timer).
  const report = (fn: () => void): void => {
    try { fn(); } catch { /* ignored */ }
  };

  const isStale = (): boolean => lastSuccessAt === undefined || now() - lastSuccessAt > cfg.maxStaleMs;

  const schedule = (): void => {
    if (closed || started === undefined) return;
    clearTimeout(timer);
    let delay = cfg.refreshIntervalMs;
    if (!ready) {
      // Not usable yet: retry soon so an IdP that was down at startup is picked up by itself.
      delay = Math.min(retryMs, cfg.refreshIntervalMs);
      retryMs = Math.min(retryMs * 2, cfg.refreshIntervalMs);
    }
    timer = setTimeout(() => void refresh('scheduled'), delay);
    timer.unref();
  };

  async function fetchOnce(trigger: FetchTrigger): Promise<void> {
    lastFetchAt = now();
    const t0 = performance.now();
    const got = await fetcher.get();
    if (closed) return;
    let decoded: Awaited<ReturnType<typeof decodeJwksInSlices>>;
    try {
      decoded = 'error' in got ? got : await decodeJwksInSlices(got.body, origin);
    } catch {
      decoded = { error: 'internal error while decoding the JWKS' };
    }
    // The cooldown counts from the end of a fetch: a slow one must not allow the next at once.
    lastFetchAt = now();
    if (closed) return;
    const durationSeconds = (performance.now() - t0) / 1000;
    const failed = (error: string): void =>
      report(() => hooks.onFetch?.({ trigger, ok: false, durationSeconds, keysLoaded: set?.size ?? 0, error: `${origin}: ${error}` }));
    if ('error' in decoded) return failed(decoded.error);
    reportSkipped(decoded.skipped);
    // A set with no usable key is no key set (SPEC §8): IdPs answer `{"keys":[]}` mid-deploy.
    // Failing the fetch keeps the last good set and leaves unknown-kid refetches possible.
    if (decoded.keys.length === 0) return failed(`no usable key in the set (${decoded.skipped.length} skipped)`);
    set = indexKeys(decoded.keys);
    lastSuccessAt = now();
    ready = true;
    report(() => hooks.onFetch?.({ trigger, ok: true, durationSeconds, keysLoaded: set?.size ?? 0 }));
  }

  /** A set of thousands of broken keys must not write thousands of log lines per fetch. */
  function reportSkipped(skipped: readonly { kid?: string; why: string }[]): void {
    const shown = skipped.slice(0, MAX_SKIP_REPORTS);
    for (const s of shown) report(() => hooks.onSkippedKey?.(s));
    const more = skipped.length - shown.length;
    if (more > 0) report(() => hooks.onSkippedKey?.({ why: `and ${more} more keys skipped`, more }));
  }

  function refresh(trigger: FetchTrigger): Promise<void> {
    if (closed) return Promise.resolve();
    // Never two fetches at once: a second trigger shares the one in flight.
    inflight ??= fetchOnce(trigger)
      .catch(() => undefined)
      .finally(() => {
        inflight = undefined;
        schedule();
      });
    return inflight;
  }

  /** The answer from the current set, without fetching; undefined when a refetch may help. */
  function answer(kid: string | undefined, alg: string): KeyLookupResult | undefined {
    if (set === undefined || isStale()) return undefined;
    if (kid === undefined) return set.byAlg.get(alg) ?? reject('unknown_key', 'no key in the JWKS fits the token algorithm');
    return set.byKid.get(kid);
  }

  const unknownKid = () => reject('unknown_key', 'the token kid is not in the JWKS');
  const unavailable = () =>
    set === undefined
      ? reject('keys_unavailable', 'the JWKS has not been loaded yet')
      : reject('keys_unavailable', 'the JWKS could not be refreshed for longer than max-stale');
  const fallback = () => (set === undefined || isStale() ? unavailable() : unknownKid());

  function lookup(kid: string | undefined, alg: string): KeyLookupResult | Promise<KeyLookupResult> {
    if (kid !== undefined && kid.length > MAX_KID_LENGTH) return unknownKid();
    const found = answer(kid, alg);
    if (found !== undefined) return found;
    // Unknown kid, or no usable set: the IdP may have rotated or come back. Share a fetch in
    // flight, else start one if the cooldown allows.
    const canFetch = inflight !== undefined || (!closed && started !== undefined && now() - lastFetchAt >= cfg.minRefreshIntervalMs);
    if (!canFetch) return fallback();
    const fetched = refresh('unknown_kid');
    // Without a usable set the answer stays keys_unavailable until the fetch lands: say so now
    // rather than wait; the fetch goes on for the next token.
    if (set === undefined || isStale()) return fallback();
    return fetched.then(() => answer(kid, alg) ?? fallback());
  }

  return {
    lookup,
    get ready() { return ready; },
    get stale() { return isStale(); },
    get lastSuccessAt() { return lastSuccessAt; },
    start: () => (started ??= refresh('startup')),
    refresh,
    close() {
      closed = true;
      clearTimeout(timer);
      fetcher.abort();
    },
  };
}
