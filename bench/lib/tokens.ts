/**
 * Bench tokens: one RSA-2048 key, RS256 tokens signed with node:crypto directly (much faster
 * than going through jose), in parallel worker threads. The key and the tokens are cached
 * under bench/results/tmp/ (gitignored) and reused while they stay valid for a while.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export const ISSUER = 'https://idp.bench.invalid/';
export const AUDIENCE = 'trino';
export const KID = 'bench-rs256';
/** Tokens stay valid this long after generation; the cache is reused while 2 h of it remain. */
const LIFETIME_S = 24 * 3600;
const MIN_REMAINING_S = 2 * 3600;
const FORMAT = 1;

export interface SignJob {
  readonly privateKeyPem: string;
  readonly headerB64: string;
  readonly iat: number;
  readonly exp: number;
  readonly from: number;
  readonly to: number;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

export const headerB64 = (kid: string): string => b64({ alg: 'RS256', typ: 'JWT', kid });

/** Claims of token number `i`: a typical IdP access token of about 700 bytes. */
export function payloadB64(i: number, iat: number, exp: number): string {
  return b64({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: `user${i}@example.com`,
    iat,
    nbf: iat,
    exp,
    jti: `bench-${i}-${iat}`,
    email: `user${i}@example.com`,
    name: `Bench User ${i}`,
    groups: ['analysts', 'bench'],
    scope: 'openid trino:query',
  });
}

export interface TokenSet {
  readonly tokens: readonly string[];
  readonly publicJwk: JsonWebKey;
  readonly exp: number;
  readonly reused: boolean;
}

interface Meta {
  readonly format: number;
  readonly count: number;
  readonly exp: number;
  readonly iat: number;
  readonly kid: string;
  readonly issuer: string;
  /** Token 0's claims at iat = exp = 0: tokens cached before a claim was added are not reused. */
  readonly claims: string;
}

function signInWorkers(job: Omit<SignJob, 'from' | 'to'>, count: number): Promise<string[]> {
  const n = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 2000)));
  const per = Math.ceil(count / n);
  const parts: Promise<string[]>[] = [];
  for (let w = 0; w < n; w++) {
    const from = w * per;
    const to = Math.min(count, from + per);
    if (from >= to) break;
    parts.push(
      new Promise<string[]>((resolve, reject) => {
        const worker = new Worker(new URL('./sign-worker.js', import.meta.url), { workerData: { ...job, from, to } satisfies SignJob });
        worker.once('message', (m: string) => resolve(m.split('\n')));
        worker.once('error', reject);
        worker.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`sign worker exited with ${code}`))));
      }),
    );
  }
  return Promise.all(parts).then((all) => all.flat());
}

/** `count` distinct valid RS256 tokens (token i has sub user<i>@example.com). */
export async function benchTokens(count: number, dir: string, log: (s: string) => void): Promise<TokenSet> {
  mkdirSync(dir, { recursive: true });
  const metaFile = join(dir, 'tokens.json');
  const keyFile = join(dir, 'key.pem');
  const tokensFile = join(dir, 'tokens.txt');
  const now = Math.floor(Date.now() / 1000);
  if (existsSync(metaFile) && existsSync(keyFile) && existsSync(tokensFile)) {
    try {
      const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta;
      const sameClaims = meta.claims === payloadB64(0, 0, 0);
      if (meta.format === FORMAT && sameClaims && meta.kid === KID && meta.issuer === ISSUER && meta.count >= count && meta.exp - now > MIN_REMAINING_S) {
        const privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
        const tokens = readFileSync(tokensFile, 'utf8').split('\n').slice(0, count);
        if (tokens.length === count) return { tokens, publicJwk: publicJwk(privateKey), exp: meta.exp, reused: true };
      }
    } catch {
      // regenerate below
    }
  }
  const t0 = performance.now();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const iat = now;
  const exp = now + LIFETIME_S;
  const tokens = await signInWorkers({ privateKeyPem, headerB64: headerB64(KID), iat, exp }, count);
  writeFileSync(keyFile, privateKeyPem, { mode: 0o600 });
  writeFileSync(tokensFile, tokens.join('\n'));
  writeFileSync(metaFile, JSON.stringify({ format: FORMAT, count, exp, iat, kid: KID, issuer: ISSUER, claims: payloadB64(0, 0, 0) } satisfies Meta));
  log(`signed ${count} RS256 tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s (cached in ${dir})`);
  return { tokens, publicJwk: publicJwk(privateKey), exp, reused: false };
}

function publicJwk(privateKey: KeyObject): JsonWebKey {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { ...jwk, kid: KID, use: 'sig', alg: 'RS256' };
}

/** The same token with one signature character changed (not the last one, whose low bits may be padding). */
export function badSignature(token: string): string {
  const i = token.length - 20;
  const c = token[i] === 'A' ? 'B' : 'A';
  return token.slice(0, i) + c + token.slice(i + 1);
}

/** Token i re-headed with a random kid (the signature no longer matters: the key lookup fails first). */
export function unknownKidTokens(tokens: readonly string[], count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const t = tokens[i % tokens.length] ?? '';
    const dot = t.indexOf('.');
    out.push(headerB64(`unknown-${randomBytes(8).toString('hex')}`) + t.slice(dot));
  }
  return out;
}
