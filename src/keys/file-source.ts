import { createHash } from 'node:crypto';
import { basename, dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { reject } from '../reasons.js';
import { algorithmsForKey, describeKey } from './algorithms.js';
import { BoundedMap } from '../util/bounded-map.js';
import { FolderWatcher, WatchedFile } from '../util/folder-watcher.js';
import { looksLikeJson, MAX_KEY_FILE_BYTES, MAX_KEY_SET_FILE_BYTES, parseKeyFile, parseKeySetFile, readKeyFile } from './key-file.js';
import { findKeys, indexKeys, skipReports, type KeySet, type SkipReport } from './key-set.js';
import type { KeyLookupResult, KeySource, VerificationKey } from './types.js';

export interface FileKeySourceOptions {
  /** A changed key file was re-read and is now used; `keys` is how many it holds. */
  onReload?: (path: string, keys: number) => void;
  /** A key file (or its folder watch) has a problem; for a static file the previous key stays. */
  onError?: (path: string, message: string) => void;
  /** A key of a JSON key file was skipped (same bounds as for a fetched JWKS). */
  onSkippedKey?: (path: string, e: SkipReport) => void;
}

const PLACEHOLDER = /\$\{KID\}|\$KEYID/;
const DEFAULT_KID = 'default-key';
/** Bounds the per-kid cache of a template; only existing, valid files ever enter it. */
const TEMPLATE_CACHE_MAX = 1000;
/** A kid whose file is missing is answered from memory this long: a client retrying one bad token costs no open each time. */
const MISSING_TTL_MS = 1_000;
/** Bounds the remembered misses, so a flood of random kids cannot grow them. */
const MISSING_MAX = 10_000;
/** When the template folder cannot be watched, cached keys are re-read after this long. */
const UNWATCHED_MAX_AGE_MS = 30_000;

/** `${KID}` is what Trino's code substitutes; `$KEYID` is what Starburst's docs say. */
export const isKeyTemplate = (path: string): boolean => PLACEHOLDER.test(path);

/** Trino's path-traversal defence: every UTF-16 code unit outside [A-Za-z0-9_-] becomes `_`. */
export const sanitizeKid = (kid: string): string => kid.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * What one file holds: one key (PEM or HMAC; the token's kid is not looked at, as in Trino),
 * or a JSON JWK Set or JWK, looked up by kid as a JWKS is (SPEC §13).
 */
type FileKeys = { readonly one: readonly VerificationKey[] } | { readonly set: KeySet };

type Loaded =
  | { keys: FileKeys; size: number; skipped: readonly SkipReport[]; digest: string }
  | { error: string; missing: boolean };

const UNKNOWN_KID = reject('unknown_key', 'the token kid is not in the key file');
const NO_FITTING_KEY = reject('unknown_key', 'no key in the key file fits the token algorithm');

/** The keys to try; allocates nothing. */
const keysFor = (keys: FileKeys, kid: string | undefined, alg: string): KeyLookupResult =>
  'one' in keys ? keys.one : findKeys(keys.set, kid, alg) ?? (kid === undefined ? NO_FITTING_KEY : UNKNOWN_KID);

function loadKey(path: string, kid: string | undefined): Loaded {
  const read = readKeyFile(path, MAX_KEY_SET_FILE_BYTES);
  if ('error' in read) return read;
  const digest = createHash('sha256').update(read.content).digest('hex');
  if (looksLikeJson(read.content)) {
    const set = parseKeySetFile(read.content, path);
    if ('error' in set) return { error: set.error, missing: false };
    return { keys: { set: indexKeys(set.keys) }, size: set.keys.length, skipped: skipReports(set.skipped), digest };
  }
  if (read.content.length > MAX_KEY_FILE_BYTES) return { error: `larger than ${MAX_KEY_FILE_BYTES} bytes`, missing: false };
  const parsed = parseKeyFile(read.content);
  if ('error' in parsed) return { error: parsed.error, missing: false };
  const key: VerificationKey = {
    ...(kid === undefined ? {} : { kid }),
    key: parsed.key,
    algorithms: algorithmsForKey(parsed.key),
    description: `${describeKey(parsed.key)} ${path}`,
  };
  return { keys: { one: Object.freeze([key]) }, size: 1, skipped: [], digest };
}

/** One file, loaded at construction; for a PEM or HMAC file the token's kid is ignored (as Trino does). */
class StaticFileSource implements KeySource {
  readonly ready = true;
  private keys: FileKeys;
  private count: number;
  private digest: string;
  private readonly watched: WatchedFile;

  constructor(private readonly path: string, where: { file: string; key: string }, private readonly options: FileKeySourceOptions) {
    const loaded = loadKey(path, undefined);
    if ('error' in loaded) throw new ConfigError([{ file: where.file, key: where.key, message: `key file ${path}: ${loaded.error}` }]);
    this.keys = loaded.keys;
    this.count = loaded.size;
    this.digest = loaded.digest;
    for (const e of loaded.skipped) options.onSkippedKey?.(path, e);
    this.watched = new WatchedFile(path, () => this.reload(), (dir, message) => options.onError?.(dir, message));
  }

  lookup(kid: string | undefined, alg: string): KeyLookupResult {
    return keysFor(this.keys, kid, alg);
  }

  /** Usable keys in the file. */
  get size(): number {
    return this.count;
  }

  close(): void {
    this.watched.close();
  }

  private reload(): void {
    const loaded = loadKey(this.path, undefined);
    if ('error' in loaded) {
      this.options.onError?.(this.path, `${loaded.error}; keeping the previous key`);
      return;
    }
    if (loaded.digest === this.digest) return;
    this.keys = loaded.keys;
    this.count = loaded.size;
    this.digest = loaded.digest;
    for (const e of loaded.skipped) this.options.onSkippedKey?.(this.path, e);
    this.options.onReload?.(this.path, loaded.size);
  }
}

/** A `${KID}` / `$KEYID` template: one file per sanitised kid, loaded lazily and cached. */
class TemplateFileSource implements KeySource {
  readonly ready = true;
  private readonly parts: readonly string[];
  /** Sanitised kid -> keys, the file's base name (to match watch events) and load time. */
  private readonly cache = new BoundedMap<string, { keys: FileKeys; name: string; loadedAt: number }>(TEMPLATE_CACHE_MAX);
  /** Cached kids dropped because their file changed: their next load reports onReload. */
  private readonly changed = new Set<string>();
  /** Sanitised kid -> its file's base name and when it was found missing. */
  private readonly missing = new BoundedMap<string, { name: string; at: number }>(MISSING_MAX);
  private readonly folders: FolderWatcher;

  constructor(template: string, private readonly options: FileKeySourceOptions) {
    this.parts = template.split(PLACEHOLDER);
    this.folders = new FolderWatcher((name) => this.invalidate(name), (dir, message) => options.onError?.(dir, message));
    const dir = dirname(resolve(template));
    // A placeholder in the folder part cannot be watched: cached keys then expire instead.
    if (!isKeyTemplate(dir)) this.folders.set(new Set([dir]));
  }

  lookup(kid: string | undefined, alg: string): KeyLookupResult {
    const id = kid === undefined ? DEFAULT_KID : sanitizeKid(kid);
    const hit = this.cache.get(id);
    if (hit !== undefined && (this.folders.size > 0 || performance.now() - hit.loadedAt < UNWATCHED_MAX_AGE_MS)) return keysFor(hit.keys, kid, alg);
    const shown = id.length > 64 ? `${id.slice(0, 64)}...` : id;
    const missed = this.missing.get(id);
    if (missed !== undefined && performance.now() - missed.at < MISSING_TTL_MS) return reject('unknown_key', `no key file for kid "${shown}"`);
    const path = this.parts.join(id);
    const loaded = loadKey(path, id);
    if ('error' in loaded) {
      // A broken file is not cached: fixed, it loads on the next token. A missing one is
      // remembered briefly, or until its folder reports a change.
      this.cache.delete(id);
      this.changed.delete(id);
      if (loaded.missing) {
        this.missing.set(id, { name: basename(path), at: performance.now() });
        return reject('unknown_key', `no key file for kid "${shown}"`);
      }
      this.options.onError?.(path, loaded.error);
      return reject('unknown_key', `the key file for kid "${shown}" cannot be used: ${loaded.error}`);
    }
    this.missing.delete(id);
    this.cache.set(id, { keys: loaded.keys, name: basename(path), loadedAt: performance.now() });
    for (const e of loaded.skipped) this.options.onSkippedKey?.(path, e);
    if (this.changed.delete(id)) this.options.onReload?.(path, loaded.size);
    return keysFor(loaded.keys, kid, alg);
  }

  close(): void {
    this.folders.close();
    this.cache.clear();
    this.missing.clear();
  }

  /** Drops cached keys whose file changed; they are re-read on next use. */
  private invalidate(name: string | null): void {
    const all = name === null || name.startsWith('..'); // unnamed event or kubelet `..data` swap
    for (const [id, entry] of this.cache.entries()) {
      if (!all && entry.name !== name) continue;
      this.cache.delete(id);
      this.changed.add(id);
    }
    if (this.changed.size > TEMPLATE_CACHE_MAX) this.changed.clear();
    // A file may have appeared: forget the misses it answers.
    if (all) this.missing.clear();
    else for (const [id, miss] of this.missing.entries()) if (miss.name === name) this.missing.delete(id);
  }
}

/**
 * The KeySource for a provider's local `key-file`. A static path is loaded now and throws a
 * ConfigError naming `where` on any problem; a template is loaded per kid on demand.
 */
export function createFileKeySource(path: string, where: { file: string; key: string }, options: FileKeySourceOptions = {}): KeySource {
  return isKeyTemplate(path) ? new TemplateFileSource(path, options) : new StaticFileSource(path, where, options);
}
