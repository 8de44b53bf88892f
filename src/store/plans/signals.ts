/**
 * Recording a signal: the row a new signal is inserted as, and what a known key means for a
 * new delivery (duplicate, conflict, or a body-hash key past its window that is freed).
 */
import type { NewSignal } from '../contract/signals.js';

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
  };
}

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
  | { kind: 'rekey'; dedupe_key: string };

export function planRecordSignal(holder: KeyHolder | undefined, input: Pick<NewSignal, 'key_kind' | 'window_ms' | 'fingerprint' | 'received_at'>): RecordPlan {
  if (holder === undefined) return { kind: 'insert' };
  const expired = input.key_kind === 'body_hash' && holder.received_at <= input.received_at.getTime() - input.window_ms;
  // The old row keeps its history under an archived dedupe key, unique per row.
  if (expired) return { kind: 'rekey', dedupe_key: `${holder.dedupe_key}@${holder.id}` };
  return { kind: holder.fingerprint === input.fingerprint ? 'duplicate' : 'conflict' };
}

/** failed → accepted: decision, result and the order-rate mark cleared. */
export function retryValues(now: Date) {
  return { status: 'accepted' as const, decision: null, result: null, decided_at: null, order_side: null, updated_at: now.getTime() };
}

/** Statuses retention may delete. */
export const PRUNABLE = ['executed', 'rejected', 'failed'] as const;
