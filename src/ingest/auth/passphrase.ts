/**
 * `passphrase` scheme (docs/http-api.md#sender-authentication): for senders that cannot set headers (TradingView), the
 * secret travels in a body field. On success the field name is returned so that ingest removes
 * it before the body is stored, hashed, logged or passed on.
 */
import type { SecretConfig } from '../../config/schema.js';
import { activeSecrets, matchesAny, mismatch, type AuthInput, type AuthOutcome, type Verifier } from './verifier.js';
import { safeEqual } from '../../lib/signing.js';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function createPassphraseVerifier(field: string, secrets: readonly SecretConfig[]): Verifier {
  return {
    scheme: 'passphrase',
    verify({ body, now }: AuthInput): AuthOutcome {
      if (!isRecord(body)) {
        return { ok: false, reason: 'body is not a JSON object, so it carries no passphrase' };
      }
      // Own properties only: a field inherited from Object.prototype is not something the sender sent.
      const value: unknown = Object.hasOwn(body, field) ? body[field] : undefined;
      if (value === undefined) return { ok: false, reason: `body has no "${field}" field` };
      if (typeof value !== 'string') return { ok: false, reason: `body field "${field}" is not a string` };
      return matchesAny(value, activeSecrets(secrets, now))
        ? { ok: true, strip_field: field }
        : mismatch(`body field "${field}" does not match`, secrets, now, (s) => safeEqual(value, s));
    },
  };
}
