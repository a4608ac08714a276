import type { VerificationKey } from '../keys/types.js';
import { Rejection, reject } from '../reasons.js';
import { isSafeHeaderValue, javaTrim } from '../util/strings.js';
import { extractToken, type FoundToken } from '../token/extract.js';
import { parseToken, type ParsedToken } from '../token/parse.js';
import type { CheckRequest, HttpRequestAttributes } from '../envoy/check-request.js';
import { verifySignature } from '../token/signature.js';
import { checkClaims } from '../token/claims.js';
import type { TokenCache } from './cache.js';
import type { Identity } from './identity.js';
import type { Policy, Provider } from './policy.js';
import type { RouteSettings } from './routes.js';
import { unmetRequirement } from './requirements.js';

export type { Identity } from './identity.js';

export type Decision =
  | { readonly kind: 'allow'; readonly identity: Identity; readonly found: FoundToken }
  /** No token, and the route allows that (`jwt.allow-missing`). */
  | { readonly kind: 'anonymous' }
  /** `tokenPresent` is true also when a source held several tokens (no single `found`). */
  | { readonly kind: 'deny'; readonly rejection: Rejection; readonly found: FoundToken | undefined; readonly tokenPresent: boolean };

const EMPTY_HTTP: HttpRequestAttributes = {};
const ANONYMOUS: Decision = { kind: 'anonymous' };
const MISSING: Decision = { kind: 'deny', rejection: reject('missing_token', 'no token in the request'), found: undefined, tokenPresent: false };

const deny = (rejection: Rejection, found: FoundToken | undefined): Decision => ({ kind: 'deny', rejection, found, tokenPresent: true });

/**
 * How long one check waits for an unknown-kid JWKS refetch. Envoy's ext_authz timeout defaults
 * to 200 ms, and a check that outlives it is an error Envoy may fail open on; past this budget
 * the check answers `unknown_key` and the fetch completes in the background.
 */
export const REFETCH_WAIT_MS = 100;

function withinBudget<T>(pending: Promise<T>, late: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(late), REFETCH_WAIT_MS);
    timer.unref();
    void pending.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/**
 * The check (SPEC §5): a pure function of the request, the policy and the clock (plus the
 * verified-token cache). Synchronous, signature included; a promise only while a JWKS
 * unknown-kid refetch is awaited. Never throws for any input. `route`: the request's route
 * settings (SPEC §11), when the caller already selected them.
 */
export function decide(request: CheckRequest, policy: Policy, nowMs: number, cache?: TokenCache, route?: RouteSettings): Decision | Promise<Decision> {
  const attrs = request.attributes;
  const http = attrs?.request?.http ?? EMPTY_HTTP;
  return decideHttp(http, attrs?.context_extensions, route ?? policy.routes.select(http), policy, nowMs, cache);
}

/**
 * The same check for request attributes and context_extensions given apart (the HTTP mode has
 * no CheckRequest around them). `ext` keys (SPEC §6), when present, override `route`.
 */
export function decideHttp(
  http: HttpRequestAttributes,
  ext: Readonly<Record<string, string>> | undefined,
  route: RouteSettings,
  policy: Policy,
  nowMs: number,
  cache?: TokenCache,
): Decision | Promise<Decision> {
  const { token } = policy.config;
  const found = extractToken(http, token.sources);
  if (found === undefined) return allowsMissing(route, ext) ? ANONYMOUS : MISSING;
  if (found instanceof Rejection) return deny(found, undefined);
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: count them only when the length alone does not tell.
  const length = found.token.length;
  if (length > token.maxBytes || (length * 3 > token.maxBytes && Buffer.byteLength(found.token) > token.maxBytes)) {
    return deny(reject('token_too_large', `the token is longer than ${token.maxBytes} bytes`), found);
  }
  const extProviders = ext?.['jwt.providers'] || undefined;
  if (cache !== undefined) {
    const hit = cache.get(found.token, nowMs);
    if (hit !== undefined && accepts(hit.provider, route, extProviders)) {
      // Revocation is checked on hits too: a rewritten file takes effect on the next request.
      if (hit.provider.revocations.match(hit.claims) !== undefined) return deny(revoked(hit.provider), found);
      return authorized({ kind: 'allow', identity: hit, found }, route, ext);
    }
  }
  const parsed = parseToken(found.token);
  if (parsed instanceof Rejection) return deny(parsed, found);

  const candidates = pickProviders(parsed, policy, route, extProviders);
  if (candidates instanceof Rejection) return deny(candidates, found);
  const decision = tryProviders(candidates, 0, parsed, found, nowMs, undefined);
  // The identity is cached before the route's requirements are asked of it: they are per check.
  if (decision instanceof Promise) return decision.then((d) => authorized(cache === undefined ? d : remember(cache, d, parsed, nowMs), route, ext));
  return authorized(cache === undefined ? decision : remember(cache, decision, parsed, nowMs), route, ext);
}

/** Authorization after authentication (SPEC §14): the route's (or context_extensions') scopes and claims. */
function authorized(d: Decision, route: RouteSettings, ext: Readonly<Record<string, string>> | undefined): Decision {
  if (d.kind !== 'allow') return d;
  const unmet = unmetRequirement(d.identity.claims, d.identity.provider.name, route.require, ext);
  return unmet === undefined ? d : deny(unmet, d.found);
}

/** `jwt.allow-missing`, when Envoy sends it, decides; else the route does. */
function allowsMissing(route: RouteSettings, ext: Readonly<Record<string, string>> | undefined): boolean {
  const v = ext?.['jwt.allow-missing'];
  return v === undefined ? route.allowMissing : v === 'true';
}

