/**
 * The domain vocabulary of sluice, defined once. Everything that crosses a module boundary
 * (ingest → store → guardrails → executor → connector) is one of these types. Wire fields are
 * snake_case, so the types are too: what is stored and served is what is declared here.
 */

export type Action = 'buy' | 'sell' | 'close' | 'cancel' | 'target';
export type OrderType = 'market' | 'limit' | 'stop' | 'stop_limit';
export type TimeInForce = 'day' | 'gtc' | 'ioc' | 'fok';
export type Side = 'buy' | 'sell';

export const ACTIONS: readonly Action[] = ['buy', 'sell', 'close', 'cancel', 'target'];
export const ORDER_TYPES: readonly OrderType[] = ['market', 'limit', 'stop', 'stop_limit'];
export const TIME_IN_FORCES: readonly TimeInForce[] = ['day', 'gtc', 'ioc', 'fok'];

/**
 * An instrument as sent (docs/http-api.md#signal-body): after trimming, 1-32 characters of
 * A-Z a-z 0-9 . / : - _ ! and space (TradingView's continuous futures are `ES1!`); stored upper-cased.
 */
export const INSTRUMENT_PATTERN = /^[A-Za-z0-9./:\-_! ]{1,32}$/;

/**
 * Bounds no broker goes past, refused at validation (docs/http-api.md#signal-body): a sender's
 * 1e300 must not reach the gate, whose notional limits would trust a 1e-300 price beside it.
 */
export const SIGNAL_BOUNDS = { max_quantity: 1e9, min_price: 1e-6, max_price: 1e9, max_notional: 1e12 } as const;

/** A validated, normalized native signal (docs/http-api.md#signal-body). Numbers are finite; instrument is upper-cased. */
export interface Signal {
  id?: string;
  action: Action;
  instrument: string;
  /** buy/sell: exactly one of quantity or notional; close: optional partial quantity. */
  quantity?: number;
  notional?: number;
  /** target: the signed position to reach. */
  target_position?: number;
  order_type: OrderType;
  limit_price?: number;
  stop_price?: number;
  /** Reference price at signal time. */
  price?: number;
  time_in_force: TimeInForce;
  take_profit?: { limit_price: number };
  stop_loss?: { stop_price: number; limit_price?: number };
  /** ISO-8601 with offset, as sent. */
  timestamp?: string;
  strategy?: string;
  meta: Record<string, unknown>;
}

export type Mode = 'enabled' | 'exit_only' | 'paused';
export const MODES: readonly Mode[] = ['enabled', 'exit_only', 'paused'];

