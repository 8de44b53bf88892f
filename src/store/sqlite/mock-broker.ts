/** The mock broker's books on SQLite: an order and its fill in one writer job. */
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Position } from '../../domain/types.js';
import type { MockBrokerStore } from '../contract/mock-broker.js';
import { mockOrderFills, mockOrderRow, OPEN_ORDER_STATUSES, planMockFill } from '../plans/mock-broker.js';
import { mockOrderPage, orderFromMockRow } from '../records.js';
import { mockOrderFilter } from '../filters.js';
import { ph, phs, type SqliteContext } from './context.js';
import * as t from './schema.js';

export function sqliteMockBroker(ctx: SqliteContext): MockBrokerStore {
  const { db, writer } = ctx;
  const q = {
    order: db
      .select()
      .from(t.mockOrders)
      .where(and(eq(t.mockOrders.connector, ph('connector')), eq(t.mockOrders.client_order_id, ph('client_order_id'))))
      .prepare(),
    insertOrder: db
      .insert(t.mockOrders)
      .values(phs('connector', 'client_order_id', 'order_id', 'instrument', 'side', 'quantity', 'order_type', 'limit_price', 'status', 'filled_quantity', 'fill_price', 'created_at'))
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
  };

  return {
    placeOrder(connector, order, now) {
      return writer.run(() => {
        const existing = q.order.get({ connector, client_order_id: order.client_order_id });
        if (existing !== undefined) return { created: false, order: orderFromMockRow(existing) };
        q.insertOrder.run(mockOrderRow(connector, order, now));
        const next = mockOrderFills(order) ? planMockFill(q.position.get({ connector, instrument: order.instrument }) ?? null, order) : null;
        if (next !== null) q.upsertPosition.run({ connector, instrument: order.instrument, ...next });
        return { created: true, order };
      });
    },

    async getOrder(connector, clientOrderId) {
      const row = q.order.get({ connector, client_order_id: clientOrderId });
      return row === undefined ? null : orderFromMockRow(row);
    },

    async listOrders(connector, limit, cursor) {
      const rows = db
        .select()
        .from(t.mockOrders)
        .where(mockOrderFilter(t.mockOrders, connector, cursor))
        .orderBy(desc(t.mockOrders.created_at), desc(t.mockOrders.client_order_id))
        .limit(limit + 1)
        .all();
      return mockOrderPage(rows, limit);
    },

    cancelOpenOrders(connector, instrument) {
      return writer.run(
        () =>
          db
            .update(t.mockOrders)
            .set({ status: 'canceled' })
            .where(and(eq(t.mockOrders.connector, connector), eq(t.mockOrders.instrument, instrument), inArray(t.mockOrders.status, [...OPEN_ORDER_STATUSES])))
            .run().changes,
      );
    },

    async getPositions(connector) {
      const rows = db.select().from(t.mockPositions).where(eq(t.mockPositions.connector, connector)).orderBy(asc(t.mockPositions.instrument)).all();
      return rows.filter((r) => r.quantity !== 0).map((r): Position => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price }));
    },
  };
}
