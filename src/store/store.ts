/**
 * The store contract: every durable fact of sluice goes through this interface, and each verb
 * is one atomic step (one transaction) including the event-log entries it implies. SQLite and
 * PostgreSQL implement it; one contract test suite runs against both (test/store/contract.ts).
 */
import type { Decision, Mode, Order, Position, Side, Signal, SignalStatus, ValidationIssue } from '../domain/types.js';
import type { BreakerState, BreakerStep } from '../domain/breaker.js';
import type { StoredGateState } from '../domain/gate-state.js';
import type { PositionDrift } from '../domain/ledger.js';

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

export interface Attempt {
  n: number;
  at: string;
  outcome: string;
  error: string | null;
}

export interface GateInput {
  signal_id: string;
  connector: string;
  instrument: string;
  now: Date;
  /** The executor instance taking the signal, and until when it holds it (renewed while it runs). */
  owner: string;
  lease_until: Date;
  /** Trading day (YYYY-MM-DD in `policy.trading_day_tz`) whose realized PnL the gate sees. */
  trading_day: string;
  /**
   * `policy.max_orders_per_minute`: orders of the last minute are counted up to one past it
   * (bounded work however busy the minute was); null: not counted (0).
   */
  order_rate_cap: number | null;
  /**
   * Pure: evaluated inside the transaction against the state it reads. A returned breaker step
   * (a claimed half-open probe) is stored in the same transaction.
   */
  decide: (state: StoredGateState, breaker: BreakerState) => { decision: Decision; breaker: BreakerStep | null };
}

export type GateOutcome =
  | { kind: 'executing'; record: SignalRecord; decision: Decision }
  | { kind: 'rejected'; record: SignalRecord; decision: Decision }
  /** The signal was not `accepted` any more (another worker took it). */
  | { kind: 'skipped' }
  /**
   * An older signal of the same (connector, instrument) is still `accepted` (held by another
   * instance, or orphaned): arrival order per lane comes first, so this one waits.
   */
  | { kind: 'blocked'; by: string };

export interface Fill {
  side: Side;
  quantity: number;
  price: number;
}

export interface FinishInput {
  signal_id: string;
  status: 'executed' | 'failed';
  result: ExecutionResult;
  /** The fill to book into the ledger, if the order filled (fully or partly). */
  fill: Fill | null;
  now: Date;
  trading_day: string;
  /**
   * `policy.max_daily_loss` (null: none). A fill that breaches it switches the mode to
   * `exit_only` (reason `daily_loss`) in the same transaction (guardrails/daily-loss.ts).
   */
  max_daily_loss: number | null;
  /** The attempt that settled the signal, recorded in the same step. */
  attempt?: Attempt;
}

export interface FinishOutcome {
  record: SignalRecord;
  realized_pnl_today: number;
  /** PnL this fill realized (0 without a fill, or when the signal was already final). */
  realized_pnl_fill: number;
  /** The mode this finish switched to (`exit_only`, `daily_loss`), or null when it did not. */
  mode_changed: ModeState | null;
}

export interface ModeState {
  mode: Mode;
  reason: string | null;
  changed_at: string;
}

export interface EventRecord {
  seq: number;
  at: string;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export interface NewEvent {
  type: string;
  signal_id?: string | null;
  data: Record<string, unknown>;
}

export interface QueueStats {
  accepted: number;
  executing: number;
  oldest_accepted_at: string | null;
}

export interface LedgerPosition extends Position {
  last_price: number | null;
}

export interface ConnectorLedger {
  positions: LedgerPosition[];
  gross_exposure: number;
  reserved_exposure: number;
  realized_pnl_today: number;
}


export interface RefusedDelivery {
  at: string;
  source: string;
  reason: string;
  issues: ValidationIssue[];
  request_id: string;
  body_excerpt: string;
}

export interface MockOrderRecord extends Order {
  created_at: string;
}

/** The mock broker's durable state: it behaves like a broker, so it keeps its own books. */
export interface MockBrokerStore {
  /** Places and fills in one step. A known client_order_id returns the existing order, `created: false`. */
  placeOrder(connector: string, order: Order, now: Date): Promise<{ created: boolean; order: Order }>;
  getOrder(connector: string, clientOrderId: string): Promise<Order | null>;
  /**
   * Newest first, `limit` per page; `cursor` is the `next_cursor` of the previous page (the
   * last order's creation time and id, so orders of the same millisecond are neither skipped
   * nor repeated).
   */
  listOrders(connector: string, limit: number, cursor?: string): Promise<Page<MockOrderRecord>>;
  cancelOpenOrders(connector: string, instrument: string): Promise<number>;
  getPositions(connector: string): Promise<Position[]>;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
  /** A round trip to the database; throws when it cannot answer. */
  ping(): Promise<void>;

