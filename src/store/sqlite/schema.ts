/**
 * The SQLite schema (drizzle sqlite-core). `drizzle/sqlite/` holds the migrations drizzle-kit
 * generates from it. Times are integer milliseconds since the epoch, except the event log's
 * `at`, which is the ISO string that was hashed, so that `audit verify` recomputes it exactly.
 */
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const signals = sqliteTable(
  'signals',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    id: text('id').notNull(),
    source: text('source').notNull(),
    idempotency_key: text('idempotency_key').notNull(),
    /** What uniqueness is enforced on: the key, or for body-hash keys, the key until its window passes. */
    dedupe_key: text('dedupe_key').notNull(),
    key_kind: text('key_kind', { enum: ['explicit', 'body_hash'] }).notNull(),
    fingerprint: text('fingerprint').notNull(),
    status: text('status', { enum: ['accepted', 'executing', 'executed', 'rejected', 'failed'] }).notNull(),
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    client_order_id: text('client_order_id').notNull(),
    signal: text('signal').notNull(),
    decision: text('decision'),
    result: text('result'),
    request_id: text('request_id'),
    received_at: integer('received_at').notNull(),
    updated_at: integer('updated_at').notNull(),
    decided_at: integer('decided_at'),
    /** Side of the order placed, when the decision placed one (feeds `order_rate`). */
    order_side: text('order_side'),
    lease_owner: text('lease_owner'),
    lease_until: integer('lease_until'),
    /** The delivery's span context (W3C traceparent) when tracing was on: what the executor and the tracker continue. */
    trace_parent: text('trace_parent'),
  },
  (t) => [
    uniqueIndex('signals_id_uq').on(t.id),
    uniqueIndex('signals_source_dedupe_uq').on(t.source, t.dedupe_key),
    index('signals_status_seq_idx').on(t.status, t.seq),
    index('signals_lane_idx').on(t.connector, t.instrument, t.status, t.seq),
    index('signals_decided_at_idx').on(t.decided_at),
    index('signals_received_at_idx').on(t.received_at),
    // The newest signal of a source with one body (replay_window_ms).
    index('signals_source_fingerprint_idx').on(t.source, t.fingerprint, t.seq),
  ],
);

export const attempts = sqliteTable(
  'attempts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    signal_id: text('signal_id').notNull(),
    n: integer('n').notNull(),
    at: integer('at').notNull(),
    outcome: text('outcome').notNull(),
    error: text('error'),
  },
  (t) => [index('attempts_signal_idx').on(t.signal_id, t.n)],
);

/** Small key → JSON values shared by every instance: mode, breakers. */
export const runtimeState = sqliteTable('runtime_state', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updated_at: integer('updated_at').notNull(),
});

/** The hash-chained event log (docs/guarantees.md#event-log). Append-only: sluice never updates or deletes a row. */
export const events = sqliteTable(
  'events',
  {
    seq: integer('seq').primaryKey(),
    at: text('at').notNull(),
    type: text('type').notNull(),
    signal_id: text('signal_id'),
    data: text('data').notNull(),
    prev_hash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [index('events_signal_idx').on(t.signal_id)],
);

/** sluice's own ledger of positions, per connector, updated from fills. */
export const positions = sqliteTable(
  'positions',
  {
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    quantity: real('quantity').notNull(),
    avg_price: real('avg_price').notNull(),
    last_price: real('last_price'),
    updated_at: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.instrument] })],
);

/**
 * Every decided, unsettled order (docs/execution.md#guardrails): its signed quantity (exits included)
 * and the exposure it reserves (0 for exits). Released when the signal finishes.
 */
export const reservations = sqliteTable(
  'reservations',
  {
    signal_id: text('signal_id').primaryKey(),
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    quantity: real('quantity').notNull(),
    notional: real('notional').notNull(),
    created_at: integer('created_at').notNull(),
  },
  (t) => [index('reservations_connector_idx').on(t.connector)],
);

/** Realized PnL per connector and trading day (in `policy.trading_day_tz`). */
export const pnlDays = sqliteTable(
  'pnl_days',
  {
    connector: text('connector').notNull(),
    day: text('day').notNull(),
    realized: real('realized').notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.day] })],
);

