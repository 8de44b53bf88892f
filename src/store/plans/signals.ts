/**
 * Recording a signal: the row a new signal is inserted as, and what a known key means for a
 * new delivery (duplicate, conflict, or a body-hash key past its window that is freed).
 */
import type { NewSignal, RecordOutcome, SignalNonce } from '../contract/signals.js';

/** The columns of a new `signals` row (both dialects). */
export function newSignalRow(input: NewSignal) {
  const at = input.received_at.getTime();
  return {
    id: input.signal_id,
    source: input.source,
    idempotency_key: input.idempotency_key,
    dedupe_key: input.idempotency_key,
    key_kind: input.key_kind,
    fingerprint: input.fingerprint,
    status: 'accepted' as const,
    connector: input.connector,
    instrument: input.instrument,
    client_order_id: input.client_order_id,
    signal: JSON.stringify(input.signal),
    request_id: input.request_id,
    received_at: at,
    updated_at: at,
    trace_parent: input.trace_parent ?? null,
  };
}

/** The columns of a new signal's row bound by name (its status is always \`accepted\`), in both dialects. */
export const SIGNAL_COLUMNS = [
  'id', 'source', 'idempotency_key', 'dedupe_key', 'key_kind', 'fingerprint', 'connector', 'instrument', 'client_order_id', 'signal', 'request_id', 'received_at', 'updated_at', 'trace_parent',
] as const satisfies readonly (keyof ReturnType<typeof newSignalRow>)[];

/** The row that holds the delivery's key, as far as the decision needs it. */
export interface KeyHolder {
  id: string;
  fingerprint: string;
  received_at: number;
  dedupe_key: string;
}

export type RecordPlan =
  | { kind: 'insert' }
  | { kind: 'duplicate' }
  | { kind: 'conflict' }
  /** The holder's body-hash key expired: archive it under `dedupe_key`, then insert. */
  | { kind: 'rekey'; dedupe_key: string }
  /** The nonce is taken: nothing is written. */
  | { kind: 'replay' }
  /** The same body was recorded within `replay_window_ms` under another key: a duplicate of that one. */
  | { kind: 'duplicate_body' };

/** What else the store found for the delivery: its nonce taken, the newest signal with its fingerprint. */
export interface RecordFindings {
  nonce_taken?: boolean;
  twin?: KeyHolder | undefined;
}

export function planRecordSignal(
  holder: KeyHolder | undefined,
  input: Pick<NewSignal, 'key_kind' | 'window_ms' | 'fingerprint' | 'received_at' | 'replay_window_ms'>,
  found: RecordFindings = {},
): RecordPlan {
  if (found.nonce_taken === true) return { kind: 'replay' };
  const at = input.received_at.getTime();
  if (holder !== undefined) {
    const expired = input.key_kind === 'body_hash' && holder.received_at <= at - input.window_ms;
    // The old row keeps its history under an archived dedupe key, unique per row.
    if (!expired) return { kind: holder.fingerprint === input.fingerprint ? 'duplicate' : 'conflict' };
  }
  const { twin } = found;
  if (input.replay_window_ms !== undefined && twin !== undefined && twin.fingerprint === input.fingerprint && twin.received_at > at - input.replay_window_ms) {
    return { kind: 'duplicate_body' };
  }
  return holder === undefined ? { kind: 'insert' } : { kind: 'rekey', dedupe_key: `${holder.dedupe_key}@${holder.id}` };
}

/** The `nonces` row stored with a new signal (both dialects), or null without a nonce. */
export function nonceRow(source: string, nonce: SignalNonce | undefined) {
  return nonce === undefined ? null : { source, nonce: nonce.nonce, expires_at: nonce.expires_at.getTime() };
}

/** recordSignal's answer: without a nonce there is no replay, so one here is a bug. */
export function withoutReplay(outcome: RecordOutcome | { kind: 'replay' }): RecordOutcome {
  if (outcome.kind === 'replay') throw new Error('recordSignal: a replay without a nonce');
  return outcome;
}

/** A nonce counts until its expiry: stored rows with `expires_at <= now` are gone (and deleted). */
export function nonceLive(expiresAt: number, now: Date): boolean {
  return expiresAt > now.getTime();
}

/** failed → accepted: decision, result and the order-rate mark cleared. */
export function retryValues(now: Date) {
  return { status: 'accepted' as const, decision: null, result: null, decided_at: null, order_side: null, updated_at: now.getTime() };
}

/** Statuses retention may delete. */
export const PRUNABLE = ['executed', 'rejected', 'failed'] as const;
