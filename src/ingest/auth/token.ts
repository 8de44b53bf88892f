/** `token` scheme: `Authorization: Bearer <secret>` or `X-Api-Key: <secret>` (docs/http-api.md#sender-authentication). */
import type { SecretConfig } from '../../config/schema.js';
import { activeSecrets, matchesAny, mismatch, type AuthInput, type AuthOutcome, type Verifier } from './verifier.js';
import { safeEqual } from '../../lib/signing.js';

export function createTokenVerifier(secrets: readonly SecretConfig[]): Verifier {
  return {
    scheme: 'token',
    verify({ headers, now }: AuthInput): AuthOutcome {
      const authorization = headers.get('authorization');
      const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
      const candidate = bearer ?? headers.get('x-api-key');
      if (candidate === null || candidate === undefined || candidate === '') return { ok: false, reason: 'no bearer token or X-Api-Key' };
      return matchesAny(candidate, activeSecrets(secrets, now)) ? { ok: true } : mismatch('token does not match', secrets, now, (s) => safeEqual(candidate, s));
    },
  };
}