function remember(cache: TokenCache, d: Decision, parsed: ParsedToken, nowMs: number): Decision {
  if (d.kind !== 'allow') return d;
  const kept = cache.set(d.found.token, d.identity, parsed.kid, parsed.alg, nowMs);
  // The answer built from this decision is reused on hits: let it hold the cache's copy.
  return kept === undefined ? d : { kind: 'allow', identity: d.identity, found: { ...d.found, token: kept } };
}

/** A non-empty `jwt.providers` decides; else the route's providers (undefined: every one). */
const accepts = (provider: Provider, route: RouteSettings, extProviders: string | undefined): boolean =>
  extProviders !== undefined
    ? extProviders.split(',').some((n) => n.trim() === provider.name)
    : route.providers === undefined || route.providers.has(provider.name);

/** SPEC §5 step 2 and §6: by unverified `iss`, else the providers without required-issuer. */
function pickProviders(parsed: ParsedToken, policy: Policy, route: RouteSettings, extProviders: string | undefined): readonly Provider[] | Rejection {
  const byIssuer = parsed.issuer === undefined ? undefined : policy.byIssuer.get(parsed.issuer);
  const all = byIssuer ?? policy.issuerless;
  if (all.length === 0) return reject('untrusted_issuer', 'no provider trusts the token issuer');
  if (extProviders === undefined && route.providers === undefined) return all;
  const allowed = all.filter((p) => accepts(p, route, extProviders));
  return allowed.length > 0 ? allowed : reject('issuer_mismatch', 'the token issuer is not accepted on this route');
}

function tryProviders(
  providers: readonly Provider[],
  index: number,
  parsed: ParsedToken,
  found: FoundToken,
  nowMs: number,
  last: Rejection | undefined,
): Decision | Promise<Decision> {
  for (let i = index; i < providers.length; i++) {
    const provider = providers[i] as Provider;
    const result = verifyWith(provider, parsed, nowMs);
    if (result instanceof Promise) {
      return result.then((r) =>
        r instanceof Rejection ? tryProviders(providers, i + 1, parsed, found, nowMs, r) : { kind: 'allow', identity: r, found },
      );
    }
    if (!(result instanceof Rejection)) return { kind: 'allow', identity: result, found };
    last = result;
  }
  return deny(last ?? reject('untrusted_issuer', 'no provider trusts the token issuer'), found);
}

type Verified = Identity | Rejection;

function verifyWith(provider: Provider, parsed: ParsedToken, nowMs: number): Verified | Promise<Verified> {
  if (provider.allowList !== undefined && !provider.allowList.has(parsed.alg)) {
    return reject('algorithm_not_allowed', `algorithm ${parsed.alg} is not allowed`, provider.name);
  }
  const keys = provider.keys.lookup(parsed.kid, parsed.alg);
  if (!(keys instanceof Promise)) return withKeys(provider, parsed, keys, nowMs);
  const late = reject('unknown_key', 'unknown key; the key set is being refetched', provider.name);
  return withinBudget(keys, late).then((k) => withKeys(provider, parsed, k, nowMs));
}

function withKeys(provider: Provider, parsed: ParsedToken, keys: readonly VerificationKey[] | Rejection, nowMs: number): Verified | Promise<Verified> {
  if (keys instanceof Rejection) return keys.withProvider(provider.name);
  if (keys.length === 0) return reject('unknown_key', 'no key matches the token', provider.name);
  const usable = keys.length === 1 ? (keys[0]?.algorithms.has(parsed.alg) ? keys : []) : keys.filter((k) => k.algorithms.has(parsed.alg));
  if (usable.length === 0) return reject('algorithm_not_allowed', `algorithm ${parsed.alg} cannot be used with the key`, provider.name);
  return verifyKeys(provider, parsed, usable, nowMs);
}

/** Tries each usable key (several only for a token without `kid`); the first good one wins. */
function verifyKeys(provider: Provider, parsed: ParsedToken, keys: readonly VerificationKey[], nowMs: number): Verified {
  let failure: Rejection | undefined;
  for (const key of keys) {
    failure = verifySignature(parsed, key);
    if (failure === undefined) return identify(provider, parsed, key, nowMs);
  }
  return (failure ?? reject('invalid_signature', 'the JWT signature does not verify')).withProvider(provider.name);
}

const REVOKED = reject('revoked', 'the token has been revoked');
const revoked = (provider: Provider): Rejection => REVOKED.withProvider(provider.name);

/**
 * After a good signature: claims, revocation, principal, user mapping (SPEC §5 steps 3–4,
 * §14). Revocation comes after the claims, so only a verified, current token can probe the
 * list (an expired one stays `expired`), and before the principal and mapping: a revoked
 * token is an invalid token (401), whatever user it would map to.
 */
export function identify(provider: Provider, parsed: ParsedToken, key: VerificationKey, nowMs: number): Verified {
  const pc = provider.config;
  const claimProblem = checkClaims(parsed.payload, provider.claimRules, nowMs);
  if (claimProblem !== undefined) return claimProblem.withProvider(provider.name);
  if (provider.revocations.match(parsed.payload) !== undefined) return revoked(provider);
  const principal = parsed.payload[pc.principalField];
  // Like jjwt, a blank value counts as absent.
  if (typeof principal !== 'string' || javaTrim(principal) === '') {
    return reject('principal_missing', `the token has no string claim "${pc.principalField}"`, provider.name);
  }
  const user = provider.mapper.map(principal);
  if (user instanceof Rejection) return user.withProvider(provider.name);
  // The user travels in a header: refuse what no header can carry.
  if (!isSafeHeaderValue(user)) return reject('user_mapping_failed', 'the mapped user contains control characters', provider.name);
  return { provider, principal, user, claims: parsed.payload, key };
}
