/**
 * WHERE clauses that both dialects build the same way from their own tables' columns (drizzle's
 * operators work on either dialect's columns).
 */
import { and, eq, lt, or, type Column, type SQL } from 'drizzle-orm';
import type { SignalQuery } from './contract/signals.js';
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

/** listOrders: the connector's orders after the cursor (newest first: older, or as old with a smaller id). */
export function mockOrderFilter(c: { connector: Column; created_at: Column; client_order_id: Column }, connector: string, cursor: string | undefined): SQL | undefined {
  const after = parseMockOrderCursor(cursor);
  return and(
    eq(c.connector, connector),
    after === null ? undefined : or(lt(c.created_at, after.created_at), and(eq(c.created_at, after.created_at), lt(c.client_order_id, after.client_order_id))),
  );
}
