/**
 * Checks that span several keys (token sources, header collisions, provider names, user
 * mapping) and turns the validated kebab-case tree into the camelCase `Config`.
 */
import { type Ctx, at, problem } from './raw.js';
import type { Tree } from './validate.js';
import type { Config, JwksConfig, ProviderConfig, TokenSource } from './types.js';

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);
const sub = (t: Tree | undefined, k: string): Tree | undefined => {
  const v = t?.[k];
  return isTree(v) ? v : undefined;
};
const str = (t: Tree | undefined, k: string): string | undefined => {
  const v = t?.[k];
  return typeof v === 'string' ? v : undefined;
};
const num = (t: Tree | undefined, k: string): number | undefined => {
  const v = t?.[k];
  return typeof v === 'number' ? v : undefined;
};
const bool = (t: Tree | undefined, k: string): boolean | undefined => {
  const v = t?.[k];
  return typeof v === 'boolean' ? v : undefined;
};
const strs = (t: Tree | undefined, k: string): string[] | undefined => {
  const v = t?.[k];
  return Array.isArray(v) ? v.filter((x: unknown): x is string => typeof x === 'string') : undefined;
};
const trees = (t: Tree | undefined, k: string): Tree[] => {
  const v = t?.[k];
  return Array.isArray(v) ? v.filter(isTree) : [];
};

export const providerTrees = (tree: Tree): Tree[] => trees(tree, 'providers');

/** Where to report a problem about canonical path `canon`: its node, else the path itself. */
function where(ctx: Ctx, canon: string): { path: string; line?: number } {
  const raw = ctx.nodes.get(canon);
  return raw === undefined ? { path: canon } : { path: raw.path, ...at(raw.line) };
}

/** Keys present in the map read at `canon` (even when their value was invalid). */
function keysAt(ctx: Ctx, canon: string): string[] {
  const raw = ctx.nodes.get(canon);
  return raw?.kind === 'map' ? [...raw.entries.keys()] : [];
}

export function crossCheck(tree: Tree, ctx: Ctx): void {
  const sources = trees(sub(tree, 'token'), 'sources');
  const sourceHeaders = new Set<string>();
  sources.forEach((s, i) => {
    const canon = `token.sources[${i}]`;
    const keys = keysAt(ctx, canon);
    const kinds = ['header', 'cookie', 'query'].filter((k) => keys.includes(k));
    if (kinds.length !== 1) {
      problem(ctx, where(ctx, canon), `needs exactly one of header, cookie or query${kinds.length > 1 ? `, got ${kinds.join(' and ')}` : ''}`);
    }
    if (keys.includes('scheme') && !keys.includes('header')) {
      problem(ctx, where(ctx, `${canon}.scheme`), 'scheme only applies to a header source');
    }
    const h = str(s, 'header');
    if (h !== undefined) sourceHeaders.add(h);
  });

  // One header, one meaning: the answer must never both set and remove a name (SPEC §5).
  const response = sub(tree, 'response');
  const used = new Map<string, string>();
  const claim = (canonName: string, header: string | undefined, at: { path: string; line?: number }): void => {
    if (header === undefined || header === '') return;
    const first = used.get(header);
    if (first !== undefined) problem(ctx, at, `header "${header}" is also used by ${first}`);
    else if (sourceHeaders.has(header)) problem(ctx, at, `header "${header}" is also a token source; the answer would overwrite or remove the token`);
    else used.set(header, canonName);
  };
  for (const k of ['principal-header', 'pass-through-header']) {
    claim(`response.${k}`, str(response, k), where(ctx, `response.${k}`));
  }
  const claimMap = ctx.nodes.get('response.claim-headers');
  for (const header of Object.keys(sub(response, 'claim-headers') ?? {})) {
    const node = claimMap?.kind === 'map' ? [...claimMap.entries].find(([n]) => n.toLowerCase() === header)?.[1] : undefined;
    claim(`response.claim-headers.${header}`, header, node ?? { path: `response.claim-headers.${header}` });
  }

  const names = new Map<string, number>();
  trees(tree, 'providers').forEach((p, i) => {
    const name = str(p, 'name');
    if (name !== undefined) {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else problem(ctx, where(ctx, `providers[${i}].name`), `duplicate provider name "${name}" (also providers[${first}])`);
    }
    const mapping = `providers[${i}].user-mapping`;
    const mappingKeys = keysAt(ctx, mapping);
    if (mappingKeys.includes('pattern') && mappingKeys.includes('file')) {
      problem(ctx, where(ctx, mapping), 'user mapping pattern and file can not both be set');
    }
  });
}

