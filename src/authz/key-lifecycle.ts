import { keyLocation } from '../config/key-location.js';
import type { ProviderConfig } from '../config/types.js';
import type { KeySource } from '../keys/types.js';
import type { Policy } from './policy.js';

/*
 * The key sources of a policy over time: first fetches, readiness, reuse across reloads, close.
 */

/** Starts JWKS fetches (except of sources already running); resolves when every first fetch has finished. */
export async function startPolicy(policy: Policy, running: ReadonlySet<KeySource> = new Set()): Promise<void> {
  await Promise.all(policy.providers.map((p) => (running.has(p.keys) ? undefined : p.jwks?.start())));
}

/** Stops watchers and timers, except of the key sources a newer policy still uses. */
export function closePolicy(policy: Policy, keep: ReadonlySet<KeySource> = new Set()): void {
  for (const p of policy.providers) if (!keep.has(p.keys)) p.keys.close();
  policy.revocations?.close();
}

/**
 * Identity of a key source across reloads: same provider, same key location (for discovery: the
 * document and the issuer it must name), same JWKS settings.
 */
export const keySourceId = (pc: ProviderConfig): string => JSON.stringify([pc.name, keyLocation(pc) ?? null, pc.jwks]);

/** Ready when every provider has a usable key set (file keys always do). */
export const policyReady = (policy: Policy): boolean => policy.providers.every((p) => p.keys.ready);
