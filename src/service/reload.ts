import type { Config } from '../config/types.js';

/** Settings a running process cannot change: listeners and process count. */
export function restartOnlyChanges(old: Config, next: Config): string[] {
  const out: string[] = [];
  if (old.listen !== next.listen) out.push('listen');
  if (old.adminListen !== next.adminListen) out.push('admin-listen');
  if (old.httpListen !== next.httpListen) out.push('http-listen');
  if (old.workers !== next.workers) out.push('workers');
  if (JSON.stringify(old.tls) !== JSON.stringify(next.tls)) out.push('tls');
  return out;
}
