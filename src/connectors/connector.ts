/**
 * The connector contract (docs/execution.md#connectors). A connector is the edge to a broker or downstream
 * system. Expected failures are values, never throws: the retry loop and the breaker read
 * `retryable` and `ambiguous` and nothing else. A throw from a connector is a bug and is
 * treated as an ambiguous, retryable failure by the executor so that it cannot lose an order.
 */
import type { ConnectorCapabilities, Order, OrderType, Position, Side, Signal, TimeInForce } from '../domain/types.js';

/** What every request to `place` carries, whatever its kind. */
interface RequestBase {
  /** Deterministic, ≤ 48 chars, stable across retries and restarts. */
  client_order_id: string;
  signal_id: string;
  instrument: string;
  order_type: OrderType;
  limit_price?: number;
  stop_price?: number;
  time_in_force: TimeInForce;
  take_profit?: { limit_price: number };
  stop_loss?: { stop_price: number; limit_price?: number };
  /** Reference price at signal time (the mock fills market orders here). */
  reference_price?: number;
  /** The signal as received, for connectors that forward it (http, module). */
  signal: Signal;
}

/**
 * An order sluice resolved: `side` × `quantity`. `action` is the signal's: a `buy` or `sell`, or
 * a `close` or `target` that sluice resolved against its ledger (a connector that reports fills).
 */
export interface PlacedOrderRequest extends RequestBase {
  action: 'buy' | 'sell' | 'close' | 'target';
  forwarded?: false;
  side: Side;
  quantity: number;
}

/**
 * A `close` or `target` forwarded as the action itself to a fire-and-forget connector
 * (`order_updates: 'none'`, see `forwardsAction`): sluice knows no position there, so there is no
 * side, and no quantity but a partial close's; the receiver resolves it.
 */
export type ForwardedRequest = RequestBase &
  ({ action: 'close'; forwarded: true; /** A partial close; absent: the whole position. */ quantity?: number } | { action: 'target'; forwarded: true; target_position: number });

/** What `Connector.place` gets: an order, or (only at `order_updates: 'none'`) a forwarded action. */
export type OrderRequest = PlacedOrderRequest | ForwardedRequest;

/**
 * The answer of a connector that places orders (`order_updates` stream or poll) to a forwarded
 * action, which the gate never sends it: refused, nothing placed.
 */
export function notForwardable(connectorName: string, request: ForwardedRequest): ConnectorFailure {
  return failure(`connector "${connectorName}" places orders; a ${request.action} is forwarded only to a connector with order_updates "none"`, {
    retryable: false,
    ambiguous: false,
  });
}

export interface ConnectorFailure {
  ok: false;
  /** Worth trying again (timeout, connection error, 429, 5xx). */
  retryable: boolean;
  /** The request may have taken effect (timeout after sending, 5xx, reset after sending). */
  ambiguous: boolean;
  reason: string;
  /** Server-requested wait before the next attempt (Retry-After, X-RateLimit-Reset). */
  retry_after_ms?: number;
  http_status?: number;
}

export type CallResult<T> = { ok: true; value: T } | ConnectorFailure;

/**
 * What a connector with `order_updates: 'stream'` pushes (docs/execution.md#orders). `onUpdate`
 * gets an order as the broker now reports it (cumulative fills); `onState` tells whether the
 * stream is up: while it is down sluice polls every open order, and it polls once more after
 * every reconnect (updates sent while it was down are lost).
 */
export interface OrderStreamListener {
  onUpdate(order: Order): void;
  onState(state: StreamState): void;
}

export interface StreamState {
  connected: boolean;
  /** Why it is down (the last error), for status and logs; never a secret. */
  reason?: string;
}

export interface Connector {
  readonly name: string;
  readonly type: string;
  readonly capabilities: ConnectorCapabilities;
  place(order: OrderRequest): Promise<CallResult<Order>>;
  /** Cancel every open order of the instrument; returns how many were cancelled. */
  cancel(instrument: string): Promise<CallResult<{ cancelled: number }>>;
  /** The order placed under this client_order_id, or null when the connector has none. */
  getOrder(clientOrderId: string): Promise<CallResult<Order | null>>;
  getPositions(): Promise<CallResult<Position[]>>;
  /**
   * `order_updates: 'stream'` only: starts the stream (connect, authenticate, reconnect with
   * backoff until `close`) and reports to the listener; returns a function that stops it.
   */
  subscribe?(listener: OrderStreamListener): () => void;
  /** Optional: why the account cannot trade now (the breaker opens), or null when it can. */
  tradingBlocked?(): Promise<CallResult<string | null>>;
  close?(): Promise<void>;
}

export function failure(
  reason: string,
  opts: { retryable: boolean; ambiguous: boolean; retry_after_ms?: number; http_status?: number },
): ConnectorFailure {
  return { ok: false, reason, ...opts };
}

export function success<T>(value: T): CallResult<T> {
  return { ok: true, value };
}
