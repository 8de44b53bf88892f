/**
 * Row → record conversion shared by both stores. The SQLite and PostgreSQL schemas have the same
 * tables and columns (times as integer ms, JSON documents as text, money as floating point), so
 * one set of pure functions turns either dialect's rows into what the Store contract returns;
 * every stored JSON document is checked on the way (checks.ts).
 */
import { initialBreaker, type BreakerState } from '../domain/breaker.js';
import { ORDER_STATUSES, TIME_IN_FORCES, type Order, type OrderStatus, type SignalStatus, type TimeInForce } from '../domain/types.js';
import { StoredRecordError, checkBreaker, checkCursor, checkDecision, checkEventData, checkIssues, checkMode, checkResult, checkSignal } from './checks.js';
import type { Attempt } from './contract/finish.js';
import type { EventRecord } from './contract/events.js';
import type { RefusedDelivery } from './contract/deliveries.js';
import type { MockOrderRecord, MockOrderState } from './contract/mock-broker.js';
import type { ModeState } from './contract/runtime.js';
import type { Page, QueueStats, SignalRecord } from './contract/signals.js';

/** Milliseconds since the epoch → ISO-8601 UTC, the form every record carries. */
export const isoFromMs = (ms: number): string => new Date(ms).toISOString();

/** The columns of a `signals` row that a record is made of (both dialects). */
export interface SignalRow {
  id: string;
  source: string;
  idempotency_key: string;
  fingerprint: string;
  status: SignalStatus;
  connector: string;
  instrument: string;
  client_order_id: string;
  request_id: string | null;
  received_at: number;
  updated_at: number;
  signal: string;
  decision: string | null;
  result: string | null;
  trace_parent: string | null;
}

export function signalRecordFromRow(row: SignalRow): SignalRecord {
  const at = (field: string) => ({ table: 'signals', id: row.id, field });
  return {
    signal_id: row.id,
    source: row.source,
    idempotency_key: row.idempotency_key,
    fingerprint: row.fingerprint,
    status: row.status,
    connector: row.connector,
    instrument: row.instrument,
    client_order_id: row.client_order_id,
    request_id: row.request_id,
    received_at: isoFromMs(row.received_at),
    updated_at: isoFromMs(row.updated_at),
    signal: checkSignal(row.signal, at('signal')),
    decision: row.decision === null ? null : checkDecision(row.decision, at('decision')),
    result: row.result === null ? null : checkResult(row.result, at('result')),
    trace_parent: row.trace_parent,
  };
}

/** queueStats from the per-status counts of accepted and executing signals. */
export function queueStatsFromRows(rows: ReadonlyArray<{ status: SignalStatus; n: number; oldest: number | null }>): QueueStats {
  const accepted = rows.find((r) => r.status === 'accepted');
  return {
    accepted: accepted?.n ?? 0,
    executing: rows.find((r) => r.status === 'executing')?.n ?? 0,
    oldest_accepted_at: accepted?.oldest == null ? null : isoFromMs(accepted.oldest),
  };
}

export function attemptFromRow(r: { n: number; at: number; outcome: string; error: string | null }): Attempt {
  return { n: r.n, at: isoFromMs(r.at), outcome: r.outcome, error: r.error };
}

/** An `events` row: the record with `data` still as its stored JSON text. */
export type EventRow = Omit<EventRecord, 'data'> & { data: string };

export function eventRecordFromRow(row: EventRow): EventRecord {
  return { ...row, data: checkEventData(row.data, { table: 'events', id: String(row.seq), field: 'data' }) };
}

// ── runtime_state: one key per document ───────────────────────────────────────────────────────

export const MODE_KEY = 'mode';
export const BREAKER_PREFIX = 'breaker:';
export const breakerKey = (connector: string): string => `${BREAKER_PREFIX}${connector}`;
export const cursorKey = (name: string): string => `cursor:${name}`;
const state = (key: string) => ({ table: 'runtime_state', id: key, field: 'value' });

export const modeFromState = (value: string | null): ModeState | null => (value === null ? null : checkMode(value, state(MODE_KEY)));

/** The mode when none is stored yet. */
export const DEFAULT_MODE: ModeState = { mode: 'enabled', reason: null, changed_at: new Date(0).toISOString() };

/** A connector's stored breaker (null when none is stored: closed). */
export const breakerFromState = (key: string, value: string | null): BreakerState | null => (value === null ? null : checkBreaker(value, state(key)));

