/**
 * WHERE clauses that both dialects build the same way from their own tables' columns (drizzle's
 * operators work on either dialect's columns).
 */
import { and, eq, gt, gte, lt, lte, or, sql, type Column, type SQL } from 'drizzle-orm';
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

/** The signals of a replay window: received in [from, to), of the source when given. */
export function signalWindowFilter(c: { received_at: Column; source: Column }, query: SignalWindowQuery): SQL | undefined {
  return and(gte(c.received_at, query.from.getTime()), lt(c.received_at, query.to.getTime()), query.source === undefined ? undefined : eq(c.source, query.source));
}

/** Where a window's page starts (after this seq) and where the window ends (its last seq). */
export interface WindowRange {
  after: number;
  last: number;
}

/** `after.last`: a listSignalWindow cursor carries the window's last seq, found once on the first page. */
export const windowCursor = (range: WindowRange): string => `${range.after}.${range.last}`;

export function parseWindowCursor(cursor: string | undefined): WindowRange | null {
  const m = cursor === undefined ? null : /^(\d{1,15})\.(\d{1,15})$/.exec(cursor);
  return m === null ? null : { after: Number(m[1]), last: Number(m[2]) };
}

/**
 * One page of a window: its seq range, read along the primary key, then the window's own filter.
 * The unary `+` keeps the planner off `signals_received_at_idx` here (the first page's bounds
 * query uses it): through that index every page would sort the rest of the window again.
 */
export function signalWindowPageFilter(c: { received_at: Column; source: Column; seq: Column }, query: SignalWindowQuery, range: WindowRange): SQL | undefined {
  return and(
    gt(c.seq, range.after),
    lte(c.seq, range.last),
    sql`+${c.received_at} >= ${query.from.getTime()}`,
    sql`+${c.received_at} < ${query.to.getTime()}`,
    query.source === undefined ? undefined : eq(c.source, query.source),
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
