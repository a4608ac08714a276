import type { Config } from '../config/types.js';
import { cacheEnabled } from './cache.js';
import { REASONS, type Rejection } from '../reasons.js';
import { BoundedMap } from '../util/bounded-map.js';
import type { FoundToken } from '../token/extract.js';
import { claimHeaderValue } from './claim-headers.js';
import type { Identity } from './identity.js';
import { DEFAULT_ROUTE, type RouteSettings } from './routes.js';
import { reusedAnswer, setHeader, type CheckResponse, type HeaderValueOption, type Struct, type StructValue } from '../envoy/check-response.js';
import { renderTokenPage, TOKEN_PAGE_HEADERS } from './token-page.js';

const OK_STATUS = Object.freeze({ code: 0 });
// Envoy only uses denied_response when status.code is non-zero; 7 = PERMISSION_DENIED.
const PAGE_STATUS = Object.freeze({ code: 7 });
const PAGE_HTTP_STATUS = Object.freeze({ code: 200 });
const MAX_DENY_ANSWERS = 256;
const ERROR_KIND = { 401: 'invalid_token', 403: 'forbidden', 503: 'unavailable' } as const;
/** Allow answers kept per identity, one per route it was checked on. */
const MAX_ROUTES_PER_IDENTITY = 4;

type OkResponse = NonNullable<CheckResponse['ok_response']>;

interface AllowParts {
  okResponse(identity: Identity, found: FoundToken): OkResponse;
  metadata(identity: Identity, routeLabel: string | undefined): Struct;
}

/**
 * An allow kept for cache hits, as small as it can be: what it is built from, not the ~15
 * objects of its parts. The codec reads it once and keeps its bytes (reusedAnswer); any other
 * reader gets the parts built anew, equal every time. With the token spliced in at send time
 * (the codec), a cached allow costs about 300 bytes instead of 1 KB plus the token again.
 */
class KeptAllow implements CheckResponse {
  readonly status = OK_STATUS;
  /** The token and its carrier only: never a request's other cookies. */
  protected readonly found: FoundToken;

  constructor(
    protected readonly parts: AllowParts,
    protected readonly identity: Identity,
    found: FoundToken,
    /** The label of the route the answer names; undefined when it names none. */
    readonly routeLabel: string | undefined,
  ) {
    this.found = { token: found.token, source: found.source };
  }

  get ok_response(): OkResponse {
    return this.parts.okResponse(this.identity, this.found);
  }

  get source(): FoundToken['source'] {
    return this.found.source;
  }
}

class KeptAllowWithMetadata extends KeptAllow {
  get dynamic_metadata(): Struct {
    return this.parts.metadata(this.identity, this.routeLabel);
  }
}

/**
 * CheckResponses for one config generation. With `dynamic-metadata` on, an allow names the
 * request's route (SPEC §11) when one matched. A deny, and a report-only allow, always carry
 * `reason`, `provider` and `route` (what is known; SPEC §14) so that Envoy's access log and
 * `check` can show them: they hold no identity, so `dynamic-metadata: false` (which keeps the
 * identity out of Envoy's metadata) does not take them away.
 */
export interface Responder {
  allow(identity: Identity, found: FoundToken, route?: RouteSettings): CheckResponse;
  anonymous(route?: RouteSettings): CheckResponse;
  deny(rejection: Rejection, tokenPresent: boolean, route?: RouteSettings): CheckResponse;
  /**
   * A would-be deny under report-only (SPEC §14): the anonymous allow (every identity header
   * removed), with the deny's metadata and `report_only: "true"`. With `forward-original: false`
   * it also takes off `found`'s carrier, as an allow would.
   */
  reportOnly(rejection: Rejection, route?: RouteSettings, found?: FoundToken): CheckResponse;
  /** The client token page (SPEC §9): a 200 page through denied_response, so status.code is 7. */
  tokenPage(identity: Identity, found: FoundToken): CheckResponse;
}

