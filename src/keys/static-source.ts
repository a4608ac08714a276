import type { KeyObject } from 'node:crypto';
import { algorithmsForKey, describeKey } from './algorithms.js';
import type { KeySource, VerificationKey } from './types.js';

/** One key held in memory (demo mode, tests): always ready, nothing to watch. */
export function createStaticKeySource(key: KeyObject, label = 'in-memory'): KeySource {
  const keys: readonly VerificationKey[] = [{ key, algorithms: algorithmsForKey(key), description: `${describeKey(key)} ${label}` }];
  return { lookup: () => keys, ready: true, close: () => undefined };
}
