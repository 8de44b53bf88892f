/**
 * Signing primitives shared by whoever verifies a delivery (ingest) and whoever signs one (the
 * `http` connector, `sluice sign`): one HMAC, one constant-time comparison, one Standard Webhooks
 * signer, so a sender and a receiver can never disagree on the format.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 over the concatenation of `parts`; the body is hashed as raw bytes, never re-decoded. */
export function hmacSha256(key: string | Uint8Array, ...parts: (string | Uint8Array)[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/**
 * Constant-time equality of two strings. Both sides are hashed first so that the comparison
 * time depends on neither the length nor the content of the secret.
 */
export function safeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

const PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The HMAC key of a `whsec_<base64>` secret, or null when it is not one. Like the official
 * library, a secret without the prefix is read as base64 too.
 */
export function decodeStandardWebhooksSecret(secret: string): Buffer | null {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (!BASE64.test(encoded)) return null;
  const key = Buffer.from(encoded, 'base64');
  return key.length === 0 ? null : key;
}

/** The `v1,<base64>` signature of one message, as a sender computes it. */
export function signStandardWebhooks(key: Uint8Array, id: string, timestamp: number, body: Uint8Array): string {
  return `v1,${hmacSha256(key, `${id}.${timestamp}.`, body).toString('base64')}`;
}
