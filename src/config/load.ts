/**
 * Loading a config file (SPEC §3): YAML (JSON is YAML) or, for `*.properties`, Java
 * properties. Every problem is collected and thrown as one ConfigError; the result is a
 * deep-frozen Config.
 *
 * Relative paths inside the file (a key-file that is not a URL, user-mapping.file,
 * jwks.ca-file, the tls files) are resolved against the directory of the config file, not
 * the working directory as Trino does: a sidecar's config is usually mounted together with
 * the files it names, while the working directory is whatever the image chose.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { buildConfig, buildProvider, crossCheck, deepFreeze, providerTrees } from './build.js';
import { formatDuration } from './duration.js';
import { propertiesToRaw } from './properties.js';
import { type ConfigWarning, type Ctx, type Raw, plainToRaw, yamlToRaw } from './raw.js';
import type { Config, ProviderConfig } from './types.js';
import { INVALID, section } from './validate.js';

export type { ConfigWarning } from './raw.js';

const ignore = (): void => undefined;

/** Problems in file order; those without a line (missing keys, cross-key checks) keep their place among equals. */
const byLine = (a: ConfigProblem, b: ConfigProblem): number => (a.line ?? Infinity) - (b.line ?? Infinity);

function newCtx(file: string, baseDir: string, warn: (w: ConfigWarning) => void): Ctx {
  return { file, baseDir, problems: [], warn, nodes: new Map() };
}

function fail(ctx: Ctx): never {
  throw new ConfigError([...ctx.problems].sort(byLine));
}

/**
 * Parses config text. `file` names it in messages, decides the syntax (`*.properties` or
 * YAML) and is the base for relative paths.
 */
export function parseConfig(text: string, file: string, warn: (w: ConfigWarning) => void = ignore): Config {
  const absolute = resolve(file);
  const ctx = newCtx(file, dirname(absolute), warn);
  const raw: Raw | undefined = extname(file).toLowerCase() === '.properties' ? propertiesToRaw(text, ctx) : yamlToRaw(text, ctx);
  if (raw === undefined) fail(ctx);
  const tree = section('', raw, '', ctx);
  if (tree !== INVALID) crossCheck(tree, ctx);
  if (tree === INVALID || ctx.problems.length > 0) fail(ctx);
  return deepFreeze(buildConfig(tree, absolute));
}

export function loadConfigFile(file: string, warn: (w: ConfigWarning) => void = ignore): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e: unknown) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ConfigError([{ file, key: '', message: `can not read the config file: ${reason}` }]);
  }
  return parseConfig(text, file, warn);
}

/** Runs defaults through the same validation as a file, so demo mode and files agree. */
function validatePlain(plain: unknown): { ctx: Ctx; tree: ReturnType<typeof section> } {
  const ctx = newCtx('<defaults>', process.cwd(), ignore);
  const tree = section('', plainToRaw(plain, ''), '', ctx);
  if (tree === INVALID || ctx.problems.length > 0) fail(ctx);
  return { ctx, tree };
}

/** A provider with every default, for demo mode. */
export function defaultProvider(name: string, keyFile: string): ProviderConfig {
  const { tree } = validatePlain({ providers: [{ name, 'key-file': keyFile }] });
  const first = tree === INVALID ? undefined : providerTrees(tree)[0];
  if (first === undefined) throw new Error('internal error: default provider missing');
  return deepFreeze(buildProvider(first, 0));
}

/** A config with every default and the given providers (demo mode: loopback listeners). */
export function defaultConfig(providers: readonly ProviderConfig[]): Config {
  const { tree } = validatePlain({ providers: [{ name: 'placeholder', 'key-file': '/placeholder' }] });
  if (tree === INVALID) throw new Error('internal error: defaults invalid');
  return deepFreeze({ ...buildConfig(tree, undefined), providers });
}

const when = <T>(cond: boolean, value: T): T | undefined => (cond ? value : undefined);

/** Drops undefined members so the YAML shows only what is set. */
function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The normalised config in the documented YAML shape (for `validate-config`); parses back to an equal Config. */
export function configToYaml(config: Config): string {
  const r = config.response;
  const doc = compact({
    'listen': config.listen,
    'admin-listen': config.adminListen,
    'tls': config.tls === undefined ? undefined : compact({
      'cert-file': config.tls.certFile,
      'key-file': config.tls.keyFile,
      'client-ca-file': config.tls.clientCaFile,
    }),
    'workers': config.workers,
    'clock-skew': formatDuration(config.clockSkewMs),
    'realm': config.realm,
    'token': {
      'sources': config.token.sources.map((s) =>
        s.kind === 'header' ? compact({ header: s.name, scheme: s.scheme }) : { [s.kind]: s.name }),
      'max-bytes': config.token.maxBytes,
    },
    'response': {
      'principal-header': r.principalHeader,
      'pass-through-header': r.passThroughHeader,
      'forward-original': r.forwardOriginal,
      'claim-headers': { ...r.claimHeaders },
      'dynamic-metadata': r.dynamicMetadata,
    },
    'cache': { 'max-entries': config.cache.maxEntries, 'max-bytes': config.cache.maxBytes },
    'providers': config.providers.map((p) => compact({
      'name': p.name,
      'key-file': p.keyFile,
      'required-issuer': p.requiredIssuer,
      'required-audience': when(p.requiredAudience.length > 0, [...p.requiredAudience]),
      'principal-field': p.principalField,
      'user-mapping': when(p.userMapping.pattern !== undefined || p.userMapping.file !== undefined,
        compact({ pattern: p.userMapping.pattern, file: p.userMapping.file })),
      'algorithms': p.algorithms === undefined ? undefined : [...p.algorithms],
      'jwks': compact({
        'refresh-interval': formatDuration(p.jwks.refreshIntervalMs),
        'min-refresh-interval': formatDuration(p.jwks.minRefreshIntervalMs),
        'timeout': formatDuration(p.jwks.timeoutMs),
        'max-stale': formatDuration(p.jwks.maxStaleMs),
        'ca-file': p.jwks.caFile,
      }),
    })),
    'token-page': config.tokenPage === undefined ? undefined : { path: config.tokenPage.path },
  });
  // lineWidth 0: never fold long values such as URLs or patterns.
  return stringify(doc, { lineWidth: 0 });
}
