/**
 * The `revocations.file` (SPEC §14), loaded when the policy is built and re-read whenever it
 * changes (in-place rewrite or kubelet `..data` swap, through the folder watcher the key files
 * use). A broken new version keeps the last good rules.
 */
import { createHash } from 'node:crypto';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { readKeyFile } from '../keys/key-file.js';
import { WatchedFile } from '../util/folder-watcher.js';
import { type LifetimeBound, readRevocationRules, RevocationList, type RevocationRule, type Revocations } from './revocation.js';

export interface RevocationHooks {
  /**
   * A version of the file is in use: at load (`initial`) or after a change. `list.dead` holds
   * the rules left out because they can never match again.
   */
  onLoad?(path: string, list: RevocationList, initial: boolean): void;
  /** A changed file was refused; the previous rules stay. */
  onReject?(path: string, problems: readonly ConfigProblem[]): void;
  /** The folder cannot be watched. */
  onWatchError?(dir: string, message: string): void;
}

/** Far above any real list (≈ 100 000 jti rules); reading happens on the event loop. */
const MAX_REVOCATION_FILE_BYTES = 8 * 1024 * 1024;

/** `digest` of what was read, when something was. */
type Loaded = { list: RevocationList; digest: string } | { problems: ConfigProblem[]; digest?: string };

function load(path: string, where: { file: string; key: string }, bound: LifetimeBound): Loaded {
  // Bounded, and O_NONBLOCK: a FIFO or a huge file at the path cannot hang or flood the event loop.
  const read = readKeyFile(path, MAX_REVOCATION_FILE_BYTES);
  if ('error' in read) return { problems: [{ file: where.file, key: where.key, message: `cannot read revocation file ${path}: ${read.error}` }] };
  const bytes = read.content;
  const digest = createHash('sha256').update(bytes).digest('hex');
  const text = bytes.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e: unknown) {
    const message = e instanceof Error ? e.message : String(e);
    const pos = /at position (\d+)/.exec(message)?.[1];
    const line = pos === undefined ? undefined : text.slice(0, Number(pos)).split('\n').length;
    return { problems: [{ file: path, key: '', ...(line === undefined ? {} : { line }), message: `invalid JSON: ${message}` }], digest };
  }
  const problems: ConfigProblem[] = [];
  const rules = readRevocationRules(doc, path, problems);
  if (problems.length > 0) return { problems, digest };
  return { list: new RevocationList(rules, bound), digest };
}

/** The watched file; `match` reads whatever version is current. */
export class RevocationFile implements Revocations {
  private current: RevocationList;
  private digest: string;
  /** The last refused version, so the events of one bad write are reported once. */
  private refused: string | undefined;
  private readonly watched: WatchedFile;

  /** Throws a ConfigError (naming `where` or the file and rule) when the file is missing or broken. */
  constructor(
    readonly path: string,
    private readonly where: { file: string; key: string },
    private readonly bound: LifetimeBound,
    private readonly hooks: RevocationHooks = {},
  ) {
    const loaded = load(path, where, bound);
    if ('problems' in loaded) throw new ConfigError(loaded.problems);
    this.current = loaded.list;
    this.digest = loaded.digest;
    hooks.onLoad?.(path, loaded.list, true);
    this.watched = new WatchedFile(path, () => this.reload(), (dir, message) => hooks.onWatchError?.(dir, message));
  }

  match(claims: Readonly<Record<string, unknown>>): RevocationRule | undefined {
    return this.current.match(claims);
  }

  /** Stops watching; the last rules keep answering (checks in flight on an old policy). */
  close(): void {
    this.watched.close();
  }

  private reload(): void {
    const loaded = load(this.path, this.where, this.bound);
    if ('problems' in loaded) {
      if (loaded.digest !== undefined && loaded.digest === this.refused) return;
      this.refused = loaded.digest;
      this.hooks.onReject?.(this.path, loaded.problems);
      return;
    }
    this.refused = undefined;
    if (loaded.digest === this.digest) return;
    this.current = loaded.list;
    this.digest = loaded.digest;
    this.hooks.onLoad?.(this.path, loaded.list, false);
  }
}
