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
  /** The delivery's span context (W3C traceparent) when tracing was on, else null (docs/configuration.md#tracing). */
  trace_parent: string | null;
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
  /**
   * For a scheme that signs neither a delivery id nor a time (github): a signal of the source
   * with the same fingerprint received within this many ms makes this delivery its duplicate,
   * whatever the key.
   */
  replay_window_ms?: number;
  /** The delivery span's W3C traceparent, kept with the signal so that execution continues its trace. */
  trace_parent?: string | null;
}

export type RecordOutcome =
  | { kind: 'inserted'; record: SignalRecord }
  | { kind: 'duplicate'; record: SignalRecord }
  | { kind: 'conflict'; record: SignalRecord };

/** An HMAC nonce, kept until `expires_at`. */
export interface SignalNonce {
  nonce: string;
  expires_at: Date;
}

export interface SignalQuery {
  status?: SignalStatus;
  source?: string;
  instrument?: string;
  limit: number;
  cursor?: string;
}

/** A window of signals by `received_at` (`from` inclusive, `to` exclusive), for replay. */
export interface SignalWindowQuery {
  from: Date;
  to: Date;
  source?: string;
  /** A previous page's `next_cursor` (opaque: it also carries the window's last seq). */
  cursor?: string;
  limit: number;
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
  /**
   * Inserts the signal unless its key is known (or its body, within `replay_window_ms`); appends
   * `signal.accepted` when inserted.
   */
  recordSignal(input: NewSignal): Promise<RecordOutcome>;
  /**
   * recordSignal with the delivery's HMAC nonce, stored in the same transaction and only when the
   * signal is inserted: a delivery refused later (429, 503) can be sent again as it was. A nonce
   * of the source already stored and live at `received_at` is a `replay`, and nothing is written.
   */
  recordSignalWithNonce(input: NewSignal, nonce: SignalNonce): Promise<RecordOutcome | { kind: 'replay' }>;
  getSignal(signalId: string): Promise<SignalRecord | null>;
  listSignals(query: SignalQuery): Promise<Page<SignalRecord>>;
  /**
   * The signals received in the window (of one source when given), in arrival order (ascending
   * seq), a page at a time: a month of signals is read without holding it. Read-only.
   */
  listSignalWindow(query: SignalWindowQuery): Promise<Page<SignalRecord>>;
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
