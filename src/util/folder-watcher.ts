import { realpathSync, watch, type FSWatcher } from 'node:fs';
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

