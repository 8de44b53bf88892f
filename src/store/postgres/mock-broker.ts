/** The mock broker's books on PostgreSQL: first insert of a client_order_id wins; positions are row-locked. */
import { and, asc, desc, eq, inArray } from 'drizzle-orm';
import type { Position } from '../../domain/types.js';
import type { MockBrokerStore } from '../contract/mock-broker.js';
import { mockOrderFills, mockOrderRow, OPEN_ORDER_STATUSES, planMockFill } from '../plans/mock-broker.js';
import { mockOrderPage, orderFromMockRow } from '../records.js';
import { mockOrderFilter } from '../filters.js';
import type { PgContext } from './context.js';
import * as t from './schema.js';

export function pgMockBroker(ctx: PgContext): MockBrokerStore {
  const { db, transact, reconnecting } = ctx;
  const orderWhere = (connector: string, clientOrderId: string) => and(eq(t.mockOrders.connector, connector), eq(t.mockOrders.client_order_id, clientOrderId));
  return {
    placeOrder(connector, order, now) {
      return transact(async (tx) => {
        // The broker's idempotency: the first insert of a client_order_id wins; a concurrent
        // one waits for it and then finds it.
        const [inserted] = await tx
          .insert(t.mockOrders)
          .values(mockOrderRow(connector, order, now))
          .onConflictDoNothing({ target: [t.mockOrders.connector, t.mockOrders.client_order_id] })
          .returning();
        if (inserted === undefined) {
          const [existing] = await tx.select().from(t.mockOrders).where(orderWhere(connector, order.client_order_id));
          if (existing === undefined) throw new Error(`mock broker: order ${order.client_order_id} conflicted but cannot be read`);
          return { created: false, order: orderFromMockRow(existing) };
        }
        if (mockOrderFills(order)) {
          // Same create-then-lock as the ledger's positions.
          const where = and(eq(t.mockPositions.connector, connector), eq(t.mockPositions.instrument, order.instrument));
          await tx.insert(t.mockPositions).values({ connector, instrument: order.instrument, quantity: 0, avg_price: 0 }).onConflictDoNothing();
          const [current] = await tx.select().from(t.mockPositions).where(where).for('update');
          const next = planMockFill(current ?? null, order);
          if (next !== null) await tx.update(t.mockPositions).set(next).where(where);
        }
        return { created: true, order };
      });
    },

    getOrder(connector, clientOrderId) {
      return reconnecting(async () => {
        const [row] = await db.select().from(t.mockOrders).where(orderWhere(connector, clientOrderId));
        return row === undefined ? null : orderFromMockRow(row);
      });
    },

    listOrders(connector, limit, cursor) {
      return reconnecting(async () => {
        const rows = await db
          .select()
          .from(t.mockOrders)
          .where(mockOrderFilter(t.mockOrders, connector, cursor))
          .orderBy(desc(t.mockOrders.created_at), desc(t.mockOrders.client_order_id))
          .limit(limit + 1);
        return mockOrderPage(rows, limit);
      });
    },

    cancelOpenOrders(connector, instrument) {
      return transact(async (tx) => {
        const rows = await tx
          .update(t.mockOrders)
          .set({ status: 'canceled' })
          .where(and(eq(t.mockOrders.connector, connector), eq(t.mockOrders.instrument, instrument), inArray(t.mockOrders.status, [...OPEN_ORDER_STATUSES])))
          .returning({ id: t.mockOrders.client_order_id });
        return rows.length;
      });
    },

    getPositions(connector) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.mockPositions).where(eq(t.mockPositions.connector, connector)).orderBy(asc(t.mockPositions.instrument));
        return rows.filter((r) => r.quantity !== 0).map((r): Position => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price }));
      });
    },
  };
}
