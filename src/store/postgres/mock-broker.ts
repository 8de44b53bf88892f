/**
 * The mock broker's books on PostgreSQL: first insert of a client_order_id wins; positions are
 * row-locked; every later step is an UPDATE conditional on the row as it was read, which under
 * READ COMMITTED waits for a concurrent step on the row and then matches nothing: two instances
 * running the mock's timers never fill a part twice.
 */
import { and, asc, desc, eq, inArray, isNotNull, isNull, lte, min, or, sql, type Column } from 'drizzle-orm';
import type { Position, Side } from '../../domain/types.js';
import type { MockBrokerStore, MockOrderVersion } from '../contract/mock-broker.js';
import { mockOrderFills, mockOrderRow, OPEN_ORDER_STATUSES, orderOf, planMockPart, MOCK_ORDER_COLUMNS } from '../plans/mock-broker.js';
import { mockOrderPage, mockStateFromRow, orderFromMockRow } from '../records.js';
import { mockOrderFilter } from '../filters.js';
import { ph, phs, phSql } from '../placeholders.js';
import type { PgContext } from './context.js';
import { builder, lockOrCreate, run, statement, type Tx } from './statements.js';
import * as t from './schema.js';

const OPEN = [...OPEN_ORDER_STATUSES];
const o = t.mockOrders;
const same = (column: Column, value: number | null) => (value === null ? isNull(column) : eq(column, value));

function asRead(connector: string, read: MockOrderVersion) {
  return and(
    eq(o.connector, connector),
    eq(o.client_order_id, read.client_order_id),
    eq(o.status, read.status),
    eq(o.filled_quantity, read.filled_quantity),
    same(o.next_fill_at, read.next_fill_at),
    same(o.stop_price, read.stop_price),
  );
}

const position = and(eq(t.mockPositions.connector, ph('connector')), eq(t.mockPositions.instrument, ph('instrument')));
const q = {
  insertOrder: statement(
    builder
      .insert(o)
      .values(
        phs(...MOCK_ORDER_COLUMNS),
      )
      .onConflictDoNothing({ target: [o.connector, o.client_order_id] })
      .returning()
      .prepare('mock_order_insert'),
  ),
  order: statement(builder.select().from(o).where(and(eq(o.connector, ph('connector')), eq(o.client_order_id, ph('client_order_id')))).prepare('mock_order')),
  createPosition: statement(
    builder.insert(t.mockPositions).values({ connector: ph('connector'), instrument: ph('instrument'), quantity: 0, avg_price: 0 }).onConflictDoNothing().prepare('mock_position_create'),
  ),
  lockPosition: statement(builder.select().from(t.mockPositions).where(position).for('update').prepare('mock_position_lock')),
  updatePosition: statement(builder.update(t.mockPositions).set({ quantity: phSql('quantity'), avg_price: phSql('avg_price') }).where(position).prepare('mock_position_update')),
};

/** Moves the mock position by one fill: the same lock (created first when missing) as the ledger's positions. */
async function movePosition(tx: Tx, connector: string, instrument: string, side: Side, part: { quantity: number; price: number }): Promise<void> {
  const current = await lockOrCreate(tx, q.lockPosition, q.createPosition, { connector, instrument });
  await run(q.updatePosition, tx, { connector, instrument, ...planMockPart(current ?? null, side, part) });
}