export type SignalStatus = 'accepted' | 'executing' | 'executed' | 'rejected' | 'failed';
export const FINAL_STATUSES: readonly SignalStatus[] = ['executed', 'rejected', 'failed'];
export function isFinalStatus(status: SignalStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

export type Rule =
  | 'mode'
  | 'instrument_allowed'
  | 'stale_signal'
  | 'trading_window'
  | 'order_rate'
  | 'max_order_quantity'
  | 'max_order_notional'
  | 'max_position_notional'
  | 'max_gross_exposure'
  | 'daily_loss'
  | 'breaker_open'
  | 'connector_capability';

/** One failed guardrail rule, as reported in a decision (docs/execution.md#guardrails). */
export interface RuleFailure {
  rule: Rule;
  /** Refines the rule, e.g. rule `mode` with code `paused`. */
  code?: string;
  limit: unknown;
  actual: unknown;
  message: string;
}

/**
 * What the gate concluded for one signal. When allowed, `order` is what goes to the connector
 * (side and quantity already resolved from close/target/notional and exit_only trimming), or
 * null for a cancel or a no-op (close when flat, target already reached).
 */
export interface Decision {
  allowed: boolean;
  failures: RuleFailure[];
  /** Quantity that will be ordered (unsigned), null when nothing is ordered. */
  quantity: number | null;
  side: Side | null;
  /** True when the order only reduces |position| without flipping it, or is a cancel. */
  exit: boolean;
  /** True when exit_only trimmed a flip down to a pure exit. */
  trimmed: boolean;
  /** Notional reserved against exposure limits until the order settles (0 for exits). */
  reserved_notional: number;
  /** Price used for notional checks, when one was known. */
  reference_price: number | null;
  /**
   * True when the signal is a `close` or `target` judged as an action forwarded to a
   * fire-and-forget connector (`forwardsAction`): `side` and `quantity` stay null, the connector
   * gets the action itself. Absent on decisions of every other kind (and on those stored before).
   */
  forwarded?: boolean;
}

/**
 * An order's status (docs/execution.md#orders): `new` (taken, nothing filled; a broker's
 * `accepted`, `pending_new` and the like map to it) → `partially_filled` → one of the terminal
 * statuses. Connectors map their broker's words onto these.
 */
export type OrderStatus = 'new' | 'partially_filled' | 'filled' | 'canceled' | 'expired' | 'rejected';
export const ORDER_STATUSES: readonly OrderStatus[] = ['new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected'];
export const TERMINAL_ORDER_STATUSES: readonly OrderStatus[] = ['filled', 'canceled', 'expired', 'rejected'];
export const OPEN_ORDER_STATUSES: readonly OrderStatus[] = ['new', 'partially_filled'];
export function isTerminalOrderStatus(status: OrderStatus): boolean {
  return TERMINAL_ORDER_STATUSES.includes(status);
}

/**
 * An order as a connector reports it, at placement, on its stream or when asked. Fill figures are
 * cumulative: a fill is the increase of `filled_quantity` since the last report sluice booked.
 */
export interface Order {
  client_order_id: string;
  order_id: string;
  instrument: string;
  side: Side;
  quantity: number;
  order_type: OrderType;
  limit_price: number | null;
  status: OrderStatus;
  /** Cumulative filled quantity. */
  filled_quantity: number;
  /** Average price of everything filled so far; null while nothing is. */
  fill_price: number | null;
}

/** A signed position: quantity > 0 long, < 0 short. */
export interface Position {
  instrument: string;
  quantity: number;
  avg_price: number;
}

/** A field-level validation problem (docs/http-api.md#error-body `issues`). */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** What a connector can do; the gate refuses what it cannot (rule `connector_capability`). */
export interface ConnectorCapabilities {
  order_types: OrderType[];
  /** take_profit / stop_loss legs. */
  brackets: boolean;
  fractional: boolean;
  short: boolean;
  /** getOrder(client_order_id) is answered; false means at-least-once delivery (http). */
  lookup: boolean;
  /** getPositions() reports the connector's real positions (reconciled against the ledger). */
  positions: boolean;
  /**
   * How the connector reports what happens to an order after it was placed
   * (docs/execution.md#orders): `stream` (it pushes updates through `subscribe`, and is polled
   * while the stream is down), `poll` (sluice asks `getOrder` for every open order), `none`
   * (fire-and-forget: no fills, no positions; `close`, `target` and `cancel` are forwarded as actions).
   */
  order_updates: OrderUpdates;
}

export type OrderUpdates = 'stream' | 'poll' | 'none';

/**
 * Whether a signal's action goes to the connector as the action itself (docs/execution.md#the-http-connector):
 * `close` and `target` to a connector with `order_updates: 'none'`. Such a connector reports no
 * fills and no positions, so sluice's ledger for it never moves and cannot resolve them into a
 * side and a quantity (it would read every position as flat); the receiver, which holds the
 * positions, resolves them. `cancel` always goes to the connector (`Connector.cancel`).
 */
export function forwardsAction(action: Action, capabilities: Pick<ConnectorCapabilities, 'order_updates'>): boolean {
  return capabilities.order_updates === 'none' && (action === 'close' || action === 'target');
}

/** Signals an operator caused; the gate lets them through any mode and any instrument allowlist. */
export const OPERATOR_SOURCE = '_operator';
