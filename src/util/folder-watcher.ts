import { realpathSync, unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { errnoCode } from './errno.js';

/**
 * Where a watched file lives: its folder and base name, plus those of its symlink target when
 * it is a link (kubelet mounts ConfigMaps and Secrets as links into a `..data` folder that it
 * swaps). A file missing right now has no target; the folder watch sees it come back.
 */
export function fileLocations(file: string): { dirs: string[]; names: string[] } {
  const abs = resolve(file);
  const dirs = [dirname(abs)];
  const names = [basename(abs)];
  try {
    const real = realpathSync(abs);
    dirs.push(dirname(real));
    names.push(basename(real));
  } catch {
    // missing: only the folder is watched
  }
  return { dirs, names };
}

/** fs.watch on whole folders (editors and kubelet replace files rather than write them). */
export class FolderWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly onEvent: (name: string | null) => void,
    private readonly onError: (dir: string, message: string) => void,
  ) {}

  /** Watches exactly `dirs`; returns how many are watched. */
  set(dirs: ReadonlySet<string>): number {
    for (const [dir, w] of this.watchers) if (!dirs.has(dir)) this.drop(dir, w);
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => this.onEvent(name));
        // A folder that vanishes errors out; report it as a change so the owner re-checks.
        w.on('error', () => {
          this.drop(dir, w);
          this.onEvent(null);
        });
        this.watchers.set(dir, w);
      } catch (e: unknown) {
        if (this.reported.has(dir)) continue;
        this.reported.add(dir);
        const message = `cannot watch the folder (${errnoCode(e)}); changes may be missed`;
        // Deferred: this may run inside a constructor, before the owner holds the source.
        queueMicrotask(() => this.onError(dir, message));
      }
    }
    return this.watchers.size;
  }

  get size(): number { return this.watchers.size; }

  close(): void {
    for (const [dir, w] of this.watchers) this.drop(dir, w);
  }

  private drop(dir: string, w: FSWatcher): void {
    w.close();
    if (this.watchers.get(dir) === w) this.watchers.delete(dir);
  }
}


/** Events of one burst (an editor's write, kubelet's swap) are taken together after this. */
const DEBOUNCE_MS = 50;
/** Fallback stat polling when none of the file's folders can be watched. */
const POLL_INTERVAL_MS = 2_000;

/**
 * One file watched as editors and kubelet change it: its folder and its symlink target's
 * (FolderWatcher), stat polling when neither can be watched, events for other files in those
 * folders ignored, a burst debounced into one `onChange`. The locations are read again after
 * each change, since a `..data` swap moves the target.
 */
export class WatchedFile {
  private readonly absolute: string;
  private readonly folders: FolderWatcher;
  /** Base names that are this file: its own and its symlink target's. */
  private names: readonly string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;

  constructor(
    path: string,
    private readonly onChange: () => void,
    onError: (dir: string, message: string) => void,
  ) {
    this.absolute = resolve(path);
    this.folders = new FolderWatcher((name) => this.onEvent(name), onError);
    this.watch();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.folders.close();
    if (this.polling) unwatchFile(this.absolute);
  }

  private watch(): void {
    const where = fileLocations(this.absolute);
    this.names = where.names;
    if (this.folders.set(new Set(where.dirs)) === 0 && !this.polling) {
      this.polling = true;
      watchFile(this.absolute, { persistent: false, interval: POLL_INTERVAL_MS }, () => this.onEvent(null));
    }
  }

  private onEvent(name: string | null): void {
    // This file, a kubelet `..data` swap, or an unnamed event; other files in the folder are noise.
    if (name !== null && !name.startsWith('..') && !this.names.includes(name)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.closed) return;
      this.onChange();
      this.watch();
    }, DEBOUNCE_MS);
    this.timer.unref();
  }
}
