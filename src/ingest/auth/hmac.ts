/**
 * `hmac` scheme (docs/http-api.md#sender-authentication): `X-Timestamp` (unix s), `X-Nonce`, `X-Signature` = hex
 * HMAC-SHA256(secret, "{timestamp}.{nonce}.{body}"), 300 s tolerance, and each nonce accepted
 * once. Also owns the timestamp-tolerance rule and the HMAC helper that the other signed
 * schemes (standard-webhooks, stripe) share, so that "300 s either way" is written once.
 */
import type { SecretConfig } from '../../config/schema.js';
import { activeSecrets, matchesAny, mismatch, type AuthInput, type AuthOutcome, type NonceStore, type Verifier } from './verifier.js';
import { hmacSha256, safeEqual } from '../../lib/signing.js';

/** How far a signed timestamp may be from the receiver's clock, either way. */
export const TIMESTAMP_TOLERANCE_SECONDS = 300;

/** The log reason for a nonce already stored (the client gets 401 either way). */
export const NONCE_REPLAY = 'X-Nonce already used (replay)';

/** Longest nonce accepted: nonces are stored, so their size is bounded. */
const MAX_NONCE_LENGTH = 128;

export type TimestampCheck = { ok: true; seconds: number } | { ok: false; reason: string };

/**
 * Parses a unix-seconds header and checks it lies within the tolerance of `now`, either way.
 * Strict digits only: `parseInt`'s leniency ("123abc") has no place in an authentication check.
 */
export function checkTimestamp(raw: string | null | undefined, name: string, now: Date): TimestampCheck {
  if (raw === null || raw === undefined || raw === '') return { ok: false, reason: `missing ${name}` };
  if (!/^\d{1,12}$/.test(raw.trim())) return { ok: false, reason: `${name} is not a unix time in seconds` };
  const seconds = Number(raw.trim());
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const age = nowSeconds - seconds;
  if (age > TIMESTAMP_TOLERANCE_SECONDS) {
    return { ok: false, reason: `${name} is ${age} s old (tolerance ${TIMESTAMP_TOLERANCE_SECONDS} s)` };
  }
  if (-age > TIMESTAMP_TOLERANCE_SECONDS) {
    return { ok: false, reason: `${name} is ${-age} s in the future (tolerance ${TIMESTAMP_TOLERANCE_SECONDS} s)` };
  }
  return { ok: true, seconds };
}

/** The hex signature a sender puts in `X-Signature`. */
export function signHmac(secret: string, timestamp: number, nonce: string, body: Uint8Array): string {
  return hmacSha256(secret, `${timestamp}.${nonce}.`, body).toString('hex');
}

export function createHmacVerifier(secrets: readonly SecretConfig[], nonces: NonceStore): Verifier {
  return {
    scheme: 'hmac',
    async verify({ source, headers, rawBody, now }: AuthInput): Promise<AuthOutcome> {
      const signature = headers.get('x-signature')?.trim().toLowerCase();
      const nonce = headers.get('x-nonce');
      if (signature === undefined || signature === '') return { ok: false, reason: 'missing X-Signature' };
      if (nonce === null || nonce === '') return { ok: false, reason: 'missing X-Nonce' };
      if (nonce.length > MAX_NONCE_LENGTH) return { ok: false, reason: `X-Nonce longer than ${MAX_NONCE_LENGTH} characters` };
      const timestamp = checkTimestamp(headers.get('x-timestamp'), 'X-Timestamp', now);
      if (!timestamp.ok) return timestamp;

      const expected = activeSecrets(secrets, now).map((s) => signHmac(s, timestamp.seconds, nonce, rawBody));
      if (!matchesAny(signature, expected)) {
        return mismatch('X-Signature does not match', secrets, now, (s) => safeEqual(signature, signHmac(s, timestamp.seconds, nonce, rawBody)));
      }

      // Only a signed request is looked up, and its nonce is stored by ingest together with the
      // signal, never here: a forged request cannot burn a sender's nonce, and a request refused
      // after this (429, 503) can be sent again as it was. A concurrent twin is caught when the
      // store inserts the nonce.
      // It is kept until the moment its signed timestamp stops being accepted (timestamp +
      // tolerance), plus one second because the store treats `expiresAt <= now` as expired
      // while the tolerance check still accepts `age == tolerance`. Deriving it from the signed
      // timestamp, not from `now`, makes every instance compute the same expiry; keeping it any
      // longer buys nothing, as the request is refused as stale afterwards anyway.
      if (await nonces.seen(source, nonce, now)) return { ok: false, reason: NONCE_REPLAY };
      return { ok: true, nonce: { nonce, expires_at: new Date((timestamp.seconds + TIMESTAMP_TOLERANCE_SECONDS + 1) * 1000) } };
    },
  };
}
