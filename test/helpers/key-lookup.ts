import assert from 'node:assert/strict';
import type { KeyLookupResult, VerificationKey } from '../../src/keys/types.js';
import { Rejection } from '../../src/reasons.js';

type Lookup = KeyLookupResult | Promise<KeyLookupResult>;

/** The keys of a synchronous lookup; fails on a promise or a rejection (naming it). */
export function keysOf(result: Lookup): readonly VerificationKey[] {
  assert.ok(!(result instanceof Promise), 'expected a synchronous answer');
  assert.ok(!(result instanceof Rejection), `expected keys, got ${result instanceof Rejection ? `${result.reason}: ${result.message}` : ''}`);
  return result;
}

/** The rejection of a synchronous lookup. */
export function rejectionOf(result: Lookup): Rejection {
  assert.ok(result instanceof Rejection, 'expected a rejection');
  return result;
}

export const reasonOf = (result: Lookup): string => rejectionOf(result).reason;

