#!/usr/bin/env node
import { ConfigError, UsageError } from '../errors.js';
import { parseCli, USAGE } from './args.js';
import { runCheck } from './check.js';
import { runServe } from './serve.js';
import { runValidateConfig, runVerify } from './offline.js';

/** The only place that calls process.exit: every command returns its exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const args = parseCli(argv);
  switch (args.command) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case 'version':
      process.stdout.write(`${process.env['npm_package_version'] ?? '0.1.0'}\n`);
      return 0;
    case 'validate-config':
      return runValidateConfig(args);
    case 'verify':
      return runVerify(args);
    case 'check':
      return runCheck(args);
    case 'serve':
      return runServe(args);
  }
}

main(process.argv.slice(2)).then(
  // Exit explicitly: a command is done when it returns, whatever timers a library left behind.
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`jwt-ext-authz: ${e.message}\n\n${USAGE}\n`);
    } else if (e instanceof ConfigError) {
      process.stderr.write(`jwt-ext-authz: ${e.message}\n`);
    } else {
      process.stderr.write(`jwt-ext-authz: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    }
    process.exit(2);
  },
);
