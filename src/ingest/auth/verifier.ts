/**
 * The verifier contract: one per authentication scheme (docs/http-api.md#sender-authentication). A verifier sees the
 * raw bytes exactly as received and answers with a value; it never throws for bad input. The
 * `reason` is for the log only: the client always gets the same `401 unauthorized`.
 */
import type { SecretConfig } from '../../config/schema.js';
import { safeEqual } from '../../lib/signing.js';

export interface AuthInput {
  source: string;
  /** Lower-cased header names. */
  headers: Headers;
  rawBody: Uint8Array;
  /** The body parsed as JSON, or undefined when it is not JSON (passphrase needs it). */
  body: unknown;
  now: Date;
}

export type AuthOutcome =
  | {
      ok: true;
      /** A body field that must be removed before the body is stored, hashed, logged or passed on. */
      strip_field?: string;
      /** A delivery id the signature covers (standard-webhooks' webhook-id): the idempotency key. */
      idempotency_key?: string;
      /**
       * A delivery id outside the signature (github's X-GitHub-Delivery): a key only when the body
       * carries none, since anyone who captured the request can change it.
       */
      unsigned_key?: string;
      /**
       * The signature covers neither a delivery id nor a time (github): a resent body is a replay
       * within `body_hash_window_seconds`, whatever its delivery id.
       */
      replayable_body?: true;
      /**
       * The HMAC nonce: stored with the signal, never before, so a delivery refused after
       * verification (429, 503) can be sent again as it was.
       */
      nonce?: { nonce: string; expires_at: Date };
    }
  | { ok: false; reason: string };

export interface Verifier {
  readonly scheme: string;
  verify(input: AuthInput): AuthOutcome | Promise<AuthOutcome>;
}

/** The stored HMAC nonces: `seen` is true for a nonce stored with a signal and not expired at `now`. */
export interface NonceStore {
  seen(source: string, nonce: string, now: Date): Promise<boolean>;
}

/** The secret values that still verify at `now` (expired rotation secrets drop out). */
export function activeSecrets(secrets: readonly SecretConfig[], now: Date): string[] {
  const out: string[] = [];
  for (const s of secrets) {
    if (typeof s === 'string') out.push(s);
    else if (s.expires_at === null || Date.parse(s.expires_at) > now.getTime()) out.push(s.value);
  }
  return out;
}

/**
 * The refusal for a credential that matched no active secret. During a rotation an operator
 * needs to tell "still signing with the retired secret" from "wrong secret": if an expired
 * secret matches, the log reason says so (the client's 401 is the same either way).
 */
export function mismatch(reason: string, secrets: readonly SecretConfig[], now: Date, matches: (secret: string) => boolean): AuthOutcome {
  for (const s of secrets) {
    if (typeof s === 'string' || s.expires_at === null || Date.parse(s.expires_at) > now.getTime()) continue;
    if (matches(s.value)) return { ok: false, reason: `${reason}: signed with a secret that expired at ${s.expires_at}` };
  }
  return { ok: false, reason };
}

/** True when `candidate` equals any secret; every secret is compared, whatever matches first. */
export function matchesAny(candidate: string, secrets: readonly string[]): boolean {
  let found = false;
  for (const s of secrets) found = safeEqual(candidate, s) || found;
  return found;
}
