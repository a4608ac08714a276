import type { Config } from '../config/types.js';
import { cacheEnabled } from './cache.js';
import { REASONS, type Rejection } from '../reasons.js';
import { BoundedMap } from '../util/bounded-map.js';
import type { FoundToken } from '../token/extract.js';
import { claimHeaderValue } from './claim-headers.js';
import type { Identity } from './identity.js';
import { reusedAnswer, setHeader, type CheckResponse, type HeaderValueOption, type Struct, type StructValue } from '../envoy/check-response.js';
import { renderTokenPage, TOKEN_PAGE_HEADERS } from './token-page.js';

const OK_STATUS = Object.freeze({ code: 0 });
// Envoy only uses denied_response when status.code is non-zero; 7 = PERMISSION_DENIED.
const PAGE_STATUS = Object.freeze({ code: 7 });
const PAGE_HTTP_STATUS = Object.freeze({ code: 200 });
const MAX_DENY_ANSWERS = 256;
const ERROR_KIND = { 401: 'invalid_token', 403: 'forbidden', 503: 'unavailable' } as const;

export interface Responder {
  allow(identity: Identity, found: FoundToken): CheckResponse;
  anonymous(): CheckResponse;
  deny(rejection: Rejection, tokenPresent: boolean): CheckResponse;
  /** The client token page (SPEC §9): a 200 page through denied_response, so status.code is 7. */
  tokenPage(identity: Identity, found: FoundToken): CheckResponse;
}

