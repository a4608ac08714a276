import { isKeyUrl, keyLocation } from '../config/key-location.js';
import type { Config, ProviderConfig } from '../config/types.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { createUserMapper, type UserMapper } from '../identity/user-mapping.js';
import { createFileKeySource, isKeyTemplate } from '../keys/file-source.js';
import { createDiscoveryKeySource, createJwksKeySource, type JwksHooks, type JwksKeySource } from '../keys/jwks-source.js';
import type { SkipReport } from '../keys/key-set.js';
import type { KeySource } from '../keys/types.js';
import type { ClaimRules } from '../token/claims.js';
import { lifetimeBound, NO_REVOCATIONS, type Revocations } from './revocation.js';
import { RevocationFile, type RevocationHooks } from './revocation-file.js';
import { RouteTable } from './routes.js';

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
  /** The provider's `clock-skew`, else the global one, copied here so the hot path reads one object. */
  readonly clockSkewMs: number;
  /** What checkClaims needs, built once per provider instead of once per check. */
  readonly claimRules: ClaimRules;
  /** The policy's revocation rules (SPEC §14), here so a cache hit reaches them through its identity. */
  readonly revocations: Revocations;
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
  /** The route table (SPEC §11), compiled once per generation. */
  readonly routes: RouteTable;
  /** The watched `revocations.file`, when set; every provider's `revocations` is this. */
  readonly revocations: RevocationFile | undefined;
}

export interface PolicyHooks {
  /** Supplies a provider's keys instead of its `key-file`: demo mode's in-memory key, or a reload reusing a source. */
  readonly keySource?: (provider: ProviderConfig) => KeySource | undefined;
  readonly jwks?: (provider: string) => JwksHooks;
  /** `keys`: how many a static key file holds now (undefined for a `${KID}` template's file). */
  readonly onKeyFileReload?: (provider: string, path: string, keys: number | undefined) => void;
  readonly onKeyFileError?: (provider: string, path: string, message: string) => void;
  readonly onKeyFileSkippedKey?: (provider: string, path: string, e: SkipReport) => void;
  readonly revocations?: RevocationHooks;
}

const isJwksSource = (s: KeySource): s is JwksKeySource => typeof (s as Partial<JwksKeySource>).refresh === 'function';

export const isJwksUrl = isKeyUrl;

let generations = 0;

/**
 * Compiles every provider (user mapping, key files, JWKS sources). Throws one ConfigError with
 * every problem found; on error nothing is left running.
 */
export function buildPolicy(config: Config, hooks: PolicyHooks = {}): Policy {
  const problems: ConfigProblem[] = [];
  const providers: Provider[] = [];
  const file = config.file ?? '<config>';
  // Built first (providers hold it), reported after the providers, in config order.
  const later: ConfigProblem[] = [];
  let revocationFile: RevocationFile | undefined;
  if (config.revocations !== undefined) {
    try {
      revocationFile = new RevocationFile(config.revocations.file, { file, key: 'revocations.file' }, lifetimeBound(config), hooks.revocations);
    } catch (e: unknown) {
      if (!(e instanceof ConfigError)) throw e;
      later.push(...e.problems);
    }
  }
  const revocations = revocationFile ?? NO_REVOCATIONS;
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
      const location = keyLocation(pc);
      if (supplied !== undefined) {
        keys = supplied;
        jwks = isJwksSource(supplied) ? supplied : undefined;
      } else if (location === undefined) {
        // Validation refuses such a config; a Config built by hand still gets a clear error.
        problems.push({ file, key: `${where.key}.key-file`, message: 'no key-file, and no discovery with a required-issuer' });
      } else if (location.kind === 'discovery') {
        jwks = createDiscoveryKeySource(location.url, location.issuer, pc.jwks, hooks.jwks?.(pc.name));
        keys = jwks;
      } else if (location.kind === 'jwks') {
        jwks = createJwksKeySource(location.url, pc.jwks, hooks.jwks?.(pc.name));
        keys = jwks;
      } else {
        const template = isKeyTemplate(location.path);
        keys = createFileKeySource(location.path, { file, key: `${where.key}.key-file` }, {
          onReload: (path, count) => hooks.onKeyFileReload?.(pc.name, path, template ? undefined : count),
          onError: (path, message) => hooks.onKeyFileError?.(pc.name, path, message),
          onSkippedKey: (path, e) => hooks.onKeyFileSkippedKey?.(pc.name, path, e),
        });
      }
    } catch (e: unknown) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
    if (mapper !== undefined && keys !== undefined) {
      const allowList = pc.algorithms === undefined ? undefined : new Set(pc.algorithms);
      const clockSkewMs = pc.clockSkewMs ?? config.clockSkewMs;
      const claimRules: ClaimRules = {
        requiredIssuer: pc.requiredIssuer, requiredAudience: pc.requiredAudience, clockSkewMs,
        requireExpiration: pc.requireExpiration, maxLifetimeMs: pc.maxLifetimeMs,
      };
      providers.push({ name: pc.name, config: pc, keys, jwks, mapper, allowList, clockSkewMs, claimRules, revocations });
    } else {
      keys?.close();
    }
  });
  problems.push(...later);
  if (problems.length > 0) {
    for (const p of providers) p.keys.close();
    revocationFile?.close();
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
    routes: new RouteTable(config.routes, config.reportOnly),
    revocations: revocationFile,
  };
}
