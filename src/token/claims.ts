import { reject, type Rejection } from '../reasons.js';
import { checkClaimTypes } from './parse.js';

export interface ClaimRules {
  readonly requiredIssuer: string | undefined;
  readonly requiredAudience: readonly string[];
  readonly clockSkewMs: number;
  /** A token without `exp` is `invalid_claims` (SPEC §13). */
  readonly requireExpiration: boolean;
  /** Longest `exp - iat`; both must be present. Undefined: no limit (SPEC §13). */
  readonly maxLifetimeMs: number | undefined;
}

const NO_EXPIRATION = reject('invalid_claims', 'the JWT has no exp claim, and this provider requires one');
const LIFETIME_UNKNOWN = reject('invalid_claims', 'the JWT lacks exp or iat, so its lifetime cannot be checked against max-lifetime');
const ISSUED_IN_FUTURE = reject('invalid_claims', 'the JWT iat is in the future, so its lifetime cannot be bounded');
const TOO_LONG = reject('invalid_claims', 'the JWT lifetime (exp - iat) is longer than max-lifetime');

/**
 * Claims after a good signature, in jjwt's order: types, `exp`, `nbf`, issuer, audience; the
 * lifetime rules (not in Trino) around the time checks: a required `exp` before it is compared,
 * `max-lifetime` after `nbf`, so an expired token still reads `expired`.
 * Time comparisons follow jose: expired when exp <= now - skew, early when nbf > now + skew.
 */
export function checkClaims(payload: Readonly<Record<string, unknown>>, rules: ClaimRules, nowMs: number): Rejection | undefined {
  const typeProblem = checkClaimTypes(payload);
  if (typeProblem !== undefined) return typeProblem;
  const now = Math.floor(nowMs / 1000);
  const skew = Math.floor(rules.clockSkewMs / 1000);
  const exp = payload['exp'];
  if (rules.requireExpiration && typeof exp !== 'number') return NO_EXPIRATION;
  if (typeof exp === 'number' && exp <= now - skew) return reject('expired', 'the JWT has expired');
  const nbf = payload['nbf'];
  if (typeof nbf === 'number' && nbf > now + skew) return reject('not_yet_valid', 'the JWT is not valid yet');
  if (rules.maxLifetimeMs !== undefined) {
    // Types were checked above: present means a number.
    const iat = payload['iat'];
    if (typeof exp !== 'number' || typeof iat !== 'number') return LIFETIME_UNKNOWN;
    if ((exp - iat) * 1000 > rules.maxLifetimeMs) return TOO_LONG;
    // An iat in the future would let a long-lived token pass the span check (jose's maxTokenAge
    // refuses it too).
    if (iat > now + skew) return ISSUED_IN_FUTURE;
  }
  if (rules.requiredIssuer !== undefined && payload['iss'] !== rules.requiredIssuer) {
    return reject('issuer_mismatch', 'the JWT issuer is not the required issuer');
  }
  if (rules.requiredAudience.length > 0 && !audienceMatches(payload['aud'], rules.requiredAudience)) {
    return reject('audience_mismatch', 'the JWT audience does not include a required audience');
  }
  return undefined;
}

function audienceMatches(aud: unknown, required: readonly string[]): boolean {
  if (typeof aud === 'string') return aud !== '' && required.includes(aud);
  if (Array.isArray(aud)) return aud.some((a) => typeof a === 'string' && a !== '' && required.includes(a));
  return false;
}
