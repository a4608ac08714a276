import type { Logger } from '../log.js';
import { fingerprint } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { reject, type Rejection } from '../reasons.js';
import { headerValue, requestPath, type CheckRequest, type HttpRequestAttributes } from '../envoy/check-request.js';
import { cacheEnabled, TokenCache } from './cache.js';
import { checkStart, createCheckMetrics, type TransportMetrics } from './check-metrics.js';
import { decideHttp, type Decision } from './decide.js';
import { DenyLog } from './deny-log.js';
import { createHttpResponder, type HttpAnswer } from './http-response.js';
import type { Identity } from './identity.js';
import type { Policy } from './policy.js';
import type { CheckResponse } from '../envoy/check-response.js';
import { createResponder } from './response.js';
import { DEFAULT_ROUTE, reportsOnly, type RouteSettings } from './routes.js';
import type { FoundToken } from '../token/extract.js';

export interface AuthorizerOptions {
  readonly metrics?: Metrics;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/**
 * The pipeline credentials → identity → response, with metrics and logs around it, for both
 * transports: Envoy's gRPC Check and the HTTP mode (SPEC §12) run the same decision.
 * Holds the current policy; `swap` replaces it atomically (checks in flight finish on the old one).
 */
export interface Authorizer {
  readonly policy: Policy;
  check(request: CheckRequest): CheckResponse | Promise<CheckResponse>;
  /** The HTTP mode's check of request attributes read from an HTTP request. */
  checkHttp(http: HttpRequestAttributes): HttpAnswer | Promise<HttpAnswer>;
  /**
   * The HTTP mode's deny of a request it can not check (headers too large, a proxy that sent
   * no URI): answered, counted and logged like any deny.
   */
  refuseHttp(rejection: Rejection, tokenPresent: boolean, http?: HttpRequestAttributes): HttpAnswer;
  swap(policy: Policy): void;
  /** Once no check runs any more: writes what the deny log still holds. */
  close(): void;
}

/** SPEC §9: the configured path, query ignored. */
function isTokenPage(http: HttpRequestAttributes, policy: Policy): boolean {
  const page = policy.config.tokenPage;
  if (page === undefined) return false;
  const path = requestPath(http);
  const end = path.search(/[?#]/);
  return (end < 0 ? path : path.slice(0, end)) === page.path;
}

/** How one transport turns a decision into its answer; one per transport and generation. */
interface Answers<A> {
  allow(identity: Identity, found: FoundToken, http: HttpRequestAttributes, route: RouteSettings): A;
  anonymous(route: RouteSettings): A;
  deny(rejection: Rejection, tokenPresent: boolean, route: RouteSettings): A;
  reportOnly(rejection: Rejection, route: RouteSettings, found: FoundToken | undefined): A;
}

/** One config generation: the policy and the answers built for it, swapped together. */
interface Generation {
  readonly policy: Policy;
  readonly grpc: Answers<CheckResponse>;
  readonly http: Answers<HttpAnswer>;
  /** Absent when `cache.max-entries` or `cache.max-bytes` is 0. */
  readonly cache: TokenCache | undefined;
}

const EMPTY_HTTP: HttpRequestAttributes = {};
const INTERNAL = reject('internal_error', 'internal error; the request was denied');
const UNDECODABLE_DENY: Decision = {
  kind: 'deny',
  rejection: reject('internal_error', 'the request could not be decoded; it was denied'),
  found: undefined,
  tokenPresent: false,
};

export function createAuthorizer(initial: Policy, options: AuthorizerOptions = {}): Authorizer {
  const { metrics, logger } = options;
  const now = options.now ?? Date.now;
  const counts = createCheckMetrics(metrics);
  const generation = (policy: Policy): Generation => {
    const limits = policy.config.cache;
    const responder = createResponder(policy.config);
    const httpResponder = createHttpResponder(policy.config);
    return {
      policy,
      grpc: {
        allow: (identity, found, http, route) =>
          isTokenPage(http, policy) ? responder.tokenPage(identity, found) : responder.allow(identity, found, route),
        anonymous: (route) => responder.anonymous(route),
        deny: (rejection, tokenPresent, route) => responder.deny(rejection, tokenPresent, route),
        reportOnly: (rejection, route, found) => responder.reportOnly(rejection, route, found),
      },
      // The token page needs Envoy's denied_response; through a proxy's 200 it would go upstream.
      http: {
        allow: (identity, found) => httpResponder.allow(identity, found),
        anonymous: () => httpResponder.anonymous(),
        deny: (rejection, tokenPresent) => httpResponder.deny(rejection, tokenPresent),
        reportOnly: (_rejection, _route, found) => httpResponder.reportOnly(found),
      },
      cache: cacheEnabled(limits) ? new TokenCache(limits, counts.cacheStats) : undefined,
    };
  };
  let current = generation(initial);
  // Its window follows the wall clock, not the check clock (which tests may freeze).
  const denyLog = logger === undefined ? undefined : new DenyLog(logger);

  function answer<A>(
    http: HttpRequestAttributes,
    decision: Decision,
    route: RouteSettings,
    kit: Answers<A>,
    count: TransportMetrics,
    started: number,
  ): A {
    if (decision.kind === 'deny') {
      const { rejection, found } = decision;
      // Report-only (SPEC §14): every deny of the check itself passes, without identity; an
      // internal_error never does. A request that could not be checked at all is answered
      // under DEFAULT_ROUTE: still denied.
      const reportOnly = reportsOnly(route, rejection);
      const response = reportOnly ? kit.reportOnly(rejection, route, found) : kit.deny(rejection, decision.tokenPresent, route);
      if (logger !== undefined && denyLog?.admit(rejection.reason) === true) {
        logger.info(
          {
            decision: reportOnly ? 'allow' : 'deny',
            reportOnly: reportOnly || undefined,
            reason: rejection.reason,
            provider: rejection.provider,
            detail: rejection.message,
            route: route.label,
            transport: count === counts.http ? 'http' : undefined,
            requestId: headerValue(http, 'x-request-id')?.slice(0, 128),
            tokenFingerprint: found === undefined ? undefined : fingerprint(found.token),
          },
          reportOnly ? 'check would be denied (report-only)' : 'check denied',
        );
      }
      if (reportOnly) count.reportedOnly(rejection.reason, rejection.provider, started);
      else count.denied(rejection.reason, rejection.provider, started);
      return response;
    }
    const response = decision.kind === 'anonymous' ? kit.anonymous(route) : kit.allow(decision.identity, decision.found, http, route);
    if (logger?.isLevelEnabled('debug')) {
      logger.debug(
        decision.kind === 'allow'
          ? { decision: 'allow', provider: decision.identity.provider.name, user: decision.identity.user, route: route.label, tokenFingerprint: fingerprint(decision.found.token) }
          : { decision: 'allow', anonymous: true, route: route.label },
        'check allowed',
      );
    }
    count.allowed(started);
    return response;
  }

  function failClosed<A>(error: unknown, kit: Answers<A>, count: TransportMetrics, started: number): A {
    logger?.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'internal error during check');
    return answer(EMPTY_HTTP, { kind: 'deny', rejection: INTERNAL, found: undefined, tokenPresent: false }, DEFAULT_ROUTE, kit, count, started);
  }

  /** Route, decision, answer: the same for both transports. Never throws. */
  function run<A>(
    http: HttpRequestAttributes,
    ext: Readonly<Record<string, string>> | undefined,
    gen: Generation,
    kit: Answers<A>,
    count: TransportMetrics,
    started: number,
  ): A | Promise<A> {
    try {
      const route = gen.policy.routes.select(http);
      const decision = decideHttp(http, ext, route, gen.policy, now(), gen.cache);
      if (!(decision instanceof Promise)) return answer(http, decision, route, kit, count, started);
      return decision.then(
        (d) => {
          try {
            return answer(http, d, route, kit, count, started);
          } catch (e: unknown) {
            return failClosed(e, kit, count, started);
          }
        },
        (e: unknown) => failClosed(e, kit, count, started),
      );
    } catch (e: unknown) {
      return failClosed(e, kit, count, started);
    }
  }

  return {
    get policy() {
      return current.policy;
    },
    swap(policy) {
      current = generation(policy);
    },
    close() {
      denyLog?.flush();
    },
    check(request) {
      const started = checkStart();
      const gen = current;
      if (request.undecodable === true) {
        // The codec's sentinel for bytes that are no CheckRequest (SPEC §8): an ordinary deny,
        // logged through the rate-limited deny log (a flood must not write a line each).
        return answer(EMPTY_HTTP, UNDECODABLE_DENY, DEFAULT_ROUTE, gen.grpc, counts.grpc, started);
      }
      const attrs = request.attributes;
      return run(attrs?.request?.http ?? EMPTY_HTTP, attrs?.context_extensions, gen, gen.grpc, counts.grpc, started);
    },
    checkHttp(http) {
      const gen = current;
      return run(http, undefined, gen, gen.http, counts.http, checkStart());
    },
    refuseHttp(rejection, tokenPresent, http = EMPTY_HTTP) {
      const decision: Decision = { kind: 'deny', rejection, found: undefined, tokenPresent };
      return answer(http, decision, DEFAULT_ROUTE, current.http, counts.http, checkStart());
    },
  };
}
