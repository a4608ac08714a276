import type { VerificationKey } from '../keys/types.js';
import type { Provider } from './policy.js';

/** Who the verified token says the caller is. */
export interface Identity {
  readonly provider: Provider;
  /** The raw principal claim. */
  readonly principal: string;
  /** The principal after user mapping. */
  readonly user: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly key: VerificationKey;
}