/** Principal, pass-through and claim headers: every header an allow answer owns. */
export const identityHeaderNames = (config: Config): string[] => {
  const r = config.response;
  return [r.principalHeader, ...(r.passThroughHeader === '' ? [] : [r.passThroughHeader]), ...Object.keys(r.claimHeaders)];
};

/**
 * x_jwt_principal is a different header to Envoy, but the same one to CGI-style upstreams
 * (HTTP_X_JWT_PRINCIPAL): an allow removes such look-alikes too, so none can be smuggled.
 */
const lookalikesOf = (headers: readonly string[]): string[] => headers.filter((h) => h.includes('-')).map((h) => h.replaceAll('-', '_'));

/**
 * Header hygiene (SPEC §14): what every allow removes besides the identity headers. `authorization`
 * is added when the verified token did not come from it (`uncheckedAuthorization`): a credential
 * nobody checked (a password-less Basic user is Trino's insecure-authenticator user). Never a
 * header the answer sets.
 */
export function allowRemovals(config: Config): { readonly carried: readonly string[]; readonly unchecked: readonly string[] } {
  const identity = identityHeaderNames(config);
  const carried = [...new Set([...lookalikesOf(identity), ...config.response.removeHeaders])];
  const unchecked = identity.includes(AUTHORIZATION) || carried.includes(AUTHORIZATION) ? carried : [...carried, AUTHORIZATION];
  return { carried: Object.freeze(carried), unchecked: Object.freeze(unchecked) };
}

/** The anonymous (and report-only) allow removes every identity header, and any Authorization. */
export const anonymousRemovals = (config: Config): string[] =>
  [...new Set([...identityHeaderNames(config), ...allowRemovals(config).unchecked])];

const AUTHORIZATION = 'authorization';

/** True when the verified token came from the Authorization header: it was checked. */
export const fromAuthorization = (found: FoundToken): boolean => found.source.kind === 'header' && found.source.name === AUTHORIZATION;

/** The parts of a deny (SPEC §5) both transports share: statuses, `error`, the RFC 6750 challenge of a 401. */
export function denyShape(config: Config, rejection: Rejection, tokenPresent: boolean) {
  const { http, grpc } = REASONS[rejection.reason];
  // RFC 6750 §3.1: the one 403 with a challenge names every scope the route requires.
  const challenge = rejection.scope !== undefined ? `Bearer realm="${config.realm}", error="insufficient_scope", scope="${rejection.scope}"`
    : http !== 401 ? undefined
    : tokenPresent ? `Bearer realm="${config.realm}", error="invalid_token", error_description="${rejection.reason}"`
    : `Bearer realm="${config.realm}"`;
  const error = http === 401 && !tokenPresent ? 'unauthorized' : ERROR_KIND[http];
  return { http, grpc, error, challenge };
}

