import { reject, type Rejection } from '../reasons.js';
import { checkClaimTypes } from './parse.js';

export interface ClaimRules {
  readonly requiredIssuer: string | undefined;
  readonly requiredAudience: readonly string[];
  readonly clockSkewMs: number;
}

/**
 * Claims after a good signature, in jjwt's order: types, `exp`, `nbf`, issuer, audience.
 * Time comparisons follow jose: expired when exp <= now - skew, early when nbf > now + skew.
 */
export function checkClaims(payload: Readonly<Record<string, unknown>>, rules: ClaimRules, nowMs: number): Rejection | undefined {
  const typeProblem = checkClaimTypes(payload);
  if (typeProblem !== undefined) return typeProblem;
  const now = Math.floor(nowMs / 1000);
  const skew = Math.floor(rules.clockSkewMs / 1000);
  const exp = payload['exp'];
  if (typeof exp === 'number' && exp <= now - skew) return reject('expired', 'the JWT has expired');
  const nbf = payload['nbf'];
  if (typeof nbf === 'number' && nbf > now + skew) return reject('not_yet_valid', 'the JWT is not valid yet');
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
