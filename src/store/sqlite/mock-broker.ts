/** The mock broker's books on SQLite: an order and its fill in one writer job; every later step conditional. */
import { and, asc, desc, eq, inArray, isNotNull, isNull, lte, min, or, sql, type Column } from 'drizzle-orm';
import type { Position } from '../../domain/types.js';
import type { MockBrokerStore, MockOrderSelection, MockOrderVersion } from '../contract/mock-broker.js';
import { mockOrderFills, mockOrderRow, OPEN_ORDER_STATUSES, orderOf, planMockFill, planMockPart, MOCK_ORDER_COLUMNS } from '../plans/mock-broker.js';
import { mockOrderPage, mockStateFromRow, orderFromMockRow } from '../records.js';
import { mockOrderFilter } from '../filters.js';
import { type SqliteContext, type SqliteDb } from './context.js';
import { ph, phs } from '../placeholders.js';
import * as t from './schema.js';

const OPEN = [...OPEN_ORDER_STATUSES];
const o = t.mockOrders;
/** `column = value`, where null equals null. */
/** Oldest first, as `ORDER BY created_at, client_order_id` (ids are ASCII, so code units compare as bytes). */
const byCreation = (a: { created_at: number; client_order_id: string }, b: { created_at: number; client_order_id: string }) =>
  a.created_at - b.created_at || (a.client_order_id < b.client_order_id ? -1 : a.client_order_id > b.client_order_id ? 1 : 0);

const same = (column: Column, value: number | null) => (value === null ? isNull(column) : eq(column, value));

/** The row exactly as a step read it: its conditional write matches nothing once anyone moved it. */
export function asRead(connector: string, read: MockOrderVersion) {
  return and(
    eq(o.connector, connector),
    eq(o.client_order_id, read.client_order_id),
    eq(o.status, read.status),
    eq(o.filled_quantity, read.filled_quantity),
    same(o.next_fill_at, read.next_fill_at),
    same(o.stop_price, read.stop_price),
  );
}

/**
 * The mock's open orders that are due by a time, or resting in a lane; unsorted. Sorted by the
 * caller (`byCreation`), not by SQL: an `ORDER BY created_at` that mock_orders_created_idx
 * satisfies makes SQLite's planner walk every order the connector ever had instead of the few
 * open ones through mock_orders_open_idx (0.6 s at start on a million mock orders;
 * test/store/sqlite-plans.test.ts holds the plan).
 */
export function openMockOrdersQuery(db: SqliteDb, connector: string, which: MockOrderSelection) {
  const selected =
    'due_by' in which
      ? or(and(isNotNull(o.next_fill_at), lte(o.next_fill_at, which.due_by)), and(isNotNull(o.expires_at), lte(o.expires_at, which.due_by)))
      : and(eq(o.instrument, which.resting), isNull(o.next_fill_at));
  return db.select().from(o).where(and(eq(o.connector, connector), inArray(o.status, OPEN), selected));
}

export function sqliteMockBroker(ctx: SqliteContext): MockBrokerStore {
  const { db, writer } = ctx;
  const q = {
    order: db
      .select()
      .from(o)
      .where(and(eq(o.connector, ph('connector')), eq(o.client_order_id, ph('client_order_id'))))
      .prepare(),
    insertOrder: db
      .insert(o)
      .values(
        phs(...MOCK_ORDER_COLUMNS),
      )
      .prepare(),
    position: db
      .select()
      .from(t.mockPositions)
      .where(and(eq(t.mockPositions.connector, ph('connector')), eq(t.mockPositions.instrument, ph('instrument'))))
      .prepare(),
    upsertPosition: db
      .insert(t.mockPositions)
      .values(phs('connector', 'instrument', 'quantity', 'avg_price'))
      .onConflictDoUpdate({ target: [t.mockPositions.connector, t.mockPositions.instrument], set: { quantity: sql`excluded.quantity`, avg_price: sql`excluded.avg_price` } })
      .prepare(),
    price: db
      .select({ price: t.mockPrices.price })
      .from(t.mockPrices)
      .where(and(eq(t.mockPrices.connector, ph('connector')), eq(t.mockPrices.instrument, ph('instrument'))))
      .prepare(),
    upsertPrice: db
      .insert(t.mockPrices)
      .values(phs('connector', 'instrument', 'price', 'updated_at'))
      .onConflictDoUpdate({ target: [t.mockPrices.connector, t.mockPrices.instrument], set: { price: sql`excluded.price`, updated_at: sql`excluded.updated_at` } })
      .prepare(),
  };

  return {
    placeOrder(connector, order, now) {
      return writer.run(() => {
        const existing = q.order.get({ connector, client_order_id: order.client_order_id });
        if (existing !== undefined) return { created: false, order: orderFromMockRow(existing) };
        q.insertOrder.run(mockOrderRow(connector, order, now));
        const next = mockOrderFills(order) ? planMockFill(q.position.get({ connector, instrument: order.instrument }) ?? null, order) : null;
        if (next !== null) q.upsertPosition.run({ connector, instrument: order.instrument, ...next });
        return { created: true, order: orderOf(order) };
      });
    },

    async getOrder(connector, clientOrderId) {
      const row = q.order.get({ connector, client_order_id: clientOrderId });
      return row === undefined ? null : orderFromMockRow(row);
    },

    async listOrders(connector, limit, cursor) {
      const rows = db
        .select()
        .from(o)
        .where(mockOrderFilter(o, connector, cursor))
        .orderBy(desc(o.created_at), desc(o.client_order_id))
        .limit(limit + 1)
        .all();
      return mockOrderPage(rows, limit);
    },

    cancelOpenOrders(connector, instrument, now) {
      return writer.run(() =>
        db
          .update(o)
          .set({ status: 'canceled', next_fill_at: null, updated_at: now.getTime() })
          .where(and(eq(o.connector, connector), eq(o.instrument, instrument), inArray(o.status, OPEN)))
          .returning()
          .all()
          .map(orderFromMockRow),
      );
    },

    async getPositions(connector) {
      const rows = db.select().from(t.mockPositions).where(eq(t.mockPositions.connector, connector)).orderBy(asc(t.mockPositions.instrument)).all();
      return rows.filter((r) => r.quantity !== 0).map((r): Position => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price }));
    },

    async openOrders(connector, which) {
      return openMockOrdersQuery(db, connector, which).all().sort(byCreation).map(mockStateFromRow);
    },

    async nextDueAt(connector) {
      const [row] = db.select({ fill: min(o.next_fill_at), end: min(o.expires_at) }).from(o).where(and(eq(o.connector, connector), inArray(o.status, OPEN))).all();
      return earliest(row?.fill ?? null, row?.end ?? null);
    },

    updateOrder(connector, read, change, now) {
      return writer.run(() => {
        const { part, ...columns } = change;
        const row = db.update(o).set({ ...columns, updated_at: now.getTime() }).where(asRead(connector, read)).returning().get();
        if (row === undefined) return null;
        if (part !== null) {
          const next = planMockPart(q.position.get({ connector, instrument: row.instrument }) ?? null, row.side, part);
          q.upsertPosition.run({ connector, instrument: row.instrument, ...next });
        }
        return mockStateFromRow(row);
      });
    },

    setPrices(connector, prices, now) {
      return writer.run(() => {
        for (const [instrument, price] of Object.entries(prices)) q.upsertPrice.run({ connector, instrument, price, updated_at: now.getTime() });
      });
    },

    async getPrice(connector, instrument) {
      return q.price.get({ connector, instrument })?.price ?? null;
    },
  };
}

/** The earlier of two optional times. */
export function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