  /** Inserts the signal unless its key is known; appends `signal.accepted` when inserted. */
  recordSignal(input: NewSignal): Promise<RecordOutcome>;
  getSignal(signalId: string): Promise<SignalRecord | null>;
  listSignals(query: SignalQuery): Promise<Page<SignalRecord>>;
  /** Oldest first: what the executor must resume or reconcile after a start. */
  listSignalsByStatus(status: 'accepted' | 'executing', limit: number): Promise<SignalRecord[]>;
  lastSignal(): Promise<SignalRecord | null>;
  queueStats(): Promise<QueueStats>;

  /**
   * accepted → executing | rejected, atomically with the decision, its exposure reservation and
   * its events. The gate state is read inside the same transaction, so two concurrent gates
   * cannot both pass a limit that only one fits under.
   */
  gateSignal(input: GateInput): Promise<GateOutcome>;
  /** Extends the lease of the owner's executing signals; returns how many it still holds. */
  renewLeases(owner: string, signalIds: string[], until: Date): Promise<number>;
  /**
   * Takes over `executing` signals whose lease expired (their instance died): they become the
   * caller's, to be reconciled by client_order_id before anything is placed again.
   */
  claimExpired(owner: string, now: Date, leaseUntil: Date, limit: number): Promise<SignalRecord[]>;
  /** `accepted` signals received before `before`, oldest first (orphans of a dead instance). */
  listStaleAccepted(before: Date, limit: number): Promise<SignalRecord[]>;
  recordAttempt(signalId: string, attempt: Attempt): Promise<void>;
  listAttempts(signalId: string): Promise<Attempt[]>;
  /** executing → executed | failed, booking the fill, releasing the reservation, appending events. */
  finishSignal(input: FinishInput): Promise<FinishOutcome>;

  /**
   * failed → accepted for an operator's retry (decision and result cleared; attempts and events
   * kept). Returns null when the signal is not `failed` (conditional update: one retry wins).
   */
  retrySignal(signalId: string, actor: string, now: Date): Promise<SignalRecord | null>;

  getMode(): Promise<ModeState>;
  /** Stores the mode unless it is already set; `initial` only writes when no mode is stored yet. */
  setMode(mode: Mode, reason: string | null, actor: string, now: Date): Promise<ModeState>;
  initMode(mode: Mode, now: Date): Promise<ModeState>;

  appendEvent(event: NewEvent): Promise<EventRecord>;
  listEvents(after: number, limit: number): Promise<EventRecord[]>;
  listSignalEvents(signalId: string): Promise<EventRecord[]>;

  /** Called with every event after its transaction committed (feeds the live stream). */
  subscribe(listener: (event: EventRecord) => void): () => void;

  getLedger(connector: string, tradingDay: string): Promise<ConnectorLedger>;
  /** Every instrument the connector has traded or has in flight (for cancelling open orders). */
  listInstruments(connector: string): Promise<string[]>;
  /** Signals of the connector in `executing` (orders in flight, which make positions move). */
  countExecuting(connector: string): Promise<number>;
  /**
   * Adopts the connector's positions into the ledger (the connector is the source of truth) and
   * returns what differed; appends `positions.drift` when anything did.
   */
  reconcilePositions(connector: string, positions: Position[], now: Date): Promise<PositionDrift[]>;

  /**
   * Retention: deletes up to `limit` final signals received before `before`, with their
   * attempts; their idempotency keys go with them. The event log is kept. Returns how many.
   */
  pruneSignals(before: Date, limit: number): Promise<number>;

  /** A named consumer offset into the event log (null when none is stored yet). */
  getCursor(name: string): Promise<number | null>;
  /** The newest event's seq (0 for an empty log). */
  lastEventSeq(): Promise<number>;
  setCursor(name: string, seq: number): Promise<void>;

  /** Every stored breaker (a connector with none stored is closed). */
  getBreakers(): Promise<Record<string, BreakerState>>;
  /**
   * Read-modify-write of one connector's breaker in one transaction; appends
   * `breaker.<transition>` when the step made one. Returns the stored state.
   */
  updateBreaker(connector: string, step: (current: BreakerState) => BreakerStep, now: Date, reason: string): Promise<BreakerState>;

  /** HMAC nonces: true when first seen; false for a replay within its lifetime. */
  rememberNonce(source: string, nonce: string, expiresAt: Date, now: Date): Promise<boolean>;
  /** Keeps a refused delivery for operators; only the newest `keep` are retained. */
  recordRefusedDelivery(delivery: RefusedDelivery, keep: number): Promise<void>;
  listRefusedDeliveries(limit: number, cursor?: string): Promise<Page<RefusedDelivery>>;

  mock: MockBrokerStore;
}
