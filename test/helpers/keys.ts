import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, type JWTPayload } from 'jose';

/** Key pairs and secrets made at test time; nothing is ever committed. */
export interface TestKeys {
  readonly rsa: { publicKey: KeyObject; privateKey: KeyObject };
  readonly ec: { publicKey: KeyObject; privateKey: KeyObject };
  readonly hmac: Buffer;
}

let cachedKeys: TestKeys | undefined;

export function testKeys(): TestKeys {
  cachedKeys ??= {
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    hmac: randomBytes(32),
  };
  return cachedKeys;
}

export const spkiPem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();

/** Writes a public key (PEM) or an HMAC secret (base64) into `dir` and returns the path. */
export function writeKey(dir: string, name: string, key: KeyObject | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.isBuffer(key) ? `${key.toString('base64')}\n` : spkiPem(key));
  return path;
}

export interface SignOptions {
  readonly alg?: string;
  readonly kid?: string;
  readonly header?: Record<string, unknown>;
}

export async function sign(payload: JWTPayload, key: KeyObject | Buffer, options: SignOptions = {}): Promise<string> {
  const alg = options.alg ?? (Buffer.isBuffer(key) ? 'HS256' : key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256');
  return new SignJWT(payload)
    .setProtectedHeader({ alg, ...(options.kid === undefined ? {} : { kid: options.kid }), ...options.header })
    .sign(Buffer.isBuffer(key) ? new Uint8Array(key) : key);
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Builds a compact token from raw parts, for malformed and hostile cases. */
export const rawToken = (header: unknown, payload: unknown, signature = 'c2ln'): string => `${b64(header)}.${b64(payload)}.${signature}`;
