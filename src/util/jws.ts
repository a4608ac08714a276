/** Every JWS algorithm this service knows; anything else is `algorithm_not_allowed`. */
export const JWS_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
] as const;

export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

export const isJwsAlgorithm = (alg: string): alg is JwsAlgorithm =>
  (JWS_ALGORITHMS as readonly string[]).includes(alg);
