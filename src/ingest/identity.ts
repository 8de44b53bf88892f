/**
 * The identities ingest gives a delivery: its idempotency key, its signal id and the order id
 * derived from it.
 */
import { createHash, randomBytes } from 'node:crypto';

/**
 * The idempotency key (docs/http-api.md#idempotency-keys), the first present of: a delivery id
 * the signature covers (webhook-id), the body's `id` (signed with the body by every scheme
 * that signs it; the formats map their id fields onto it), and only then a header outside any
 * signature: `Idempotency-Key`, the scheme's own (X-GitHub-Delivery), or a `webhook-id` /
 * `svix-id` of a source that does not verify it. Signed ids come first so that a captured
 * delivery resent with a fresh header is still the same delivery.
 */
export function idempotencyKey(auth: { idempotency_key?: string; unsigned_key?: string }, bodyId: string | undefined, headers: Headers): string | null {
  return (
    auth.idempotency_key ??
    bodyId ??
    headers.get('idempotency-key') ??
    auth.unsigned_key ??
    headers.get('webhook-id') ??
    headers.get('svix-id') ??
    null
  );
}

/**
 * The order id of one signal, ≤ 48 chars: derived from the signal, not from its key, so every
 * retry, restart, spool replay and instance handling that signal uses the same id, while a key
 * reused after its signal was pruned is a new signal and so a new order (docs/execution.md#client-order-ids).
 */
export function clientOrderId(signalId: string): string {
  return `sl-${createHash('sha256').update(signalId).digest('base64url').slice(0, 40)}`;
}

/** Random per process: with the counter it keeps ids of instances apart without a syscall per id. */
const PROCESS_TAG = randomBytes(4).toString('hex');
let idCounter = 0;

/** Time-ordered, unique: `sig_` + 12 hex of ms time + 8 hex process tag + 8 hex counter. */
export function newSignalId(now: Date): string {
  idCounter = (idCounter + 1) % 0x1_0000_0000;
  return `sig_${now.getTime().toString(16).padStart(12, '0')}${PROCESS_TAG}${idCounter.toString(16).padStart(8, '0')}`;
}
