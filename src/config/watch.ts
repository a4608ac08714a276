import { fileLocations, FolderWatcher } from '../util/folder-watcher.js';
import type { Config } from './types.js';

const DEBOUNCE_MS = 100;

/** The files whose change means "reload the config": the config itself and user-mapping files. */
export function configFiles(config: Config): string[] {
  const files = config.file === undefined ? [] : [config.file];
  for (const p of config.providers) if (p.userMapping.file !== undefined) files.push(p.userMapping.file);
  return files;
}

export interface ConfigWatcher {
  /** Watch exactly these files from now on (after a reload the set may change). */
  set(files: readonly string[]): void;
  close(): void;
}

/**
 * Watches the folders of `files` (and of their symlink targets: kubelet swaps ConfigMap
 * `..data` links) and calls `onChange` once per burst of events.
 */
export function watchConfigFiles(files: readonly string[], onChange: () => void, onError: (dir: string, message: string) => void): ConfigWatcher {
  let names = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const folders = new FolderWatcher((name) => {
    if (name !== null && !names.has(name) && !name.startsWith('..')) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, DEBOUNCE_MS);
  }, onError);

  const watcher: ConfigWatcher = {
    set(list) {
      const dirs = new Set<string>();
      names = new Set<string>();
      // A missing file is reported by the reload itself.
      for (const file of list) {
        const where = fileLocations(file);
        for (const d of where.dirs) dirs.add(d);
        for (const n of where.names) names.add(n);
      }
      folders.set(dirs);
    },
    close() {
      clearTimeout(timer);
      folders.close();
    },
  };
  watcher.set(files);
  return watcher;
}
