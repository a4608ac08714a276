import { performance } from 'node:perf_hooks';
import type { SecureContext } from 'node:tls';
import type { JwksConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import { reject } from '../reasons.js';
import { readDiscoveryDocument } from './discovery.js';
import { createFetcher, trustedContext, type Fetcher } from './https-fetch.js';
import { MAX_KID_LENGTH, decodeJwksInSlices } from './jwks-decode.js';
import { findKeys, indexKeys, skipReports, type KeySet } from './key-set.js';
import type { KeyLookupResult, KeySource } from './types.js';

export { MAX_JWKS_BYTES } from './https-fetch.js';
export { MAX_KIDLESS_KEYS, MAX_SKIP_REPORTS } from './key-set.js';

export type FetchTrigger = 'startup' | 'scheduled' | 'unknown_kid';

export interface JwksHooks {
  /**
   * After every fetch. `step: 'discovery'` marks a discovery document that could not be read or
   * was refused; the key set of the last accepted jwks_uri is then still fetched, and reported on its own.
   */
  onFetch?(e: { trigger: FetchTrigger; ok: boolean; durationSeconds: number; keysLoaded: number; error?: string; step?: 'discovery' }): void;
  /** At most MAX_SKIP_REPORTS per fetch; then one with `more`, the count of the rest. */
  onSkippedKey?(e: { kid?: string; why: string; more?: number }): void;
  /** A discovery document was accepted whose jwks_uri is new: the first one, or a changed one (`previous`). */
  onDiscovered?(e: { issuer: string; jwksUri: string; previous?: string }): void;
}

/** What `/readyz` and `verify` show of a discovery-backed source. URLs are host and path only. */
export interface DiscoveryState {
  readonly document: string;
  /** The `issuer` of the last accepted document (it equals required-issuer). */
  readonly issuer: string | undefined;
  /** The `jwks_uri` in use. */
  readonly jwksUri: string | undefined;
  /** Epoch ms of the last accepted document. */
  readonly lastSuccessAt: number | undefined;
  /** Why the last reading of the document failed; undefined once one succeeds. */
  readonly error: string | undefined;
}

export interface JwksKeySource extends KeySource {
  /** First fetch (trigger `startup`); resolves when it has finished either way, never rejects. */
  start(): Promise<void>;
  /** True when the last good set is older than `max-stale`, or none was ever loaded. */
  readonly stale: boolean;
  /** Epoch ms of the last successful fetch. */
  readonly lastSuccessAt: number | undefined;
  /** Set when the JWKS URL comes from an OIDC discovery document (SPEC §13). */
  readonly discovery: DiscoveryState | undefined;
  refresh(trigger: FetchTrigger): Promise<void>;
}

/** First retry delay while no usable set was ever loaded; doubles up to `refresh-interval`. */
const FIRST_RETRY_MS = 1000;

function parseUrl(url: string, what: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ConfigError([{ file: '<config>', key: 'key-file', message: `not a valid ${what} URL` }]);
  }
}

/** Where the keys are fetched from: a JWKS URL, or the discovery document that names one. */
type Remote = { readonly jwksUrl: string } | { readonly documentUrl: string; readonly requiredIssuer: string };

/** A discovery document's fetcher and what its last reading gave. */
interface DocumentState {
  readonly fetcher: Fetcher;
  readonly requiredIssuer: string;
  issuer: string | undefined;
  lastSuccessAt: number | undefined;
  error: string | undefined;
}

/**
 * Keys from a JWKS URL (SPEC §4): fetched at start, refreshed on a timer and, rate-limited, on an
 * unknown kid. A failed fetch keeps the last good set until it is older than `max-stale`.
 */
export function createJwksKeySource(url: string, cfg: JwksConfig, hooks: JwksHooks = {}, now: () => number = Date.now): JwksKeySource {
  return createRemoteKeySource({ jwksUrl: url }, cfg, hooks, now);
}

/**
 * Keys through OIDC discovery (SPEC §13): the document is read at start and with every scheduled
 * refresh, under the same rules as a JWKS fetch; an accepted document's jwks_uri is then fetched
 * as a JWKS URL, and a changed jwks_uri is followed. Unknown-kid refetches fetch the JWKS only.
 */
export function createDiscoveryKeySource(
  documentUrl: string, requiredIssuer: string, cfg: JwksConfig, hooks: JwksHooks = {}, now: () => number = Date.now,
): JwksKeySource {
  return createRemoteKeySource({ documentUrl, requiredIssuer }, cfg, hooks, now);
}

