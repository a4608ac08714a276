import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

export const COMMANDS = ['serve', 'validate-config', 'verify', 'check', 'help', 'version'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliArgs {
  readonly command: Command;
  readonly config: string | undefined;
  readonly token: string | undefined;
  readonly target: string | undefined;
  readonly headers: readonly string[];
  readonly path: string | undefined;
  readonly method: string | undefined;
  readonly host: string | undefined;
  readonly logLevel: string | undefined;
  readonly tlsCa: string | undefined;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
}

export const USAGE = `Usage: jwt-ext-authz [command] [options]

Commands:
  serve [--config FILE]                    run the service (default; demo mode without a config)
  validate-config --config FILE            print the normalised config (exit 0) or every problem (exit 2)
  verify --config FILE [--token T] [--path P] [--method M] [--host H]
                                           explain a token offline (token from stdin when absent)
  check --target ADDR [--token T] [--header k=v]... [--path P] [--method M] [--host H]
                                           send one Check RPC to a running server
Options:
  --config, -c FILE     YAML/JSON or .properties config (or JWT_EXT_AUTHZ_CONFIG)
  --log-level LEVEL     trace|debug|info|warn|error (or LOG_LEVEL)
  --tls-ca/--tls-cert/--tls-key FILE   TLS for 'check'
Exit codes: 0 ok/allow, 1 deny, 2 bad usage or config.`;

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        token: { type: 'string', short: 't' },
        target: { type: 'string' },
        header: { type: 'string', multiple: true, short: 'H' },
        path: { type: 'string' },
        method: { type: 'string' },
        host: { type: 'string' },
        'log-level': { type: 'string' },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (e: unknown) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const first = positionals[0] ?? 'serve';
  if (!(COMMANDS as readonly string[]).includes(first)) throw new UsageError(`unknown command "${first}"`);
  const command = values.help === true ? 'help' : values.version === true ? 'version' : (first as Command);
  const config = values.config ?? (env['JWT_EXT_AUTHZ_CONFIG'] || undefined);
  return {
    command,
    config,
    token: values.token,
    target: values.target,
    headers: values.header ?? [],
    path: values.path,
    method: values.method,
    host: values.host,
    logLevel: values['log-level'] ?? env['LOG_LEVEL'],
    tlsCa: values['tls-ca'],
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
  };
}
