/**
 * Orders on SQLite: the order row, and the one booking step (plans/orders.ts) that both a
 * placement (finish.ts) and a later report (applyOrderUpdate) go through, inside one writer job.
 */
import { asc, desc, eq, sql } from 'drizzle-orm';
import type { Order } from '../../domain/types.js';
import type { Fill } from '../contract/finish.js';
import type { BookingContext, OrderStore, OrderUpdateOutcome } from '../contract/orders.js';
import { mayTripDailyLoss, movesDailyPnl, planDailyLoss, planFill } from '../plans/finish.js';
import { ORDER_COLUMNS, ORDER_UPDATE_COLUMNS, orderPage, orderRecordFromRow, planOrderUpdate, planReservation, unchangedOutcome, type OrderRow } from '../plans/orders.js';
import { applyModePlan, readMode, readPnl, type SqliteContext, type SqliteDb } from './context.js';
import { ph, phs, phSqls } from '../placeholders.js';
import { openOrderFilter, orderFilter } from '../filters.js';
import * as t from './schema.js';

export type SqliteOrderBook = ReturnType<typeof sqliteOrderBook>;

/** The statements and the booking step finish.ts shares with the order store. */
export function sqliteOrderBook(ctx: SqliteContext) {
  const { db } = ctx;
  const q = {
    byClientOrderId: db.select().from(t.orders).where(eq(t.orders.client_order_id, ph('client_order_id'))).prepare(),
    insertOrder: db
      .insert(t.orders)
      .values(
        phs(...ORDER_COLUMNS),
      )
      .onConflictDoNothing()
      .prepare(),
    updateOrder: db
      .update(t.orders)
      .set(phSqls(...ORDER_UPDATE_COLUMNS))
      .where(eq(t.orders.client_order_id, ph('client_order_id')))
      .prepare(),
    reservation: db.select().from(t.reservations).where(eq(t.reservations.signal_id, ph('signal_id'))).prepare(),
    updateReservation: db
      .update(t.reservations)
      .set({ quantity: sql`${ph('quantity')}`, notional: sql`${ph('notional')}` })
      .where(eq(t.reservations.signal_id, ph('signal_id')))
      .prepare(),
    deleteReservation: db.delete(t.reservations).where(eq(t.reservations.signal_id, ph('signal_id'))).prepare(),
    upsertPosition: db
      .insert(t.positions)
      .values(phs('connector', 'instrument', 'quantity', 'avg_price', 'last_price', 'updated_at'))
      .onConflictDoUpdate({
        target: [t.positions.connector, t.positions.instrument],
        set: { quantity: sql`excluded.quantity`, avg_price: sql`excluded.avg_price`, last_price: sql`excluded.last_price`, updated_at: sql`excluded.updated_at` },
      })
      .prepare(),
    addPnl: db
      .insert(t.pnlDays)
      .values(phs('connector', 'day', 'realized'))
      .onConflictDoUpdate({ target: [t.pnlDays.connector, t.pnlDays.day], set: { realized: sql`${t.pnlDays.realized} + excluded.realized` } })
      .prepare(),
  };

  /** Books a fill into the position and the day's PnL; returns what it realized. */
  function bookFill(connector: string, instrument: string, fill: Fill, input: BookingContext): number {
    const booked = planFill(ctx.q.position.get({ connector, instrument }) ?? null, fill, input.now);
    q.upsertPosition.run({ connector, instrument, ...booked.position });
    if (movesDailyPnl(booked.realized)) q.addPnl.run({ connector, day: input.trading_day, realized: booked.realized });
    return booked.realized;
  }

  /** A fill that breaches the daily loss limit switches the mode, in the same job. */
  function judgeDailyLoss(connector: string, realizedFill: number, input: BookingContext) {
    if (!mayTripDailyLoss(input, realizedFill)) return null;
    const trip = planDailyLoss(input, realizedFill, readPnl(ctx, connector, input.trading_day), readMode(ctx));
    return trip === null ? null : applyModePlan(ctx, trip, input.now);
  }

  /** Applies a report to the row as read (inside a writer job). */
  function applyReport(row: OrderRow, reported: Order, input: BookingContext): OrderUpdateOutcome {
    const plan = planOrderUpdate(row, reported, input.now);
    if (plan === null) return unchangedOutcome(row, reported);
    const realized = plan.fill === null ? 0 : bookFill(row.connector, row.instrument, plan.fill, input);
    q.updateOrder.run({ client_order_id: row.client_order_id, ...plan.values });
    const reservation = q.reservation.get({ signal_id: row.signal_id });
    if (reservation !== undefined) {
      const next = planReservation(reservation, row, plan.values.filled_quantity, plan.terminal);
      if (next === null) q.deleteReservation.run({ signal_id: row.signal_id });
      else q.updateReservation.run({ signal_id: row.signal_id, ...next });
    }
    ctx.append(plan.event);
    return {
      record: orderRecordFromRow({ ...row, ...plan.values }),
      changed: true,
      fill: plan.fill === null ? null : { quantity: plan.fill.quantity, price: plan.fill.price, realized_pnl: realized },
      unusable_fill: plan.unusable_fill,
      mode_changed: plan.fill === null ? null : judgeDailyLoss(row.connector, realized, input),
    };
  }

  return { q, bookFill, judgeDailyLoss, applyReport, row: (clientOrderId: string): OrderRow | undefined => q.byClientOrderId.get({ client_order_id: clientOrderId }) };
}

/**
 * The open orders of a connector (or of one lane), unsorted. Sorted by the caller, not by SQL: an
 * `ORDER BY seq` lets SQLite's planner pick orders_connector_seq_idx and read every order ever
 * placed instead of the few open ones through orders_open_idx (0.2 s at start on a million
 * orders; test/store/sqlite-plans.test.ts holds the plan).
 */
export function openOrdersQuery(db: SqliteDb, connector: string | undefined, instrument: string | undefined) {
  return db.select().from(t.orders).where(openOrderFilter(t.orders, connector, instrument));
}

export function sqliteOrders(ctx: SqliteContext, book: SqliteOrderBook): OrderStore {
  const { db, writer } = ctx;
  return {
    applyOrderUpdate(input) {
      return writer.run((): OrderUpdateOutcome => {
        const row = book.row(input.order.client_order_id);
        if (row === undefined || row.connector !== input.connector) return { record: null, changed: false, fill: null, unusable_fill: false, mode_changed: null };
        return book.applyReport(row, input.order, input);
      });
    },

    async listOrders(query) {
      const rows = db
        .select()
        .from(t.orders)
        .where(orderFilter(t.orders, query))
        .orderBy(desc(t.orders.seq))
        .limit(query.limit + 1)
        .all();
      return orderPage(rows, query.limit);
    },

    async openOrders(connector, instrument) {
      return openOrdersQuery(db, connector, instrument)
        .all()
        .sort((a, b) => a.seq - b.seq)
        .map(orderRecordFromRow);
    },

    async ordersOfSignal(signalId) {
      return db.select().from(t.orders).where(eq(t.orders.signal_id, signalId)).orderBy(asc(t.orders.seq)).all().map(orderRecordFromRow);
    },
  };
}
