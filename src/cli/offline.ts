import { readFileSync } from 'node:fs';
import { Rejection } from '../reasons.js';
import { closePolicy, startPolicy } from '../authz/key-lifecycle.js';
import { buildPolicy, type Policy } from '../authz/policy.js';
import { decide } from '../authz/decide.js';
import { describeRule, type RevocationList } from '../authz/revocation.js';
import { DEFAULT_LABEL, reportsOnly } from '../authz/routes.js';
import { describeRequirements } from '../authz/requirements.js';
import type { HttpRequestAttributes } from '../envoy/check-request.js';
import { configToYaml, loadConfigFile } from '../config/load.js';
import type { TokenSource } from '../config/types.js';
import { UsageError } from '../errors.js';
import { parseToken } from '../token/parse.js';
import type { CliArgs } from './args.js';

const REQUIREMENT_REASONS: ReadonlySet<string> = new Set(['insufficient_scope', 'claim_mismatch']);

function requireConfig(args: CliArgs): string {
  if (args.config === undefined) throw new UsageError(`${args.command} needs --config FILE`);
  return args.config;
}

/** validate-config: schema, user mappings, key files and revocation rules; no network (JWKS is not fetched). */
export function runValidateConfig(args: CliArgs): number {
  const warnings: string[] = [];
  const config = loadConfigFile(requireConfig(args), (w) => warnings.push(`${w.file}${w.line ? `:${w.line}` : ''}: ${w.key}: ${w.message}`));
  const revocations = {
    onLoad: (path: string, list: RevocationList) => {
      for (const d of list.dead) {
        warnings.push(`${path}: ${describeRule(d.rule)}: can never match (${d.why}); ${d.kind === 'expired' ? 'it can be deleted' : 'check its iss'}`);
      }
    },
  };
  closePolicy(buildPolicy(config, { revocations }));
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(configToYaml(config));
  return 0;
}

/** A request carrying the token the way the first configured source expects it. */
function requestFor(token: string, source: TokenSource | undefined, args: CliArgs): HttpRequestAttributes {
  const headers: Record<string, string> = {};
  let path = args.path ?? '/';
  if (source === undefined || source.kind === 'header') {
    const name = source?.name ?? 'authorization';
    const scheme = source === undefined ? 'Bearer' : source.scheme;
    headers[name] = scheme === undefined ? token : `${scheme} ${token}`;
  } else if (source.kind === 'cookie') {
    headers['cookie'] = `${source.name}=${token}`;
  } else {
    path = `${path}${path.includes('?') ? '&' : '?'}${encodeURIComponent(source.name)}=${encodeURIComponent(token)}`;
  }
  // The route (SPEC §11) is matched on these, as for a Check from Envoy.
  return { path, headers, method: args.method ?? 'GET', host: args.host ?? '' };
}

/** verify: the same decision code, offline, explained as JSON (SPEC §2). */
export async function runVerify(args: CliArgs): Promise<number> {
  const config = loadConfigFile(requireConfig(args));
  const token = (args.token ?? readFileSync(0, 'utf8')).trim();
  const policy = buildPolicy(config);
  try {
    await startPolicy(policy);
    const http = requestFor(token, config.token.sources[0], args);
    const route = policy.routes.select(http);
    const decision = await decide({ attributes: { request: { http } } }, policy, Date.now(), undefined, route);
    const parsed = parseToken(token);
    const header = parsed instanceof Rejection ? {} : { alg: parsed.alg, kid: parsed.kid };
    const claims = parsed instanceof Rejection ? {} : pickClaims(parsed.payload);
    const out =
      decision.kind === 'allow'
        ? {
            decision: 'allow',
            provider: decision.identity.provider.name,
            key: decision.identity.key.description,
            ...header,
            claims,
            principal: decision.identity.principal,
            user: decision.identity.user,
          }
        : decision.kind === 'deny'
          ? { decision: 'deny', reason: decision.rejection.reason, message: decision.rejection.message, provider: decision.rejection.provider, ...header, claims, ...revokedBy(policy, decision.rejection, parsed) }
          : { decision: 'allow', anonymous: true };
    const name = decision.kind === 'allow' ? decision.identity.provider.name : decision.kind === 'deny' ? decision.rejection.provider : '';
    const discovery = discoveryOf(policy, name);
    // With a route table, the route that matched (SPEC §11), what it requires and whether that held (§14).
    const required = describeRequirements(route.require);
    const held = decision.kind === 'allow' ? true : decision.kind === 'deny' && REQUIREMENT_REASONS.has(decision.rejection.reason) ? false : undefined;
    const policyOut = {
      ...(required === undefined ? {} : { requires: required, ...(held === undefined ? {} : { requirementsMet: held }) }),
      ...(decision.kind === 'deny' && reportsOnly(route, decision.rejection) ? { reportOnly: true, answered: 'allow, without identity headers (report-only)' } : {}),
    };
    const routed = policy.routes.size === 0 ? { ...out, ...policyOut } : { ...out, route: route.label ?? DEFAULT_LABEL, ...policyOut };
    process.stdout.write(`${JSON.stringify(discovery === undefined ? routed : { ...routed, discovery }, null, 2)}\n`);
    return out.decision === 'allow' ? 0 : 1;
  } finally {
    closePolicy(policy);
  }
}

/** For a provider whose keys come through OIDC discovery: the document, the issuer it named, the jwks_uri used, or why it failed. */
function discoveryOf(policy: Policy, provider: string): Record<string, string | null> | undefined {
  const d = policy.byName.get(provider)?.jwks?.discovery;
  if (d === undefined) return undefined;
  return { document: d.document, issuer: d.issuer ?? null, jwksUri: d.jwksUri ?? null, ...(d.error === undefined ? {} : { error: d.error }) };
}

/** For a `revoked` deny: the rule that matched (SPEC §14), e.g. `rules[3] {iss, sub, issued-before}`. */
function revokedBy(policy: Policy, rejection: Rejection, parsed: ReturnType<typeof parseToken>): { revokedBy?: string } {
  if (rejection.reason !== 'revoked' || parsed instanceof Rejection) return {};
  const rule = policy.revocations?.match(parsed.payload);
  return rule === undefined ? {} : { revokedBy: describeRule(rule) };
}

function pickClaims(payload: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']) {
    const v = payload[name];
    if (v === undefined) continue;
    out[name] = v;
    if ((name === 'exp' || name === 'nbf' || name === 'iat') && typeof v === 'number') out[`${name}Time`] = new Date(v * 1000).toISOString();
  }
  return out;
}
