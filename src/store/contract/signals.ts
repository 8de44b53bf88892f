/**
 * Signals: recording a delivery once per key, reading signals back, an operator's retry, and
 * retention. Every verb is one atomic step including the events it implies.
 */
import type { Decision, Signal, SignalStatus } from '../../domain/types.js';

export interface ExecutionResult {
  connector: string;
  client_order_id: string;
  order_id: string | null;
  status: string;
  filled_quantity: number;
  fill_price: number | null;
  error?: string;
}

export interface SignalRecord {
  signal_id: string;
  source: string;
  idempotency_key: string;
  fingerprint: string;
  status: SignalStatus;
  connector: string;
  instrument: string;
  client_order_id: string;
  request_id: string | null;
  received_at: string;
  updated_at: string;
  signal: Signal;
  decision: Decision | null;
  result: ExecutionResult | null;
}

export interface NewSignal {
  signal_id: string;
  source: string;
  idempotency_key: string;
  /** `body_hash` keys deduplicate only within `window_ms` of the first delivery. */
  key_kind: 'explicit' | 'body_hash';
  window_ms: number;
  fingerprint: string;
  connector: string;
  instrument: string;
  client_order_id: string;
  signal: Signal;
  request_id: string;
  received_at: Date;
}

export type RecordOutcome =
  | { kind: 'inserted'; record: SignalRecord }
  | { kind: 'duplicate'; record: SignalRecord }
  | { kind: 'conflict'; record: SignalRecord };

export interface SignalQuery {
  status?: SignalStatus;
  source?: string;
  instrument?: string;
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface QueueStats {
  accepted: number;
  executing: number;
  oldest_accepted_at: string | null;
}

export interface SignalStore {
  /** Inserts the signal unless its key is known; appends `signal.accepted` when inserted. */
  recordSignal(input: NewSignal): Promise<RecordOutcome>;
  getSignal(signalId: string): Promise<SignalRecord | null>;
  listSignals(query: SignalQuery): Promise<Page<SignalRecord>>;
  lastSignal(): Promise<SignalRecord | null>;
  queueStats(): Promise<QueueStats>;
  /** `accepted` signals received before `before`, oldest first (orphans of a dead instance). */
  listStaleAccepted(before: Date, limit: number): Promise<SignalRecord[]>;
  /**
   * failed → accepted for an operator's retry (decision and result cleared; attempts and events
   * kept). Returns null when the signal is not `failed` (conditional update: one retry wins).
   */
  retrySignal(signalId: string, actor: string, now: Date): Promise<SignalRecord | null>;
  /**
   * Retention: deletes up to `limit` final signals received before `before`, with their
   * attempts; their idempotency keys go with them. The event log is kept. Returns how many.
   */
  pruneSignals(before: Date, limit: number): Promise<number>;
}