export function pgMockBroker(ctx: PgContext): MockBrokerStore {
  const { db, transact, reconnecting } = ctx;
  const orderWhere = (connector: string, clientOrderId: string) => and(eq(o.connector, connector), eq(o.client_order_id, clientOrderId));
  return {
    placeOrder(connector, order, now) {
      return transact(async (tx) => {
        // The broker's idempotency: the first insert of a client_order_id wins; a concurrent
        // one waits for it and then finds it.
        const [inserted] = await run(q.insertOrder, tx, mockOrderRow(connector, order, now));
        if (inserted === undefined) {
          const [existing] = await run(q.order, tx, { connector, client_order_id: order.client_order_id });
          if (existing === undefined) throw new Error(`mock broker: order ${order.client_order_id} conflicted but cannot be read`);
          return { created: false, order: orderFromMockRow(existing) };
        }
        if (mockOrderFills(order)) await movePosition(tx, connector, order.instrument, order.side, { quantity: order.filled_quantity, price: order.fill_price });
        return { created: true, order: orderOf(order) };
      });
    },

    getOrder(connector, clientOrderId) {
      return reconnecting(async () => {
        const [row] = await db.select().from(o).where(orderWhere(connector, clientOrderId));
        return row === undefined ? null : orderFromMockRow(row);
      });
    },

    listOrders(connector, limit, cursor) {
      return reconnecting(async () => {
        const rows = await db
          .select()
          .from(o)
          .where(mockOrderFilter(o, connector, cursor))
          .orderBy(desc(o.created_at), desc(o.client_order_id))
          .limit(limit + 1);
        return mockOrderPage(rows, limit);
      });
    },

    cancelOpenOrders(connector, instrument, now) {
      return transact(async (tx) => {
        const rows = await tx
          .update(o)
          .set({ status: 'canceled', next_fill_at: null, updated_at: now.getTime() })
          .where(and(eq(o.connector, connector), eq(o.instrument, instrument), inArray(o.status, OPEN)))
          .returning();
        return rows.map(orderFromMockRow);
      });
    },

    getPositions(connector) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.mockPositions).where(eq(t.mockPositions.connector, connector)).orderBy(asc(t.mockPositions.instrument));
        return rows.filter((r) => r.quantity !== 0).map((r): Position => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price }));
      });
    },

    openOrders(connector, which) {
      const selected =
        'due_by' in which
          ? or(and(isNotNull(o.next_fill_at), lte(o.next_fill_at, which.due_by)), and(isNotNull(o.expires_at), lte(o.expires_at, which.due_by)))
          : and(eq(o.instrument, which.resting), isNull(o.next_fill_at));
      return reconnecting(async () => {
        const rows = await db.select().from(o).where(and(eq(o.connector, connector), inArray(o.status, OPEN), selected)).orderBy(asc(o.created_at), asc(o.client_order_id));
        return rows.map(mockStateFromRow);
      });
    },

    nextDueAt(connector) {
      return reconnecting(async () => {
        const [row] = await db.select({ fill: min(o.next_fill_at), end: min(o.expires_at) }).from(o).where(and(eq(o.connector, connector), inArray(o.status, OPEN)));
        const times = [row?.fill, row?.end].filter((x): x is number => x !== null && x !== undefined).map(Number);
        return times.length === 0 ? null : Math.min(...times);
      });
    },

    updateOrder(connector, read, change, now) {
      return transact(async (tx) => {
        const { part, ...columns } = change;
        const [row] = await tx.update(o).set({ ...columns, updated_at: now.getTime() }).where(asRead(connector, read)).returning();
        if (row === undefined) return null;
        if (part !== null) await movePosition(tx, connector, row.instrument, row.side, part);
        return mockStateFromRow(row);
      });
    },

    setPrices(connector, prices, now) {
      const rows = Object.entries(prices).map(([instrument, price]) => ({ connector, instrument, price, updated_at: now.getTime() }));
      if (rows.length === 0) return Promise.resolve();
      return transact(async (tx) => {
        await tx
          .insert(t.mockPrices)
          .values(rows)
          .onConflictDoUpdate({ target: [t.mockPrices.connector, t.mockPrices.instrument], set: { price: sql`excluded.price`, updated_at: sql`excluded.updated_at` } });
      });
    },

    getPrice(connector, instrument) {
      return reconnecting(async () => {
        const [row] = await db.select({ price: t.mockPrices.price }).from(t.mockPrices).where(and(eq(t.mockPrices.connector, connector), eq(t.mockPrices.instrument, instrument)));
        return row?.price ?? null;
      });
    },
  };
}
