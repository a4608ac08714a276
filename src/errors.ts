/**
 * One error base class with stable codes, in the style of panva/jose. Denials are not errors
 * (see `Rejection` in reasons.ts); these are for configuration and usage problems.
 */
export class JwtExtAuthzError extends Error {
  readonly code: string = 'ERR_JWT_EXT_AUTHZ';
}

/** One problem in a configuration: where (file, line or key path) and what. */
export interface ConfigProblem {
  readonly file: string;
  /** Dotted key path as written in YAML, e.g. `providers[0].key-file`, or a properties key. */
  readonly key: string;
  /** 1-based line when known. */
  readonly line?: number;
  readonly message: string;
}

export const formatProblem = (p: ConfigProblem): string =>
  `${p.file}${p.line === undefined ? '' : `:${p.line}`}: ${p.key === '' ? '' : `${p.key}: `}${p.message}`;

export class ConfigError extends JwtExtAuthzError {
  override readonly code = 'ERR_CONFIG';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`);
    this.problems = problems;
  }
}

export class UsageError extends JwtExtAuthzError {
  override readonly code = 'ERR_USAGE';
}
