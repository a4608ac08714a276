import type { RevocationHooks } from '../authz/revocation-file.js';
import { type DeadRule, describeRule } from '../authz/revocation.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';

/** Rules named one by one in a log line; the rest are counted. */
const LISTED = 20;

/**
 * Logs and metrics of the revocation file (SPEC §14): a change is a config reload, counted as
 * one whether it is applied or refused (the last good rules then stay).
 */
export function revocationHooks(metrics: Metrics, logger: Logger): RevocationHooks {
  return {
    onLoad(path, list, initial) {
      if (!initial) metrics.configReloads.inc({ result: 'success' });
      logger.info({ path, rules: list.size }, initial ? 'revocation rules loaded' : 'revocation file reloaded');
      // Safe to leave out: they cannot match a token the service would accept (see revocation.ts).
      const listed = (dead: readonly DeadRule[]) => ({
        path,
        rules: dead.slice(0, LISTED).map((d) => `${describeRule(d.rule)}: ${d.why}`),
        ...(dead.length > LISTED ? { more: dead.length - LISTED } : {}),
      });
      const expired = list.dead.filter((d) => d.kind === 'expired');
      const unknown = list.dead.filter((d) => d.kind === 'unknown-issuer');
      if (expired.length > 0) logger.info(listed(expired), 'revocation rules that can never match were left out; they can be deleted from the file');
      // Not pruning: a rule that never revoked anything is most likely a mistyped issuer.
      if (unknown.length > 0) logger.warn(listed(unknown), 'revocation rules name an issuer no provider accepts and revoke nothing; check their iss');
    },
    onReject(path, problems) {
      metrics.configReloads.inc({ result: 'failure' });
      logger.error({ path, problems }, 'revocation file change rejected; the last good rules keep serving');
    },
    onWatchError: (dir, message) => logger.warn({ dir, message }, 'revocation file folder not watched'),
  };
}
