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
import { buildConfig, configToDocument, crossCheck, deepFreeze } from './build.js';
import { propertiesToRaw } from './properties.js';
import { type ConfigWarning, type Ctx, type Raw, yamlToRaw } from './raw.js';
import type { Config } from './types.js';
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

/** The normalised config in the documented YAML shape (for `validate-config`); parses back to an equal Config. */
export function configToYaml(config: Config): string {
  // lineWidth 0: never fold long values such as URLs or patterns.
  return stringify(configToDocument(config), { lineWidth: 0 });
}