/** Builds answers for one config generation; constant parts are built once here. */
export function createResponder(config: Config): Responder {
  const r = config.response;
  const claimHeaders = Object.entries(r.claimHeaders);
  const identityHeaders = [r.principalHeader, ...(r.passThroughHeader === '' ? [] : [r.passThroughHeader]), ...claimHeaders.map(([h]) => h)];
  // x_jwt_principal is a different header to Envoy, but the same one to CGI-style upstreams
  // (HTTP_X_JWT_PRINCIPAL): remove such look-alikes too, so none can be smuggled.
  // Frozen: allow answers without claim headers or carrier removal share it as their removal list.
  const lookalikes: readonly string[] = Object.freeze(identityHeaders.filter((h) => h.includes('-')).map((h) => h.replaceAll('-', '_')));
  const anonymous: CheckResponse = reusedAnswer({
    status: OK_STATUS,
    ok_response: { headers: [], headers_to_remove: [...identityHeaders, ...lookalikes], query_parameters_to_remove: [] },
  });
  // Messages may quote the token (an alg name, a claim): bounded.
  const denies = new BoundedMap<string, CheckResponse>(MAX_DENY_ANSWERS);
  const denyParts = new Map<string, { status: { code: number }; grpc: { code: number }; headers: HeaderValueOption[]; error: string }>();

  function denyTemplate(rejection: Rejection, tokenPresent: boolean) {
    const cacheKey = `${rejection.reason}/${tokenPresent ? 1 : 0}`;
    let t = denyParts.get(cacheKey);
    if (t === undefined) {
      const { http, grpc } = REASONS[rejection.reason];
      const headers = [setHeader('content-type', 'application/json'), setHeader('cache-control', 'no-store')];
      if (http === 401) {
        const challenge = tokenPresent
          ? `Bearer realm="${config.realm}", error="invalid_token", error_description="${rejection.reason}"`
          : `Bearer realm="${config.realm}"`;
        headers.push(setHeader('www-authenticate', challenge));
      }
      const error = http === 401 && !tokenPresent ? 'unauthorized' : ERROR_KIND[http];
      t = { status: { code: http }, grpc: { code: grpc }, headers, error };
      denyParts.set(cacheKey, t);
    }
    return t;
  }

  const NONE: readonly string[] = Object.freeze([]);
  const constantRemovals = claimHeaders.length === 0 && r.forwardOriginal;

  function buildAllow(identity: Identity, found: FoundToken): CheckResponse {
    const headers = [setHeader(r.principalHeader, identity.user)];
    if (r.passThroughHeader !== '') headers.push(setHeader(r.passThroughHeader, found.token));
    let remove: readonly string[] = lookalikes;
    let queryRemove: readonly string[] = NONE;
    // Only a claim header that is absent or a carrier to take off adds to the constant lists.
    if (!constantRemovals) {
      const removeMore: string[] = [...lookalikes];
      for (const [name, path] of claimHeaders) {
        const value = claimHeaderValue(identity.claims, path);
        if (value === undefined) removeMore.push(name);
        else headers.push(setHeader(name, value));
      }
      const queryMore: string[] = [];
      if (!r.forwardOriginal) carrierRemoval(found, headers, removeMore, queryMore);
      remove = removeMore;
      queryRemove = queryMore;
    }
    const ok_response = { headers, headers_to_remove: remove, query_parameters_to_remove: queryRemove };
    return r.dynamicMetadata ? { status: OK_STATUS, ok_response, dynamic_metadata: metadata(identity) } : { status: OK_STATUS, ok_response };
  }

  // A verified-token cache hit hands back the same Identity: reuse its answer too. Not for a
  // cookie carrier removed upstream, whose rewrite depends on the request's other cookies.
  const built = new WeakMap<Identity, { source: FoundToken['source']; response: CheckResponse }>();
  const reusable = (found: FoundToken) => cacheEnabled(config.cache) && (r.forwardOriginal || found.source.kind !== 'cookie');

  return {
    allow(identity, found) {
      const previous = built.get(identity);
      if (previous !== undefined && previous.source === found.source && reusable(found)) return previous.response;
      if (!reusable(found)) return buildAllow(identity, found);
      // Sent again on every cache hit: encoded once, with the token spliced in at send time.
      const response = reusedAnswer(buildAllow(identity, found), r.passThroughHeader === '' ? {} : { carries: found.token });
      built.set(identity, { source: found.source, response });
      return response;
    },
    anonymous: () => anonymous,
    tokenPage(identity, found) {
      const body = renderTokenPage({ token: found.token, user: identity.user, exp: identity.claims['exp'] });
      return { status: PAGE_STATUS, denied_response: { status: PAGE_HTTP_STATUS, headers: TOKEN_PAGE_HEADERS, body } };
    },
    deny(rejection, tokenPresent) {
      // A flood repeats a few denies: reuse each answer (frozen, so its bytes are encoded once).
      const key = `${tokenPresent ? 1 : 0}${rejection.reason}\0${rejection.message}`;
      const known = denies.get(key);
      if (known !== undefined) return known;
      const t = denyTemplate(rejection, tokenPresent);
      const body = JSON.stringify({ error: t.error, reason: rejection.reason, message: rejection.message });
      const answer: CheckResponse = reusedAnswer({ status: t.grpc, denied_response: { status: t.status, headers: t.headers, body } });
      denies.set(key, answer);
      return answer;
    },
  };
}

/** `forward-original: false`: take the token's carrier off the upstream request (SPEC §6). */
function carrierRemoval(found: FoundToken, headers: HeaderValueOption[], remove: string[], queryRemove: string[]): void {
  const s = found.source;
  if (s.kind === 'query') {
    queryRemove.push(s.name);
  } else if (s.kind === 'header') {
    // Never both set and remove one name: a header we just set wins.
    if (!headers.some((h) => h.header.key === s.name)) remove.push(s.name);
  } else if (found.otherCookies !== undefined && found.otherCookies !== '') {
    headers.push(setHeader('cookie', found.otherCookies));
  } else {
    remove.push('cookie');
  }
}

const str = (v: string): StructValue => ({ stringValue: v });

function metadata(identity: Identity): Struct {
  const fields: Record<string, StructValue> = {
    principal: str(identity.principal),
    user: str(identity.user),
    provider: str(identity.provider.name),
  };
  const { iss, sub } = identity.claims;
  if (typeof iss === 'string') fields['iss'] = str(iss);
  if (typeof sub === 'string') fields['sub'] = str(sub);
  return { fields };
}
