/**
 * The PostgreSQL schema (drizzle pg-core), table for table and column for column the SQLite one
 * (`../sqlite/schema.ts`), so that both stores share their row → record conversion.
 * `drizzle/postgres/` holds the migrations drizzle-kit generates from it.
 *
 * Times are integer milliseconds since the epoch (`bigint`, read back as numbers), except the
 * event log's `at`, which is the ISO string that was hashed, so that `audit verify` recomputes it
 * exactly. Money and quantities are `double precision` (read back as numbers, like SQLite reals).
 * The tables are unqualified: the store chooses the schema through `search_path`.
 */
import { bigint, doublePrecision, index, integer, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';

export const signals = pgTable(
  'signals',
  {
    /**
     * Arrival order. An identity: values taken by an `INSERT … ON CONFLICT DO NOTHING` that
     * found its key leave gaps, which is harmless (only the order matters).
     */
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
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
    received_at: bigint('received_at', { mode: 'number' }).notNull(),
    updated_at: bigint('updated_at', { mode: 'number' }).notNull(),
    decided_at: bigint('decided_at', { mode: 'number' }),
    /** Side of the order placed, when the decision placed one (feeds `order_rate`). */
    order_side: text('order_side'),
    lease_owner: text('lease_owner'),
    lease_until: bigint('lease_until', { mode: 'number' }),
    /** The delivery's span context (W3C traceparent) when tracing was on: what the executor and the tracker continue. */
    trace_parent: text('trace_parent'),
  },
  (t) => [
    uniqueIndex('signals_id_uq').on(t.id),
    // The arbiter of `INSERT … ON CONFLICT (source, dedupe_key) DO NOTHING` in recordSignal.
    uniqueIndex('signals_source_dedupe_uq').on(t.source, t.dedupe_key),
    index('signals_status_seq_idx').on(t.status, t.seq),
    index('signals_lane_idx').on(t.connector, t.instrument, t.status, t.seq),
    index('signals_decided_at_idx').on(t.decided_at),
    index('signals_received_at_idx').on(t.received_at),
    // The newest signal of a source with one body (replay_window_ms).
    index('signals_source_fingerprint_idx').on(t.source, t.fingerprint, t.seq),
  ],
);

export const attempts = pgTable(
  'attempts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    signal_id: text('signal_id').notNull(),
    n: bigint('n', { mode: 'number' }).notNull(),
    at: bigint('at', { mode: 'number' }).notNull(),
    outcome: text('outcome').notNull(),
    error: text('error'),
  },
  (t) => [index('attempts_signal_idx').on(t.signal_id, t.n)],
);

/** Small key → JSON values shared by every instance: mode, breakers, consumer cursors. */
export const runtimeState = pgTable('runtime_state', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updated_at: bigint('updated_at', { mode: 'number' }).notNull(),
});

/**
 * The hash-chained event log (docs/guarantees.md#event-log). Append-only: sluice never updates or deletes a row.
 * `seq` is assigned by the appender under the event-log lock (head + 1), not by a sequence, so
 * the chain has no gaps.
 */
export const events = pgTable(
  'events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
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
export const positions = pgTable(
  'positions',
  {
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    quantity: doublePrecision('quantity').notNull(),
    avg_price: doublePrecision('avg_price').notNull(),
    last_price: doublePrecision('last_price'),
    updated_at: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.instrument] })],
);

/**
 * Every decided, unsettled order (docs/execution.md#guardrails): its signed quantity (exits included)
 * and the exposure it reserves (0 for exits). Released when the signal finishes.
 */
export const reservations = pgTable(
  'reservations',
  {
    signal_id: text('signal_id').primaryKey(),
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    quantity: doublePrecision('quantity').notNull(),
    notional: doublePrecision('notional').notNull(),
    created_at: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('reservations_connector_idx').on(t.connector)],
);

/** Realized PnL per connector and trading day (in `policy.trading_day_tz`). */
export const pnlDays = pgTable(
  'pnl_days',
  {
    connector: text('connector').notNull(),
    day: text('day').notNull(),
    realized: doublePrecision('realized').notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.day] })],
);

