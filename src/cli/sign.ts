/**
 * `sluice sign` (docs/configuration.md#commands): the headers a sender must send for a body, so that a sender can
 * be tested against sluice. It signs with the very functions the verifiers check with.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { signHmac } from '../ingest/auth/hmac.js';
import { decodeStandardWebhooksSecret, signStandardWebhooks } from '../lib/signing.js';


export type SignScheme = 'standard-webhooks' | 'hmac';

/**
 * Headers for one delivery of `body` at `now`. `id` is the standard-webhooks message id (a
 * random `msg_…` when omitted; ignored for hmac); the hmac nonce is always random. Throws when
 * a standard-webhooks secret is not `whsec_<base64>`, since nothing could verify the result.
 */
export function signHeaders(scheme: SignScheme, secret: string, body: Uint8Array, now: Date, id?: string): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  switch (scheme) {
    case 'standard-webhooks': {
      const key = decodeStandardWebhooksSecret(secret);
      if (key === null) throw new Error('the secret is not a standard-webhooks secret "whsec_<base64 key>"');
      const msgId = id ?? `msg_${randomUUID().replaceAll('-', '')}`;
      return {
        'webhook-id': msgId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signStandardWebhooks(key, msgId, timestamp, body),
      };
    }
    case 'hmac': {
      const nonce = randomBytes(16).toString('hex');
      return {
        'X-Timestamp': String(timestamp),
        'X-Nonce': nonce,
        'X-Signature': signHmac(secret, timestamp, nonce, body),
      };
    }
    default: {
      // The CLI passes a user-typed string: refuse anything else loudly rather than print nothing.
      const unknown: never = scheme;
      throw new Error(`unknown scheme ${String(unknown)}: expected standard-webhooks or hmac`);
    }
  }
}
