import type { Config, ProviderConfig } from '../config/types.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { createUserMapper, type UserMapper } from '../identity/user-mapping.js';
import { createFileKeySource } from '../keys/file-source.js';
import { createJwksKeySource, type JwksHooks, type JwksKeySource } from '../keys/jwks-source.js';
import type { KeySource } from '../keys/types.js';
import type { ClaimRules } from '../token/claims.js';

/** A provider ready to verify: its config plus compiled keys and user mapping. */
export interface Provider {
  readonly name: string;
  readonly config: ProviderConfig;
  readonly keys: KeySource;
  /** Set when the keys come from a JWKS URL. */
  readonly jwks: JwksKeySource | undefined;
  readonly mapper: UserMapper;
  /** Explicit `algorithms`; undefined means whatever the key allows. */
  readonly allowList: ReadonlySet<string> | undefined;
  /** The global `clock-skew`, copied here so the hot path reads one object. */
  readonly clockSkewMs: number;
  /** What checkClaims needs, built once per provider instead of once per check. */
  readonly claimRules: ClaimRules;
}

/** Everything the decision needs besides the request and the clock; one per config generation. */
export interface Policy {
  readonly config: Config;
  readonly providers: readonly Provider[];
  readonly byName: ReadonlyMap<string, Provider>;
  /** Providers by `required-issuer`, in config order. */
  readonly byIssuer: ReadonlyMap<string, readonly Provider[]>;
  /** Providers without `required-issuer`, tried in order. */
  readonly issuerless: readonly Provider[];
  /** Increases with every reload, so caches can tell generations apart. */
  readonly generation: number;
}

export interface PolicyHooks {
  /** Supplies a provider's keys instead of its `key-file`: demo mode's in-memory key, or a reload reusing a source. */
  readonly keySource?: (provider: ProviderConfig) => KeySource | undefined;
  readonly jwks?: (provider: string) => JwksHooks;
  readonly onKeyFileReload?: (provider: string, path: string) => void;
  readonly onKeyFileError?: (provider: string, path: string, message: string) => void;
}

const isJwksSource = (s: KeySource): s is JwksKeySource => typeof (s as Partial<JwksKeySource>).refresh === 'function';

export const isJwksUrl = (keyFile: string): boolean => keyFile.startsWith('https://') || keyFile.startsWith('http://');

let generations = 0;

/**
 * Compiles every provider (user mapping, key files, JWKS sources). Throws one ConfigError with
 * every problem found; on error nothing is left running.
 */
export function buildPolicy(config: Config, hooks: PolicyHooks = {}): Policy {
  const problems: ConfigProblem[] = [];
  const providers: Provider[] = [];
  const file = config.file ?? '<config>';
  config.providers.forEach((pc, i) => {
    const where = { file, key: `providers[${i}]` };
    let mapper: UserMapper | undefined;
    let keys: KeySource | undefined;
    let jwks: JwksKeySource | undefined;
    try {
      mapper = createUserMapper(pc.userMapping, { file, key: `${where.key}.user-mapping` });
    } catch (e: unknown) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
    try {
      const supplied = hooks.keySource?.(pc);
      if (supplied !== undefined) {
        keys = supplied;
        jwks = isJwksSource(supplied) ? supplied : undefined;
      } else if (isJwksUrl(pc.keyFile)) {
        jwks = createJwksKeySource(pc.keyFile, pc.jwks, hooks.jwks?.(pc.name));
        keys = jwks;
      } else {
        keys = createFileKeySource(pc.keyFile, { file, key: `${where.key}.key-file` }, {
          onReload: (path) => hooks.onKeyFileReload?.(pc.name, path),
          onError: (path, message) => hooks.onKeyFileError?.(pc.name, path, message),
        });
      }
    } catch (e: unknown) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
    if (mapper !== undefined && keys !== undefined) {
      const allowList = pc.algorithms === undefined ? undefined : new Set(pc.algorithms);
      const claimRules = { requiredIssuer: pc.requiredIssuer, requiredAudience: pc.requiredAudience, clockSkewMs: config.clockSkewMs };
      providers.push({ name: pc.name, config: pc, keys, jwks, mapper, allowList, clockSkewMs: config.clockSkewMs, claimRules });
    } else {
      keys?.close();
    }
  });
  if (problems.length > 0) {
    for (const p of providers) p.keys.close();
    throw new ConfigError(problems);
  }
  const byIssuer = new Map<string, Provider[]>();
  for (const p of providers) {
    const iss = p.config.requiredIssuer;
    if (iss === undefined || iss === '') continue;
    const list = byIssuer.get(iss);
    if (list === undefined) byIssuer.set(iss, [p]);
    else list.push(p);
  }
  return {
    config,
    providers,
    byName: new Map(providers.map((p) => [p.name, p])),
    byIssuer,
    issuerless: providers.filter((p) => p.config.requiredIssuer === undefined || p.config.requiredIssuer === ''),
    generation: ++generations,
  };
}
