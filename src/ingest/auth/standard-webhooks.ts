/**
 * `standard-webhooks` scheme (docs/http-api.md#sender-authentication, https://www.standardwebhooks.com): `webhook-id`,
 * `webhook-timestamp`, `webhook-signature` (space-separated `v1,<base64>`), with the `svix-*`
 * names accepted as aliases. The webhook-id is the delivery's idempotency key.
 */
import type { SecretConfig } from '../../config/schema.js';
import { decodeStandardWebhooksSecret, safeEqual, signStandardWebhooks } from '../../lib/signing.js';
import { checkTimestamp } from './hmac.js';
import { activeSecrets, mismatch, type AuthInput, type AuthOutcome, type Verifier } from './verifier.js';

/** Reads `webhook-<name>`, falling back to its Svix alias `svix-<name>`. */
function header(headers: Headers, name: 'id' | 'timestamp' | 'signature'): string | null {
  return headers.get(`webhook-${name}`) ?? headers.get(`svix-${name}`);
}

/**
 * Throws at construction when a configured secret is not base64: such a secret could never
 * verify, and a misconfiguration should stop the start, not turn every delivery into a 401.
 */
export function createStandardWebhooksVerifier(secrets: readonly SecretConfig[]): Verifier {
  secrets.forEach((s, i) => {
    if (decodeStandardWebhooksSecret(typeof s === 'string' ? s : s.value) === null) {
      throw new Error(`auth.secrets[${i}]: expected a standard-webhooks secret "whsec_<base64 key>"`);
    }
  });

  return {
    scheme: 'standard-webhooks',
    verify({ headers, rawBody, now }: AuthInput): AuthOutcome {
      const id = header(headers, 'id');
      const signatureHeader = header(headers, 'signature');
      if (id === null || id === '') return { ok: false, reason: 'missing webhook-id' };
      if (signatureHeader === null || signatureHeader === '') return { ok: false, reason: 'missing webhook-signature' };
      const timestamp = checkTimestamp(header(headers, 'timestamp'), 'webhook-timestamp', now);
      if (!timestamp.ok) return timestamp;

      // Other versions (e.g. the asymmetric v1a) are ignored, as the spec requires.
      const offered = signatureHeader.split(' ').filter((s) => s.startsWith('v1,'));
      if (offered.length === 0) return { ok: false, reason: 'webhook-signature holds no v1 signature' };

      const expected: string[] = [];
      for (const secret of activeSecrets(secrets, now)) {
        const key = decodeStandardWebhooksSecret(secret);
        if (key !== null) expected.push(signStandardWebhooks(key, id, timestamp.seconds, rawBody));
      }
      // Every pair is compared, so the time taken does not tell which one matched.
      let found = false;
      for (const candidate of offered) for (const e of expected) found = safeEqual(candidate, e) || found;
      if (found) return { ok: true, idempotency_key: id };
      return mismatch('webhook-signature does not match', secrets, now, (s) => {
        const key = decodeStandardWebhooksSecret(s);
        if (key === null) return false;
        const e = signStandardWebhooks(key, id, timestamp.seconds, rawBody);
        return offered.some((candidate) => safeEqual(candidate, e));
      });
    },
  };
}