/** Builds answers for one config generation; constant parts are built once here. */
export function createResponder(config: Config): Responder {
  const r = config.response;
  const claimHeaders = Object.entries(r.claimHeaders);
  // Frozen: allow answers without claim headers or carrier removal share them as their removal list.
  const removals = allowRemovals(config);
  const anonymousOk = { headers: [], headers_to_remove: anonymousRemovals(config), query_parameters_to_remove: [] };
  const anonymous: CheckResponse = reusedAnswer({ status: OK_STATUS, ok_response: anonymousOk });
  // Report-only allows, per reason, provider and route (bounded like the denies).
  const reportOnlyAnswers = new BoundedMap<string, CheckResponse>(MAX_DENY_ANSWERS);
  // The anonymous allow that names its route, per route label (bounded: labels of combined routes vary).
  const anonymousOn = new BoundedMap<string, CheckResponse>(MAX_DENY_ANSWERS);
  // Messages may quote the token (an alg name, a claim): bounded.
  const denies = new BoundedMap<string, CheckResponse>(MAX_DENY_ANSWERS);
  const denyParts = new Map<string, { status: { code: number }; grpc: { code: number }; headers: HeaderValueOption[]; error: string }>();

  function denyTemplate(rejection: Rejection, tokenPresent: boolean) {
    const cacheKey = `${rejection.reason}/${tokenPresent ? 1 : 0}/${rejection.scope ?? ''}`;
    let t = denyParts.get(cacheKey);
    if (t === undefined) {
      const { http, grpc, error, challenge } = denyShape(config, rejection, tokenPresent);
      const headers = [setHeader('content-type', 'application/json'), setHeader('cache-control', 'no-store')];
      if (challenge !== undefined) headers.push(setHeader('www-authenticate', challenge));
      t = { status: { code: http }, grpc: { code: grpc }, headers, error };
      denyParts.set(cacheKey, t);
    }
    return t;
  }

  const NONE: readonly string[] = Object.freeze([]);
  const constantRemovals = claimHeaders.length === 0 && r.forwardOriginal;

  function okResponse(identity: Identity, found: FoundToken): OkResponse {
    const headers = [setHeader(r.principalHeader, identity.user)];
    if (r.passThroughHeader !== '') headers.push(setHeader(r.passThroughHeader, found.token));
    const base = fromAuthorization(found) ? removals.carried : removals.unchecked;
    let remove: readonly string[] = base;
    let queryRemove: readonly string[] = NONE;
    // Only a claim header that is absent or a carrier to take off adds to the constant lists.
    if (!constantRemovals) {
      const removeMore: string[] = [...base];
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
    return { headers, headers_to_remove: remove, query_parameters_to_remove: queryRemove };
  }

  function buildAllow(identity: Identity, found: FoundToken, route: RouteSettings): CheckResponse {
    const ok_response = okResponse(identity, found);
    return r.dynamicMetadata ? { status: OK_STATUS, ok_response, dynamic_metadata: metadata(identity, route.label) } : { status: OK_STATUS, ok_response };
  }

  const parts: AllowParts = { okResponse, metadata };
  // A verified-token cache hit hands back the same Identity: reuse its answer too. Not for a
  // cookie carrier removed upstream, whose rewrite depends on the request's other cookies.
  // The metadata names the route, so a caller on several routes has an answer per route (a few).
  const built = new WeakMap<Identity, KeptAllow | KeptAllow[]>();
  const reusable = (found: FoundToken) => cacheEnabled(config.cache) && (r.forwardOriginal || found.source.kind !== 'cookie');

  return {
    allow(identity, found, route = DEFAULT_ROUTE) {
      if (!reusable(found)) return buildAllow(identity, found, route);
      const key = r.dynamicMetadata ? route.label : undefined;
      const previous = built.get(identity);
      if (previous !== undefined) {
        if (!Array.isArray(previous)) {
          if (previous.routeLabel === key && previous.source === found.source) return previous;
        } else {
          for (const b of previous) if (b.routeLabel === key && b.source === found.source) return b;
        }
      }
      // Sent again on every cache hit: encoded once, with the token spliced in at send time.
      const answer = reusedAnswer(
        r.dynamicMetadata ? new KeptAllowWithMetadata(parts, identity, found, key) : new KeptAllow(parts, identity, found, key),
        r.passThroughHeader === '' ? {} : { carries: found.token },
      );
      if (previous === undefined) built.set(identity, answer);
      else if (!Array.isArray(previous)) built.set(identity, [previous, answer]);
      else {
        if (previous.length >= MAX_ROUTES_PER_IDENTITY) previous.shift();
        previous.push(answer);
      }
      return answer;
    },
    anonymous(route = DEFAULT_ROUTE) {
      const label = route.label;
      if (!r.dynamicMetadata || label === undefined) return anonymous;
      let answer = anonymousOn.get(label);
      if (answer === undefined) {
        answer = reusedAnswer({ status: OK_STATUS, ok_response: anonymousOk, dynamic_metadata: { fields: { route: str(label) } } });
        anonymousOn.set(label, answer);
      }
      return answer;
    },
    tokenPage(identity, found) {
      const body = renderTokenPage({ token: found.token, user: identity.user, exp: identity.claims['exp'] });
      return { status: PAGE_STATUS, denied_response: { status: PAGE_HTTP_STATUS, headers: TOKEN_PAGE_HEADERS, body } };
    },
    reportOnly(rejection, route = DEFAULT_ROUTE, found) {
      // forward-original: false holds for a dry run's allow too: the upstream never gets the token.
      const carrier = r.forwardOriginal ? undefined : found;
      const build = () => {
        const { fields } = denyMetadata(rejection, route);
        const dynamic_metadata = { fields: { ...fields, report_only: str('true') } };
        if (carrier === undefined) return { status: OK_STATUS, ok_response: anonymousOk, dynamic_metadata };
        const headers: HeaderValueOption[] = [];
        const remove = [...anonymousOk.headers_to_remove];
        const queryRemove: string[] = [];
        carrierRemoval(carrier, headers, remove, queryRemove);
        return { status: OK_STATUS, ok_response: { headers, headers_to_remove: [...new Set(remove)], query_parameters_to_remove: queryRemove }, dynamic_metadata };
      };
      // A cookie carrier's rewrite depends on the request's other cookies: built per request.
      if (carrier?.source.kind === 'cookie') return build();
      const key = `${rejection.reason}\0${rejection.provider}\0${route.label ?? ''}\0${carrier === undefined ? '' : `${carrier.source.kind}:${carrier.source.name}`}`;
      let answer = reportOnlyAnswers.get(key);
      if (answer === undefined) {
        answer = reusedAnswer(build());
        reportOnlyAnswers.set(key, answer);
      }
      return answer;
    },
    deny(rejection, tokenPresent, route = DEFAULT_ROUTE) {
      // A flood repeats a few denies: reuse each answer (frozen, so its bytes are encoded once).
      const key = `${tokenPresent ? 1 : 0}${rejection.reason}\0${rejection.message}\0${rejection.provider}\0${route.label ?? ''}\0${rejection.scope ?? ''}`;
      const known = denies.get(key);
      if (known !== undefined) return known;
      const t = denyTemplate(rejection, tokenPresent);
      const body = JSON.stringify({ error: t.error, reason: rejection.reason, message: rejection.message });
      const denied_response = { status: t.status, headers: t.headers, body };
      const answer: CheckResponse = reusedAnswer({ status: t.grpc, denied_response, dynamic_metadata: denyMetadata(rejection, route) });
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
  } else if (remove.includes('cookie')) {
    // response.remove-headers takes every cookie off: nothing to rewrite.
  } else if (found.otherCookies !== undefined && found.otherCookies !== '') {
    headers.push(setHeader('cookie', found.otherCookies));
  } else {
    remove.push('cookie');
  }
}

const str = (v: string): StructValue => ({ stringValue: v });

function metadata(identity: Identity, routeLabel: string | undefined): Struct {
  const fields: Record<string, StructValue> = {
    principal: str(identity.principal),
    user: str(identity.user),
    provider: str(identity.provider.name),
  };
  const { iss, sub } = identity.claims;
  if (typeof iss === 'string') fields['iss'] = str(iss);
  if (typeof sub === 'string') fields['sub'] = str(sub);
  if (routeLabel !== undefined) fields['route'] = str(routeLabel);
  return { fields };
}

/** SPEC §14 "deny metadata": what is known of why. */
function denyMetadata(rejection: Rejection, route: RouteSettings): Struct {
  const fields: Record<string, StructValue> = { reason: str(rejection.reason) };
  if (rejection.provider !== '') fields['provider'] = str(rejection.provider);
  if (route.label !== undefined) fields['route'] = str(route.label);
  return { fields };
}
