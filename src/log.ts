import { createHash } from 'node:crypto';
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths that may never reach a log line in clear (SPEC §8); tests assert this. */
export const REDACT_PATHS = [
  'token',
  'authorization',
  'cookie',
  'secret',
  '*.token',
  '*.authorization',
  '*.cookie',
  '*.secret',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(level = process.env['LOG_LEVEL'] ?? 'info', destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: 'jwt-ext-authz' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  // Asynchronous stdout: a deny flood must not wait on a synchronous write per line.
  // pino flushes this destination synchronously when the process exits.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

/** A short SHA-256 fingerprint: lets logs correlate a token without revealing it. */
export const fingerprint = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);