/** Validation guarantees presence; this only guards against a schema/build mismatch. */
function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`internal error: ${what} missing after validation`);
  return v;
}

export function buildProvider(p: Tree, i: number): ProviderConfig {
  const jwksTree = sub(p, 'jwks');
  const ms = (k: string): number => need(num(jwksTree, k), `providers[${i}].jwks.${k}`);
  const caFile = str(jwksTree, 'ca-file');
  const jwks: JwksConfig = {
    refreshIntervalMs: ms('refresh-interval'),
    minRefreshIntervalMs: ms('min-refresh-interval'),
    timeoutMs: ms('timeout'),
    maxStaleMs: ms('max-stale'),
    ...(caFile === undefined ? {} : { caFile }),
  };
  const um = sub(p, 'user-mapping');
  const pattern = str(um, 'pattern');
  const file = str(um, 'file');
  const issuer = str(p, 'required-issuer');
  const algorithms = strs(p, 'algorithms');
  return {
    name: need(str(p, 'name'), 'provider name'),
    keyFile: need(str(p, 'key-file'), 'key-file'),
    ...(issuer === undefined ? {} : { requiredIssuer: issuer }),
    requiredAudience: strs(p, 'required-audience') ?? [],
    principalField: need(str(p, 'principal-field'), 'principal-field'),
    userMapping: { ...(pattern === undefined ? {} : { pattern }), ...(file === undefined ? {} : { file }) },
    ...(algorithms === undefined ? {} : { algorithms }),
    jwks,
  };
}

function source(s: Tree): TokenSource {
  const header = str(s, 'header');
  const scheme = str(s, 'scheme');
  if (header !== undefined) return { kind: 'header', name: header, ...(scheme === undefined ? {} : { scheme }) };
  const cookie = str(s, 'cookie');
  if (cookie !== undefined) return { kind: 'cookie', name: cookie };
  return { kind: 'query', name: need(str(s, 'query'), 'token source') };
}

/** The Config of a tree that passed validation and crossCheck without problems. */
export function buildConfig(tree: Tree, file: string | undefined): Config {
  const tls = sub(tree, 'tls');
  const clientCa = str(tls, 'client-ca-file');
  const token = sub(tree, 'token');
  const response = sub(tree, 'response');
  const claimHeaders = sub(response, 'claim-headers') ?? {};
  const tokenPage = sub(tree, 'token-page');
  const workers = tree['workers'];
  return {
    ...(file === undefined ? {} : { file }),
    listen: need(str(tree, 'listen'), 'listen'),
    adminListen: need(str(tree, 'admin-listen'), 'admin-listen'),
    ...(tls === undefined ? {} : {
      tls: {
        certFile: need(str(tls, 'cert-file'), 'tls.cert-file'),
        keyFile: need(str(tls, 'key-file'), 'tls.key-file'),
        ...(clientCa === undefined ? {} : { clientCaFile: clientCa }),
      },
    }),
    workers: workers === 'auto' ? 'auto' : need(num(tree, 'workers'), 'workers'),
    clockSkewMs: need(num(tree, 'clock-skew'), 'clock-skew'),
    realm: need(str(tree, 'realm'), 'realm'),
    token: {
      sources: trees(token, 'sources').map(source),
      maxBytes: need(num(token, 'max-bytes'), 'token.max-bytes'),
    },
    response: {
      principalHeader: need(str(response, 'principal-header'), 'response.principal-header'),
      passThroughHeader: need(str(response, 'pass-through-header'), 'response.pass-through-header'),
      forwardOriginal: need(bool(response, 'forward-original'), 'response.forward-original'),
      // fromEntries defines own properties, so even a header named __proto__ stays a plain entry.
      claimHeaders: Object.fromEntries(Object.entries(claimHeaders).filter((e): e is [string, string] => typeof e[1] === 'string')),
      dynamicMetadata: need(bool(response, 'dynamic-metadata'), 'response.dynamic-metadata'),
    },
    cache: {
      maxEntries: need(num(sub(tree, 'cache'), 'max-entries'), 'cache.max-entries'),
      maxBytes: need(num(sub(tree, 'cache'), 'max-bytes'), 'cache.max-bytes'),
    },
    providers: trees(tree, 'providers').map(buildProvider),
    ...(tokenPage === undefined ? {} : { tokenPage: { path: need(str(tokenPage, 'path'), 'token-page.path') } }),
  };
}

/** Freezes `value` and everything reachable from it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
