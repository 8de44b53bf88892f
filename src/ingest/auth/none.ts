/**
 * `none` scheme (docs/http-api.md#sender-authentication): accepts every delivery. Only ever built from an explicit
 * `scheme: none`; the start-up warning about it is the composition root's job.
 */
import type { AuthOutcome, Verifier } from './verifier.js';

export function createNoneVerifier(): Verifier {
  return {
    scheme: 'none',
    verify(): AuthOutcome {
      return { ok: true };
    },
  };
}
