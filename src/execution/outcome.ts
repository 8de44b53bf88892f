/**
 * Outcome policy, pure: what a signal's end looks like in the store. The order a decision
 * places; the settlement (status, result, fill, settling attempt) of a placement, a cancel, a
 * no-op or an error; the sane-fill rule (only usable numbers are booked); which order statuses
 * fail a signal; how long a signal whose store call failed waits before it is tried again, and
 * how long a lane blocked by an older signal executing elsewhere pauses; and which signals wait
 * for their lane's open orders to settle before they are decided.
 */
import type { Connector, OrderRequest } from '../connectors/connector.js';
import type { Decision, Order, OrderStatus } from '../domain/types.js';
import type { Attempt, ExecutionResult, Fill, SignalRecord } from '../store/store.js';
import type { CancelOutcome, PlaceOutcome } from './place.js';

/** What `store.finishSignal` records for one signal. */
export interface Settlement {
  status: 'executed' | 'failed';
  result: ExecutionResult;
  /** The order as the connector answered (its fills so far are booked from it), or null when none was placed. */
  order: Order | null;
  /** The attempt that settled it: a success (failed attempts are recorded as they happen). */
  attempt?: Attempt;
}

/** Whom a result names: the connector that was asked and the signal's client_order_id. */
export interface SettlementTarget {
  connector: string;
  client_order_id: string;
}

/**
 * What a decision sends to `Connector.place`, or null when it sends nothing (cancel, no-op): the
 * resolved order (side × quantity), or, for a forwarded close or target, the action itself with a
 * partial close's quantity or the target position.
 */
export function orderRequest(record: SignalRecord, decision: Decision): OrderRequest | null {
  const { signal } = record;
  if (signal.action === 'cancel') return null;
  const reference = decision.reference_price ?? signal.price;
  const base = {
    client_order_id: record.client_order_id,
    signal_id: record.signal_id,
    instrument: record.instrument,
    order_type: signal.order_type,
    time_in_force: signal.time_in_force,
    signal,
    ...(signal.limit_price !== undefined ? { limit_price: signal.limit_price } : {}),
    ...(signal.stop_price !== undefined ? { stop_price: signal.stop_price } : {}),
    ...(signal.take_profit !== undefined ? { take_profit: signal.take_profit } : {}),
    ...(signal.stop_loss !== undefined ? { stop_loss: signal.stop_loss } : {}),
    ...(reference !== undefined && reference !== null ? { reference_price: reference } : {}),
  };
  if (decision.forwarded === true) {
    if (signal.action === 'close') return { ...base, action: 'close', forwarded: true, ...(signal.quantity !== undefined ? { quantity: signal.quantity } : {}) };
    // Validation requires target_position; 0 (flatten) is the reading the gate judged without one.
    if (signal.action === 'target') return { ...base, action: 'target', forwarded: true, target_position: signal.target_position ?? 0 };
  }
  if (decision.side === null || decision.quantity === null) return null;
  return { ...base, action: signal.action, side: decision.side, quantity: decision.quantity };
}

/** The decision for a signal whose connector is not configured (the config changed since). */
export function unknownConnectorDecision(name: string): Decision {
  return {
    allowed: false,
    failures: [{ rule: 'connector_capability', code: 'connector_unknown', limit: 'a configured connector', actual: name, message: `connector "${name}" is not configured` }],
    quantity: null,
    side: null,
    exit: false,
    trimmed: false,
    reserved_notional: 0,
    reference_price: null,
  };
}

/**
 * The fill to book, or null. A connector's numbers are an edge like any other: only a finite,
 * positive quantity at a finite, positive price is booked into the ledger.
 */
export function saneFill(order: Order): Fill | null {
  const { filled_quantity: quantity, fill_price: price } = order;
  if (!Number.isFinite(quantity) || quantity <= 0 || price === null || !Number.isFinite(price) || price <= 0) return null;
  return { side: order.side, quantity, price };
}

/** The connector reported a fill it cannot have made (worth an error log: it is not booked). */
export function isUnusableFill(order: Order): boolean {
  return saneFill(order) === null && order.filled_quantity !== 0;
}

const ENDED_UNFILLED: ReadonlySet<OrderStatus> = new Set<OrderStatus>(['rejected', 'canceled', 'expired']);

/**
 * An order the broker ended (rejected, canceled, expired) fails its signal unless something of
 * it filled: a partial fill moved the position, so the signal executed.
 */
export function failsSignal(order: Order): boolean {
  return ENDED_UNFILLED.has(order.status) && saneFill(order) === null;
}

/** What a placement through the retry loop ends as; `at` stamps the settling attempt. */
export function settlePlacement(target: SettlementTarget, outcome: PlaceOutcome, at: Date): Settlement {
  if (!outcome.ok) return errorSettlement(target, outcome.reason);
  const { order } = outcome;
  const result: ExecutionResult = {
    connector: target.connector,
    client_order_id: target.client_order_id,
    order_id: order.order_id,
    status: order.status,
    filled_quantity: order.filled_quantity,
    fill_price: order.fill_price,
  };
  const attempt: Attempt = { n: outcome.attempt.n, at: at.toISOString(), outcome: outcome.attempt.outcome, error: null };
  return { status: failsSignal(order) ? 'failed' : 'executed', result, order, attempt };
}

/** What a cancel of the instrument's open orders ends as. */
export function settleCancel(target: SettlementTarget, outcome: CancelOutcome): Settlement {
  if (!outcome.ok) return errorSettlement(target, outcome.reason);
  return { status: 'executed', result: emptyResult(target, 'canceled'), order: null };
}

/** Nothing was to be ordered (close when flat, target already reached): that is the outcome. */
export function noOrderSettlement(target: SettlementTarget): Settlement {
  return { status: 'executed', result: emptyResult(target, 'no_op'), order: null };
}

/** Failed with the reason the connector (or the executor) gave. */
export function errorSettlement(target: SettlementTarget, error: string): Settlement {
  return { status: 'failed', result: { ...emptyResult(target, 'error'), error }, order: null };
}

function emptyResult(target: SettlementTarget, status: string): ExecutionResult {
  return { connector: target.connector, client_order_id: target.client_order_id, order_id: null, status, filled_quantity: 0, fill_price: null };
}

/**
 * The wait before the n-th consecutive retry of a signal whose store call failed (the database
 * may be down): doubling from 500 ms, at most 30 s.
 */
export function storeRetryDelay(failures: number): number {
  return Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
}

/**
 * The pause of a lane whose head waits for an older signal executing at another instance (or at
 * a dead one, until its lease is taken over): doubling from 50 ms, at most 1 s, so a waiting lane
 * costs at most one gate a second however long the older order takes.
 */
export function laneBlockedDelay(blocks: number): number {
  return Math.min(1_000, 50 * 2 ** Math.min(Math.max(blocks, 1) - 1, 5));
}

/** Where a signal's settlement goes: its connector, its client_order_id. */
export function target(record: SignalRecord, connector: Connector): SettlementTarget {
  return { connector: connector.name, client_order_id: record.client_order_id };
}

/** `close` and `target` at a connector whose orders are followed are decided only with no open order in their lane. */
export function settlesOpenOrders(record: SignalRecord, connector: Connector): boolean {
  const { action } = record.signal;
  return (action === 'close' || action === 'target') && connector.capabilities.order_updates !== 'none';
}