function createRemoteKeySource(remote: Remote, cfg: JwksConfig, hooks: JwksHooks, now: () => number): JwksKeySource {
  const first = 'jwksUrl' in remote ? parseUrl(remote.jwksUrl, 'JWKS') : parseUrl(remote.documentUrl, 'discovery document');
  // A discovery document may be read over http:// (loud warning), its jwks_uri never is.
  const context: SecureContext | undefined =
    cfg.caFile === undefined || ('jwksUrl' in remote && first.protocol !== 'https:') ? undefined : trustedContext(cfg.caFile);
  const doc: DocumentState | undefined = 'jwksUrl' in remote ? undefined : {
    fetcher: createFetcher(first, cfg.timeoutMs, context),
    requiredIssuer: remote.requiredIssuer,
    issuer: undefined,
    lastSuccessAt: undefined,
    error: undefined,
  };
  /** The JWKS fetcher; with discovery, none until a document was accepted. */
  let target: Fetcher | undefined = doc === undefined ? createFetcher(first, cfg.timeoutMs, context) : undefined;
  let targetUrl: string | undefined = doc === undefined ? first.href : undefined;

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

  /** Reads the discovery document; on success the JWKS fetcher follows its jwks_uri. Returns why it failed. */
  async function discover(): Promise<string | undefined> {
    if (doc === undefined) return undefined;
    const got = await doc.fetcher.get();
    if (closed) return undefined;
    const read = 'error' in got ? got : readDiscoveryDocument(got.body, doc.requiredIssuer);
    if ('error' in read) {
      doc.error = read.error;
      return read.error;
    }
    doc.error = undefined;
    doc.issuer = read.issuer;
    doc.lastSuccessAt = now();
    if (read.jwksUri !== targetUrl) {
      const previous = target?.origin;
      target?.abort();
      const next = createFetcher(new URL(read.jwksUri), cfg.timeoutMs, context);
      target = next;
      targetUrl = read.jwksUri;
      report(() => hooks.onDiscovered?.({ issuer: read.issuer, jwksUri: next.origin, ...(previous === undefined ? {} : { previous }) }));
    }
    return undefined;
  }

  async function fetchOnce(trigger: FetchTrigger): Promise<void> {
    lastFetchAt = now();
    const t0 = performance.now();
    const failed = (error: string, step?: 'discovery'): void => report(() => hooks.onFetch?.({
      trigger, ok: false, durationSeconds: (performance.now() - t0) / 1000, keysLoaded: set?.size ?? 0, error, ...(step === undefined ? {} : { step }),
    }));
    // An unknown kid is a key rotation, which keeps the jwks_uri: the document is not read for it.
    if (doc !== undefined && (trigger !== 'unknown_kid' || target === undefined)) {
      const error = await discover();
      if (closed) return;
      if (error !== undefined) {
        failed(`${doc.fetcher.origin}: ${error}`, 'discovery');
        // The last accepted jwks_uri still keeps its keys fresh; without one there is nothing to fetch.
        if (target === undefined) {
          lastFetchAt = now();
          return;
        }
      }
    }
    const fetcher = target;
    if (fetcher === undefined) return;
    const got = await fetcher.get();
    if (closed) return;
    let decoded: Awaited<ReturnType<typeof decodeJwksInSlices>>;
    try {
      decoded = 'error' in got ? got : await decodeJwksInSlices(got.body, fetcher.origin);
    } catch {
      decoded = { error: 'internal error while decoding the JWKS' };
    }
    // The cooldown counts from the end of a fetch: a slow one must not allow the next at once.
    lastFetchAt = now();
    if (closed) return;
    if ('error' in decoded) return failed(`${fetcher.origin}: ${decoded.error}`);
    reportSkipped(decoded.skipped);
    // A set with no usable key is no key set (SPEC §8): IdPs answer `{"keys":[]}` mid-deploy.
    // Failing the fetch keeps the last good set and leaves unknown-kid refetches possible.
    if (decoded.keys.length === 0) return failed(`${fetcher.origin}: no usable key in the set (${decoded.skipped.length} skipped)`);
    set = indexKeys(decoded.keys);
    lastSuccessAt = now();
    ready = true;
    const durationSeconds = (performance.now() - t0) / 1000;
    report(() => hooks.onFetch?.({ trigger, ok: true, durationSeconds, keysLoaded: set?.size ?? 0 }));
  }

  function reportSkipped(skipped: readonly { kid?: string; why: string }[]): void {
    for (const s of skipReports(skipped)) report(() => hooks.onSkippedKey?.(s));
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
    const keys = findKeys(set, kid, alg);
    // A kid-less token is not a rotation: no refetch for it.
    return keys ?? (kid === undefined ? reject('unknown_key', 'no key in the JWKS fits the token algorithm') : undefined);
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
    get discovery(): DiscoveryState | undefined {
      if (doc === undefined) return undefined;
      return { document: doc.fetcher.origin, issuer: doc.issuer, jwksUri: target?.origin, lastSuccessAt: doc.lastSuccessAt, error: doc.error };
    },
    start: () => (started ??= refresh('startup')),
    refresh,
    close() {
      closed = true;
      clearTimeout(timer);
      doc?.fetcher.abort();
      target?.abort();
    },
  };
}
