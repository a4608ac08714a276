/**
 * The single table from failure reason to HTTP status and gRPC status code (SPEC §5).
 * Reason codes are stable API: metrics labels, JSON bodies and logs all use these names.
 */
export const REASONS = {
  missing_token: { http: 401, grpc: 16 },
  malformed_token: { http: 401, grpc: 16 },
  token_too_large: { http: 401, grpc: 16 },
  encrypted_token: { http: 401, grpc: 16 },
  algorithm_not_allowed: { http: 401, grpc: 16 },
  untrusted_issuer: { http: 401, grpc: 16 },
  unknown_key: { http: 401, grpc: 16 },
  invalid_signature: { http: 401, grpc: 16 },
  expired: { http: 401, grpc: 16 },
  not_yet_valid: { http: 401, grpc: 16 },
  issuer_mismatch: { http: 401, grpc: 16 },
  audience_mismatch: { http: 401, grpc: 16 },
  invalid_claims: { http: 401, grpc: 16 },
  revoked: { http: 401, grpc: 16 },
  principal_missing: { http: 401, grpc: 16 },
  user_not_allowed: { http: 403, grpc: 7 },
  user_mapping_failed: { http: 403, grpc: 7 },
  keys_unavailable: { http: 503, grpc: 14 },
  // Not in the SPEC table: SPEC §8 asks for a counted 503 deny on any internal error.
  internal_error: { http: 503, grpc: 14 },
  // SPEC §14: the token is fine, the route wants more of it.
  insufficient_scope: { http: 403, grpc: 7 },
  claim_mismatch: { http: 403, grpc: 7 },
} as const satisfies Record<string, { http: 401 | 403 | 503; grpc: 7 | 14 | 16 }>;

export type Reason = keyof typeof REASONS;

export const REASON_CODES = Object.keys(REASONS) as readonly Reason[];

/**
 * A decision to deny, returned (not thrown) through the check pipeline so the hot path pays
 * no exception cost. `message` is safe to show to the client: it never contains the token.
 */
export class Rejection {
  constructor(
    readonly reason: Reason,
    readonly message: string,
    readonly provider: string = '',
    /** insufficient_scope: every required scope, for the RFC 6750 §3.1 challenge. */
    readonly scope: string | undefined = undefined,
  ) {}

  withProvider(provider: string): Rejection {
    return provider === this.provider ? this : new Rejection(this.reason, this.message, provider, this.scope);
  }
}

export const reject = (reason: Reason, message: string, provider = ''): Rejection =>
  new Rejection(reason, message, provider);
