/**
 * `stripe` scheme (docs/http-api.md#sender-authentication): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` with
 * v1 = hex HMAC-SHA256(secret as UTF-8, "{t}.{body}"), 300 s tolerance.
 */
import type { SecretConfig } from '../../config/schema.js';
import { checkTimestamp } from './hmac.js';
import { activeSecrets, mismatch, type AuthInput, type AuthOutcome, type Verifier } from './verifier.js';
import { hmacSha256, safeEqual } from '../../lib/signing.js';

/** The hex v1 signature Stripe puts in the header for `timestamp` and `body`. */
export function signStripe(secret: string, timestamp: number, body: Uint8Array): string {
  return hmacSha256(secret, `${timestamp}.`, body).toString('hex');
}

/** Splits the header into its first `t` and every `v1`; other schemes (v0) are ignored, as Stripe does. */
function parseStripeSignature(value: string): { t: string | null; v1: string[] } {
  let t: string | null = null;
  const v1: string[] = [];
  for (const item of value.split(',')) {
    const at = item.indexOf('=');
    if (at < 0) continue;
    const key = item.slice(0, at).trim();
    const val = item.slice(at + 1).trim();
    if (key === 't' && t === null) t = val;
    else if (key === 'v1' && val !== '') v1.push(val.toLowerCase());
  }
  return { t, v1 };
}

export function createStripeVerifier(secrets: readonly SecretConfig[]): Verifier {
  return {
    scheme: 'stripe',
    verify({ headers, rawBody, now }: AuthInput): AuthOutcome {
      const value = headers.get('stripe-signature');
      if (value === null || value === '') return { ok: false, reason: 'missing Stripe-Signature' };
      const { t, v1 } = parseStripeSignature(value);
      if (v1.length === 0) return { ok: false, reason: 'Stripe-Signature holds no v1 signature' };
      const timestamp = checkTimestamp(t, 'Stripe-Signature t', now);
      if (!timestamp.ok) return timestamp;

      const expected = activeSecrets(secrets, now).map((s) => signStripe(s, timestamp.seconds, rawBody));
      // Every pair is compared, so the time taken does not tell which one matched.
      let found = false;
      for (const candidate of v1) for (const e of expected) found = safeEqual(candidate, e) || found;
      if (found) return { ok: true };
      return mismatch('Stripe-Signature v1 does not match', secrets, now, (s) => {
        const e = signStripe(s, timestamp.seconds, rawBody);
        return v1.some((candidate) => safeEqual(candidate, e));
      });
    },
  };
}
