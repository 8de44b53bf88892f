/**
 * WHERE clauses that both dialects build the same way from their own tables' columns (drizzle's
 * operators work on either dialect's columns).
 */
import { and, eq, gt, gte, lt, or, type Column, type SQL } from 'drizzle-orm';
import type { OrderQuery } from './contract/orders.js';
import type { SignalQuery, SignalWindowQuery } from './contract/signals.js';
import { orderCursorSeq } from './plans/orders.js';
import { parseMockOrderCursor } from './records.js';

/** listSignals: the filters of the query and its cursor (rows before the cursor's seq). */
export function signalFilter(c: { status: Column; source: Column; instrument: Column; seq: Column }, query: SignalQuery): SQL | undefined {
  return and(
    query.status === undefined ? undefined : eq(c.status, query.status),
    query.source === undefined ? undefined : eq(c.source, query.source),
    query.instrument === undefined ? undefined : eq(c.instrument, query.instrument),
    query.cursor === undefined ? undefined : lt(c.seq, Number(query.cursor)),
  );
}

/** listSignalWindow: received in [from, to), of the source when given, after the cursor's seq. */
export function signalWindowFilter(c: { received_at: Column; source: Column; seq: Column }, query: SignalWindowQuery): SQL | undefined {
  return and(
    gte(c.received_at, query.from.getTime()),
    lt(c.received_at, query.to.getTime()),
    query.source === undefined ? undefined : eq(c.source, query.source),
    query.cursor === undefined ? undefined : gt(c.seq, Number(query.cursor)),
  );
}

/** listOrders: the connector's orders after the cursor (newest first: older, or as old with a smaller id). */
export function mockOrderFilter(c: { connector: Column; created_at: Column; client_order_id: Column }, connector: string, cursor: string | undefined): SQL | undefined {
  const after = parseMockOrderCursor(cursor);
  return and(
    eq(c.connector, connector),
    after === null ? undefined : or(lt(c.created_at, after.created_at), and(eq(c.created_at, after.created_at), lt(c.client_order_id, after.client_order_id))),
  );
}

type OrderColumns = { open: Column; status: Column; connector: Column; instrument: Column; seq: Column };

/** listOrders: the status group or status, connector, instrument, and the rows before the cursor's seq. */
export function orderFilter(c: OrderColumns, query: OrderQuery): SQL | undefined {
  const below = orderCursorSeq(query.cursor);
  const status = query.status;
  return and(
    status === 'open' ? eq(c.open, 1) : status === 'terminal' ? eq(c.open, 0) : status === undefined ? undefined : eq(c.status, status),
    query.connector === undefined ? undefined : eq(c.connector, query.connector),
    query.instrument === undefined ? undefined : eq(c.instrument, query.instrument),
    below === null ? undefined : lt(c.seq, below),
  );
}

/** openOrders: the open ones, of one connector and instrument when given. */
export function openOrderFilter(c: OrderColumns, connector: string | undefined, instrument: string | undefined): SQL | undefined {
  return orderFilter(c, { status: 'open', limit: 0, ...(connector === undefined ? {} : { connector }), ...(instrument === undefined ? {} : { instrument }) });
}
