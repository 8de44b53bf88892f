/**
 * `github` scheme (docs/http-api.md#sender-authentication): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
 * GitHub signs no timestamp and no delivery id, so a replay is caught by its body: the same body
 * within `body_hash_window_seconds` is a duplicate, whatever its `X-GitHub-Delivery`.
 */
import type { SecretConfig } from '../../config/schema.js';

import { activeSecrets, matchesAny, mismatch, type AuthInput, type AuthOutcome, type Verifier } from './verifier.js';
import { hmacSha256, safeEqual } from '../../lib/signing.js';

/** The `X-Hub-Signature-256` value GitHub sends for `body`. */
export function signGithub(secret: string, body: Uint8Array): string {
  return `sha256=${hmacSha256(secret, body).toString('hex')}`;
}

export function createGithubVerifier(secrets: readonly SecretConfig[]): Verifier {
  return {
    scheme: 'github',
    verify({ headers, rawBody, now }: AuthInput): AuthOutcome {
      const value = headers.get('x-hub-signature-256')?.trim();
      if (value === undefined || value === '') return { ok: false, reason: 'missing X-Hub-Signature-256' };
      if (!value.startsWith('sha256=')) return { ok: false, reason: 'X-Hub-Signature-256 is not "sha256=<hex>"' };
      const candidate = `sha256=${value.slice('sha256='.length).toLowerCase()}`;
      const expected = activeSecrets(secrets, now).map((s) => signGithub(s, rawBody));
      if (!matchesAny(candidate, expected)) return mismatch('X-Hub-Signature-256 does not match', secrets, now, (s) => safeEqual(candidate, signGithub(s, rawBody)));
      // The signature covers the body only: the delivery id is not signed, and a resent body is a
      // replay whatever id it carries (docs/http-api.md#idempotency-keys).
      const delivery = headers.get('x-github-delivery')?.trim();
      return delivery === undefined || delivery === '' ? { ok: true, replayable_body: true } : { ok: true, unsigned_key: delivery, replayable_body: true };
    },
  };
}
