/**
 * Row → record conversion shared by both stores. The SQLite and PostgreSQL schemas have the same
 * tables and columns (times as integer ms, JSON documents as text, money as floating point), so
 * one set of pure functions turns either dialect's rows into what the Store contract returns.
 */
import type { Decision, Order, Signal, SignalStatus } from '../domain/types.js';
import type { EventRecord, ExecutionResult, Page, RefusedDelivery, SignalRecord } from './store.js';

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
}

export function signalRecordFromRow(row: SignalRow): SignalRecord {
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
    signal: JSON.parse(row.signal) as Signal,
    decision: row.decision === null ? null : (JSON.parse(row.decision) as Decision),
    result: row.result === null ? null : (JSON.parse(row.result) as ExecutionResult),
  };
}

/** An `events` row: the record with `data` still as its stored JSON text. */
export type EventRow = Omit<EventRecord, 'data'> & { data: string };

export function eventRecordFromRow(row: EventRow): EventRecord {
  return { ...row, data: JSON.parse(row.data) as Record<string, unknown> };
}

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

export function orderFromMockRow(row: MockOrderRow): Order {
  return {
    client_order_id: row.client_order_id,
    order_id: row.order_id,
    instrument: row.instrument,
    side: row.side,
    quantity: row.quantity,
    order_type: row.order_type,
    limit_price: row.limit_price,
    status: row.status as Order['status'],
    filled_quantity: row.filled_quantity,
    fill_price: row.fill_price,
  };
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

/** The columns of a `deliveries` row (both dialects). */
export interface DeliveryRow {
  at: number;
  source: string;
  reason: string;
  issues: string;
  request_id: string;
  body_excerpt: string;
}

export function refusedDeliveryFromRow(r: DeliveryRow): RefusedDelivery {
  return {
    at: isoFromMs(r.at),
    source: r.source,
    reason: r.reason,
    issues: JSON.parse(r.issues) as RefusedDelivery['issues'],
    request_id: r.request_id,
    body_excerpt: r.body_excerpt,
  };
}