/** Refused deliveries kept for operators (newest 1000 per bucket, secrets removed). */
export const deliveries = pgTable(
  'deliveries',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: bigint('at', { mode: 'number' }).notNull(),
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
export const nonces = pgTable(
  'nonces',
  {
    source: text('source').notNull(),
    nonce: text('nonce').notNull(),
    expires_at: bigint('expires_at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.source, t.nonce] }), index('nonces_expires_idx').on(t.expires_at)],
);

/** The mock broker's durable state: its orders … */
export const mockOrders = pgTable(
  'mock_orders',
  {
    connector: text('connector').notNull(),
    client_order_id: text('client_order_id').notNull(),
    order_id: text('order_id').notNull(),
    instrument: text('instrument').notNull(),
    side: text('side', { enum: ['buy', 'sell'] }).notNull(),
    quantity: doublePrecision('quantity').notNull(),
    order_type: text('order_type', { enum: ['market', 'limit', 'stop', 'stop_limit'] }).notNull(),
    limit_price: doublePrecision('limit_price'),
    status: text('status').notNull(),
    filled_quantity: doublePrecision('filled_quantity').notNull(),
    fill_price: doublePrecision('fill_price'),
    created_at: bigint('created_at', { mode: 'number' }).notNull(),
    stop_price: doublePrecision('stop_price'),
    time_in_force: text('time_in_force').notNull().default('gtc'),
    /** The price a market order's parts fill at (its reference price). */
    price: doublePrecision('price'),
    /** When the next part fills (fill_delay_ms, partial_fills); null: it waits for a price (resting) or is done. */
    next_fill_at: bigint('next_fill_at', { mode: 'number' }),
    /** A `day` order's end (the trading day's end); null: it does not expire. */
    expires_at: bigint('expires_at', { mode: 'number' }),
    updated_at: bigint('updated_at', { mode: 'number' }).notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.connector, t.client_order_id] }),
    index('mock_orders_created_idx').on(t.connector, t.created_at),
    // The open orders (due fills, resting orders, the next due time) without reading the filled ones.
    index('mock_orders_open_idx').on(t.connector, t.status, t.created_at),
  ],
);

/** … and its positions. */
export const mockPositions = pgTable(
  'mock_positions',
  {
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    quantity: doublePrecision('quantity').notNull(),
    avg_price: doublePrecision('avg_price').notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.instrument] })],
);

/**
 * Every order sluice placed at a connector that reports what happens to it (docs/execution.md#orders),
 * followed until it is terminal. The row is the arbiter of fills: a fill is booked by the
 * transaction that raises `filled_quantity`, so it is booked once whatever reports it and however often.
 */
export const orders = pgTable(
  'orders',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    client_order_id: text('client_order_id').notNull(),
    connector: text('connector').notNull(),
    signal_id: text('signal_id').notNull(),
    instrument: text('instrument').notNull(),
    /** The broker's id, once it told one. */
    order_id: text('order_id'),
    side: text('side', { enum: ['buy', 'sell'] }).notNull(),
    quantity: doublePrecision('quantity').notNull(),
    order_type: text('order_type', { enum: ['market', 'limit', 'stop', 'stop_limit'] }).notNull(),
    limit_price: doublePrecision('limit_price'),
    stop_price: doublePrecision('stop_price'),
    status: text('status', { enum: ['new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected'] }).notNull(),
    /** 1 while new or partially filled: what the open-order queries filter on. */
    open: integer('open').notNull(),
    /** Cumulative filled quantity booked into the ledger. */
    filled_quantity: doublePrecision('filled_quantity').notNull(),
    avg_fill_price: doublePrecision('avg_fill_price'),
    created_at: bigint('created_at', { mode: 'number' }).notNull(),
    updated_at: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    uniqueIndex('orders_client_order_id_uq').on(t.client_order_id),
    index('orders_signal_idx').on(t.signal_id),
    index('orders_open_idx').on(t.open, t.connector, t.instrument),
    index('orders_connector_seq_idx').on(t.connector, t.seq),
  ],
);

/** The mock's last price per instrument (POST /admin/connectors/mock/prices): resting orders fill when it crosses them. */
export const mockPrices = pgTable(
  'mock_prices',
  {
    connector: text('connector').notNull(),
    instrument: text('instrument').notNull(),
    price: doublePrecision('price').notNull(),
    updated_at: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.connector, t.instrument] })],
);
