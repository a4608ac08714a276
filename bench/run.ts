/**
 * `npm run bench` (SPEC §10): starts the service and an empty grpc-js Check handler, one at a time,
 * pinned to core 0, drives them from core 1 with h2load and with a Node HTTP/2 driver, and
 * compares every scenario with the empty handler measured by the same driver in the same run.
 * Prints a table and writes it to bench/results/<YYYY-MM-DD>.md. `--help` lists the options.
 *
 * This file wires the pieces: lib/settings.ts (options), lib/scenarios.ts (what is measured, on
 * lib/servers.ts and lib/drivers.ts) and lib/report.ts (tables and results file).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJwksServer } from './lib/jwks-server.js';
import { installCleanup, killAll, pinSelf } from './lib/proc.js';
import { aggregate, machineInfo, resultsMarkdown, summaryText, type Check, type Row } from './lib/report.js';
import { memoryAfterChurn, prepareInputs, runRounds, steadyPhase, throughputCases, timeToReady, type Bench } from './lib/scenarios.js';
import { profileSummaries } from './lib/servers.js';
import { CLI, LOAD_CORE, RESULTS, ROOT, TMP, log, runsText, settings, type ScenarioId } from './lib/settings.js';

async function main(): Promise<void> {
  const s = settings(process.argv.slice(2));
  installCleanup();
  const hardLimit = setTimeout(() => {
    log(`bench: over the ${s.timeoutMinutes}-minute limit; stopping everything`);
    killAll();
    process.exit(3);
  }, s.timeoutMinutes * 60_000);
  for (const d of ['configs', 'logs', 'profiles']) mkdirSync(join(TMP, d), { recursive: true });
  for (const d of ['logs', 'profiles', 'configs']) for (const f of readdirSync(join(TMP, d))) rmSync(join(TMP, d, f), { force: true });
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const startedAt = Date.now();
  const want = (id: ScenarioId): boolean => s.only.has(id);

  // Tokens first, on every core, before the bench pins itself.
  const inputs = await prepareInputs(s, want);
  pinSelf(LOAD_CORE);
  const jwks = await startJwksServer([inputs.publicJwk]);
  const runs = runsText(s);
  log(`bench: ${runs}; JWKS at ${jwks.url}`);
  const bench: Bench = { s, want, jwks, inputs };

  const checks: Check[] = [];
  if (want('ready')) checks.push(await timeToReady(bench));
  const { cases, fetchChecks, ratioChecks } = throughputCases(bench);
  const results = await runRounds(cases, s);
  checks.push(...fetchChecks(), ...ratioChecks(results));
  const extraRows: Row[] = [];
  if (want('rss')) {
    const churn = await memoryAfterChurn(bench);
    extraRows.push(...churn.rows);
    checks.push(...churn.checks);
  }
  const sections: string[] = [];
  if (want('steady')) {
    const steady = await steadyPhase(bench);
    sections.push(steady.section);
    checks.push(...steady.checks);
  }
  await jwks.close();
  clearTimeout(hardLimit);

  const rows = [...aggregate(cases, results), ...extraRows];
  const minutes = ((Date.now() - startedAt) / 60_000).toFixed(1);
  const at = new Date();
  const profiles = profileSummaries();
  const md = resultsMarkdown({ s, args: process.argv.slice(2), at, minutes, machine: machineInfo(), runs, rows, checks, sections, profiles });
  process.stdout.write(summaryText({ rows, checks, sections, profiles }));
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(s.out, `${md}\n`);
  log(`\nresults written to ${s.out.startsWith(ROOT) ? s.out.slice(ROOT.length) : s.out}`);
  if (!s.keepLogs) rmSync(join(TMP, 'logs'), { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    log(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    killAll();
    process.exit(1);
  },
);