/** Refused deliveries kept for operators (newest 1000 per bucket, secrets removed). */
export const deliveries = sqliteTable(
  'deliveries',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    source: text('source').notNull(),
    /** The code the sender got; null on rows from before it was kept. */
    code: text('code'),
    /** Retention bucket (plans/deliveries.ts): `auth` (401/403) or `other`. */
    bucket: text('bucket', { enum: ['auth', 'other'] }).notNull().default('other'),
    reason: text('reason').notNull(),
    issues: text('issues').notNull(),
    request_id: text('request_id').notNull(),
    body_excerpt: text('body_excerpt').notNull(),
  },
  (t) => [index('deliveries_bucket_seq_idx').on(t.bucket, t.seq)],
);

/** HMAC nonces seen within the tolerance, so a replay is refused across restarts. */
export const nonces = sqliteTable(
  'nonces',
  {
    source: text('source').notNull(),
    nonce: text('nonce').notNull(),
    expires_at: integer('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.source, t.nonce] }), index('nonces_expires_idx').on(t.expires_at)],
);

/** The mock broker's durable state: its orders … */
export const mockOrders = sqliteTable(
  'mock_orders',
  {
    connector: text('connector').notNull(),
    client_order_id: text('client_order_id').notNull(),
    order_id: text('order_id').notNull(),
    instrument: text('instrument').notNull(),
    side: text('side', { enum: ['buy', 'sell'] }).notNull(),
    quantity: real('quantity').notNull(),
    order_type: text('order_type', { enum: ['market', 'limit', 'stop', 'stop_limit'] }).notNull(),
    limit_price: real('limit_price'),
    status: text('status').notNull(),
    filled_quantity: real('filled_quantity').notNull(),
    fill_price: real('fill_price'),
    created_at: integer('created_at').notNull(),
    stop_price: real('stop_price'),
    time_in_force: text('time_in_force').notNull().default('gtc'),
    /** The price a market order's parts fill at (its reference price). */
    price: real('price'),
    /** When the next part fills (fill_delay_ms, partial_fills); null: it waits for a price (resting) or is done. */
    next_fill_at: integer('next_fill_at'),
    /** A `day` order's end (the trading day's end); null: it does not expire. */
    expires_at: integer('expires_at'),
    updated_at: integer('updated_at').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.connector, t.client_order_id] }),
    index('mock_orders_created_idx').on(t.connector, t.created_at),
    // The open orders (due fills, resting orders, the next due time) without reading the filled ones.
    index('mock_orders_open_idx').on(t.connector, t.status, t.created_at),
  ],
);

/** … and its positions. */
export const mockPositions = sqliteTable(
  'mock_positions',
  {
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    quantity: real('quantity').notNull(),
    avg_price: real('avg_price').notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.instrument] })],
);

/**
 * Every order sluice placed at a connector that reports what happens to it (docs/execution.md#orders),
 * followed until it is terminal. The row is the arbiter of fills: a fill is booked by the
 * transaction that raises `filled_quantity`, so it is booked once whatever reports it and however often.
 */
export const orders = sqliteTable(
  'orders',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    client_order_id: text('client_order_id').notNull(),
    connector: text('connector').notNull(),
    signal_id: text('signal_id').notNull(),
    instrument: text('instrument').notNull(),
    /** The broker's id, once it told one. */
    order_id: text('order_id'),
    side: text('side', { enum: ['buy', 'sell'] }).notNull(),
    quantity: real('quantity').notNull(),
    order_type: text('order_type', { enum: ['market', 'limit', 'stop', 'stop_limit'] }).notNull(),
    limit_price: real('limit_price'),
    stop_price: real('stop_price'),
    status: text('status', { enum: ['new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected'] }).notNull(),
    /** 1 while new or partially filled: what the open-order queries filter on. */
    open: integer('open').notNull(),
    /** Cumulative filled quantity booked into the ledger. */
    filled_quantity: real('filled_quantity').notNull(),
    avg_fill_price: real('avg_fill_price'),
    created_at: integer('created_at').notNull(),
    updated_at: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('orders_client_order_id_uq').on(t.client_order_id),
    index('orders_signal_idx').on(t.signal_id),
    index('orders_open_idx').on(t.open, t.connector, t.instrument),
    index('orders_connector_seq_idx').on(t.connector, t.seq),
  ],
);

/** The mock's last price per instrument (POST /admin/connectors/mock/prices): resting orders fill when it crosses them. */
export const mockPrices = sqliteTable(
  'mock_prices',
  {
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    price: real('price').notNull(),
    updated_at: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.instrument] })],
);
