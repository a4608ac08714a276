import type { Logger } from '../log.js';
import { fingerprint } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { reject } from '../reasons.js';
import { headerValues, requestPath, type CheckRequest } from '../envoy/check-request.js';
import { cacheEnabled, TokenCache } from './cache.js';
import { createCheckMetrics } from './check-metrics.js';
import { decide, type Decision } from './decide.js';
import { DenyLog } from './deny-log.js';
import type { Policy } from './policy.js';
import type { CheckResponse } from '../envoy/check-response.js';
import { createResponder, type Responder } from './response.js';

export interface AuthorizerOptions {
  readonly metrics?: Metrics;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/**
 * The pipeline credentials → identity → response, with metrics and logs around it.
 * Holds the current policy; `swap` replaces it atomically (checks in flight finish on the old one).
 */
export interface Authorizer {
  readonly policy: Policy;
  check(request: CheckRequest): CheckResponse | Promise<CheckResponse>;
  swap(policy: Policy): void;
  /** Once no check runs any more: writes what the deny log still holds. */
  close(): void;
}

/** SPEC §9: the configured path, query ignored. */
function isTokenPage(request: CheckRequest, policy: Policy): boolean {
  const page = policy.config.tokenPage;
  const http = request.attributes?.request?.http;
  if (page === undefined || http === undefined || http === null) return false;
  const path = requestPath(http);
  const end = path.search(/[?#]/);
  return (end < 0 ? path : path.slice(0, end)) === page.path;
}

/** One config generation: the policy and the answers built for it, swapped together. */
interface Generation {
  readonly policy: Policy;
  readonly responder: Responder;
  /** Absent when `cache.max-entries` or `cache.max-bytes` is 0. */
  readonly cache: TokenCache | undefined;
}

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
    return { policy, responder: createResponder(policy.config), cache: cacheEnabled(limits) ? new TokenCache(limits, counts.cacheStats) : undefined };
  };
  let current = generation(initial);
  // Its window follows the wall clock, not the check clock (which tests may freeze).
  const denyLog = logger === undefined ? undefined : new DenyLog(logger);

  function answer(request: CheckRequest, decision: Decision, gen: Generation, started: bigint): CheckResponse {
    const { responder } = gen;
    let response: CheckResponse;
    if (decision.kind === 'deny') {
      const { rejection, found } = decision;
      response = responder.deny(rejection, decision.tokenPresent);
      if (logger !== undefined && denyLog?.admit(rejection.reason) === true) {
        const http = request.attributes?.request?.http;
        logger.info(
          {
            decision: 'deny',
            reason: rejection.reason,
            provider: rejection.provider,
            detail: rejection.message,
            requestId: http === undefined || http === null ? undefined : headerValues(http, 'x-request-id')[0]?.slice(0, 128),
            tokenFingerprint: found === undefined ? undefined : fingerprint(found.token),
          },
          'check denied',
        );
      }
      counts.denied(rejection.reason, rejection.provider, started);
    } else {
      if (decision.kind === 'anonymous') response = responder.anonymous();
      else if (isTokenPage(request, gen.policy)) response = responder.tokenPage(decision.identity, decision.found);
      else response = responder.allow(decision.identity, decision.found);
      if (logger?.isLevelEnabled('debug')) {
        logger.debug(
          decision.kind === 'allow'
            ? { decision: 'allow', provider: decision.identity.provider.name, user: decision.identity.user, tokenFingerprint: fingerprint(decision.found.token) }
            : { decision: 'allow', anonymous: true },
          'check allowed',
        );
      }
      counts.allowed(started);
    }
    return response;
  }

  function failClosed(error: unknown, gen: Generation, started: bigint): CheckResponse {
    logger?.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'internal error during check');
    return answer({}, { kind: 'deny', rejection: INTERNAL, found: undefined, tokenPresent: false }, gen, started);
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
      const started = process.hrtime.bigint();
      const gen = current;
      if (request.undecodable === true) {
        // The codec's sentinel for bytes that are no CheckRequest (SPEC §8): an ordinary deny,
        // logged through the rate-limited deny log (a flood must not write a line each).
        return answer(request, UNDECODABLE_DENY, gen, started);
      }
      try {
        const decision = decide(request, gen.policy, now(), gen.cache);
        if (!(decision instanceof Promise)) return answer(request, decision, gen, started);
        return decision.then(
          (d) => {
            try {
              return answer(request, d, gen, started);
            } catch (e: unknown) {
              return failClosed(e, gen, started);
            }
          },
          (e: unknown) => failClosed(e, gen, started),
        );
      } catch (e: unknown) {
        return failClosed(e, gen, started);
      }
    },
  };
}