export const breakerOrInitial = (key: string, value: string | null): BreakerState => breakerFromState(key, value) ?? initialBreaker();

export function breakersFromRows(rows: ReadonlyArray<{ key: string; value: string }>): Record<string, BreakerState> {
  const out: Record<string, BreakerState> = {};
  for (const row of rows) out[row.key.slice(BREAKER_PREFIX.length)] = checkBreaker(row.value, state(row.key));
  return out;
}

export const cursorFromState = (key: string, value: string | null): number | null => (value === null ? null : checkCursor(value, state(key)));

// ── mock broker, pages, deliveries ────────────────────────────────────────────────────────────

/** The columns of a `mock_orders` row that an order is made of. */
export interface MockOrderRow {
  client_order_id: string;
  order_id: string;
  instrument: string;
  side: Order['side'];
  quantity: number;
  order_type: Order['order_type'];
  limit_price: number | null;
  status: string;
  filled_quantity: number;
  fill_price: number | null;
}

const isOrderStatus = (s: string): s is OrderStatus => (ORDER_STATUSES as readonly string[]).includes(s);

export function orderFromMockRow(row: MockOrderRow): Order {
  if (!isOrderStatus(row.status)) throw new StoredRecordError('mock_orders', row.client_order_id, 'status', `is not an order status: ${JSON.stringify(row.status)}`);
  return {
    client_order_id: row.client_order_id,
    order_id: row.order_id,
    instrument: row.instrument,
    side: row.side,
    quantity: row.quantity,
    order_type: row.order_type,
    limit_price: row.limit_price,
    status: row.status,
    filled_quantity: row.filled_quantity,
    fill_price: row.fill_price,
  };
}

/** The columns of a `mock_orders` row that drive its fills. */
export interface MockOrderStateRow extends MockOrderRow {
  stop_price: number | null;
  time_in_force: string;
  price: number | null;
  next_fill_at: number | null;
  expires_at: number | null;
}

const isTimeInForce = (s: string): s is TimeInForce => (TIME_IN_FORCES as readonly string[]).includes(s);

export function mockStateFromRow(row: MockOrderStateRow): MockOrderState {
  if (!isTimeInForce(row.time_in_force)) throw new StoredRecordError('mock_orders', row.client_order_id, 'time_in_force', `is not a time in force: ${JSON.stringify(row.time_in_force)}`);
  return { ...orderFromMockRow(row), stop_price: row.stop_price, time_in_force: row.time_in_force, price: row.price, next_fill_at: row.next_fill_at, expires_at: row.expires_at };
}

/** `<created_at ms>:<client_order_id>` of the last order of a page. */
export function mockOrderCursor(createdAt: number, clientOrderId: string): string {
  return `${createdAt}:${clientOrderId}`;
}

export function parseMockOrderCursor(cursor: string | undefined): { created_at: number; client_order_id: string } | null {
  const match = cursor?.match(/^(\d{1,15}):(.+)$/);
  if (match?.[1] === undefined || match[2] === undefined) return null;
  return { created_at: Number(match[1]), client_order_id: match[2] };
}

/**
 * A page from `limit + 1` rows read newest first: the extra row only tells whether there is a
 * next page, whose cursor is made from the last row kept.
 */
export function pageOf<R, T>(rows: R[], limit: number, map: (row: R) => T, cursorOf: (row: R) => string): Page<T> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(map), next_cursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

/** A page of mock orders from `limit + 1` rows read newest first. */
export function mockOrderPage(rows: Array<MockOrderRow & { created_at: number }>, limit: number): Page<MockOrderRecord> {
  return pageOf(
    rows,
    limit,
    (row) => ({ ...orderFromMockRow(row), created_at: isoFromMs(row.created_at) }),
    (row) => mockOrderCursor(row.created_at, row.client_order_id),
  );
}

/** The columns of a `deliveries` row (both dialects). */
export interface DeliveryRow {
  seq: number;
  at: number;
  source: string;
  code: string | null;
  reason: string;
  issues: string;
  request_id: string;
  body_excerpt: string;
}

export function refusedDeliveryFromRow(r: DeliveryRow): RefusedDelivery {
  return {
    at: isoFromMs(r.at),
    source: r.source,
    code: r.code,
    reason: r.reason,
    issues: checkIssues(r.issues, { table: 'deliveries', id: String(r.seq), field: 'issues' }),
    request_id: r.request_id,
    body_excerpt: r.body_excerpt,
  };
}
