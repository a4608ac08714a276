/**
 * The answers of the HTTP authorization mode (SPEC §12), the HTTP twin of response.ts: built
 * once per identity (on verified-token cache hits) and once per deny reason and message, as
 * flat header arrays node's `writeHead` takes as they are.
 *
 * An allow is 200 with an empty body and EVERY identity header, empty when this answer has no
 * value for it: a proxy that copies named headers (nginx auth_request_set, Caddy copy_headers,
 * Traefik authResponseHeaders, Envoy allowed_upstream_headers) then always overwrites a
 * client's own copy. `x-envoy-auth-headers-to-remove` lists what the gRPC answer would remove.
 */
import type { Config } from '../config/types.js';
import { reject, type Rejection } from '../reasons.js';
import { BoundedMap } from '../util/bounded-map.js';
import type { FoundToken } from '../token/extract.js';
import { cacheEnabled } from './cache.js';
import { claimHeaderValue } from './claim-headers.js';
import type { Identity } from './identity.js';
import { allowRemovals, anonymousRemovals, denyShape, fromAuthorization, identityHeaderNames } from './response.js';

export interface HttpAnswer {
  readonly status: number;
  /** `[name, value, name, value, ...]`, content-length included. */
  readonly headers: readonly string[];
  readonly body: string;
}

export interface HttpResponder {
  allow(identity: Identity, found: FoundToken): HttpAnswer;
  anonymous(): HttpAnswer;
  deny(rejection: Rejection, tokenPresent: boolean): HttpAnswer;
  /**
   * A would-be deny under report-only (SPEC §14): the anonymous allow; with `forward-original:
   * false` it also takes off `found`'s carrier, as an allow would.
   */
  reportOnly(found?: FoundToken): HttpAnswer;
}

/** Envoy's http_service removes the request headers this response header lists. */
export const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

const MAX_DENY_ANSWERS = 256;
/** What node refuses in a header value (it throws): controls other than tab, and DEL. */
const NOT_SENDABLE = /[^\t\x20-\x7e\x80-\xff]/;
const NON_LATIN1 = /[^\x00-\xff]/;

/** A header value as node writes it: one char per byte, so non-Latin-1 text travels as UTF-8. */
const wire = (value: string): string => (NON_LATIN1.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value);

const UNSENDABLE = reject('internal_error', 'the identity can not be sent in an HTTP header (control characters)');

export function createHttpResponder(config: Config): HttpResponder {
  const r = config.response;
  const claimHeaders = Object.entries(r.claimHeaders);
  const identityHeaders = identityHeaderNames(config);
  const removals = allowRemovals(config);
  const denies = new BoundedMap<string, HttpAnswer>(MAX_DENY_ANSWERS);

  const finish = (headers: string[], remove: readonly string[], status: number, body: string): HttpAnswer => {
    if (remove.length > 0) headers.push(HEADERS_TO_REMOVE, remove.join(', '));
    headers.push('content-length', String(Buffer.byteLength(body)));
    return Object.freeze({ status, headers: Object.freeze(headers), body });
  };

  const anonymousRemove = anonymousRemovals(config);
  const anonymous = finish(identityHeaders.flatMap((h) => [h, '']), anonymousRemove, 200, '');
  /** Report-only answers that take off a header carrier, by header name (the token sources: a few). */
  const reportOnlyByHeader = new Map<string, HttpAnswer>();

  function reportOnly(found: FoundToken | undefined): HttpAnswer {
    if (r.forwardOriginal || found === undefined || found.source.kind === 'query') return anonymous;
    const build = (): HttpAnswer => {
      const headers = identityHeaders.flatMap((h) => [h, '']);
      const remove = [...anonymousRemove];
      carrierRemoval(found, headers, remove);
      return finish(headers, [...new Set(remove)], 200, '');
    };
    // A cookie carrier's rewrite depends on the request's other cookies: built per request.
    if (found.source.kind === 'cookie') return build();
    let answer = reportOnlyByHeader.get(found.source.name);
    if (answer === undefined) reportOnlyByHeader.set(found.source.name, (answer = build()));
    return answer;
  }

  function deny(rejection: Rejection, tokenPresent: boolean): HttpAnswer {
    // A flood repeats a few denies: reuse each answer.
    const key = `${tokenPresent ? 1 : 0}${rejection.reason}\0${rejection.message}\0${rejection.scope ?? ''}`;
    const known = denies.get(key);
    if (known !== undefined) return known;
    const { http, error, challenge } = denyShape(config, rejection, tokenPresent);
    const headers = ['content-type', 'application/json', 'cache-control', 'no-store'];
    if (challenge !== undefined) headers.push('www-authenticate', challenge);
    const answer = finish(headers, [], http, JSON.stringify({ error, reason: rejection.reason, message: rejection.message }));
    denies.set(key, answer);
    return answer;
  }

  function buildAllow(identity: Identity, found: FoundToken): HttpAnswer {
    const headers = [r.principalHeader, wire(identity.user)];
    if (r.passThroughHeader !== '') headers.push(r.passThroughHeader, found.token);
    const remove = [...(fromAuthorization(found) ? removals.carried : removals.unchecked)];
    for (const [name, path] of claimHeaders) {
      const value = claimHeaderValue(identity.claims, path);
      headers.push(name, value === undefined ? '' : wire(value));
      if (value === undefined) remove.push(name);
    }
    if (!r.forwardOriginal) carrierRemoval(found, headers, remove);
    for (let i = 1; i < headers.length; i += 2) if (NOT_SENDABLE.test(headers[i] ?? '')) return deny(UNSENDABLE, true);
    return finish(headers, remove, 200, '');
  }

  // A verified-token cache hit hands back the same Identity: reuse its answer too. Not for a
  // cookie carrier removed upstream, whose rewrite depends on the request's other cookies.
  const built = new WeakMap<Identity, { source: FoundToken['source']; answer: HttpAnswer }>();
  const reusable = (found: FoundToken) => cacheEnabled(config.cache) && (r.forwardOriginal || found.source.kind !== 'cookie');

  return {
    allow(identity, found) {
      const previous = built.get(identity);
      if (previous !== undefined && previous.source === found.source && reusable(found)) return previous.answer;
      const answer = buildAllow(identity, found);
      if (reusable(found)) built.set(identity, { source: found.source, answer });
      return answer;
    },
    anonymous: () => anonymous,
    reportOnly,
    deny,
  };
}

/**
 * `forward-original: false` (SPEC §6) as far as an HTTP answer can: a header carrier is
 * listed for removal, a cookie carrier is replaced by the other cookies (or removed). A query
 * parameter can not be removed through any proxy's HTTP interface (config load warns).
 */
function carrierRemoval(found: FoundToken, headers: string[], remove: string[]): void {
  const s = found.source;
  if (s.kind === 'header') {
    // Never both set and remove one name: a header we just set wins.
    if (!headers.some((h, i) => i % 2 === 0 && h === s.name)) remove.push(s.name);
  } else if (s.kind === 'cookie' && !remove.includes('cookie')) {
    if (found.otherCookies !== undefined && found.otherCookies !== '') headers.push('cookie', wire(found.otherCookies));
    else remove.push('cookie');
  }
}
