/**
 * Orders on PostgreSQL: the order row, and the one booking step (plans/orders.ts) that both a
 * placement (finish.ts) and a later report (applyOrderUpdate) go through. The order row's lock
 * is the arbiter between instances: the second one to apply a report waits, then finds the
 * fill booked and books nothing. Locks are taken in one order (signal, order, position, mode).
 */
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import type { Order } from '../../domain/types.js';
import type { Fill } from '../contract/finish.js';
import type { BookingContext, OrderStore, OrderUpdateOutcome } from '../contract/orders.js';
import type { ModeState } from '../contract/runtime.js';
import { mayTripDailyLoss, movesDailyPnl, planDailyLoss, planFill } from '../plans/finish.js';
import { orderPage, orderRecordFromRow, planOrderUpdate, planReservation, unchangedOutcome, type OrderRow } from '../plans/orders.js';
import { writeMode, type Emit, type PgContext, type Tx } from './context.js';
import { openOrderFilter, orderFilter } from '../filters.js';
import * as t from './schema.js';

/**
 * Books a fill; returns the day's realized PnL after it and what this fill realized. The
 * position row is created if missing (a flat row, which applyFill treats as no position) and
 * then locked, so two instances booking fills of one instrument apply them in turn.
 */
export async function bookFill(tx: Tx, connector: string, instrument: string, fill: Fill, input: BookingContext): Promise<{ day: number | null; fill: number }> {
  const where = and(eq(t.positions.connector, connector), eq(t.positions.instrument, instrument));
  await tx.insert(t.positions).values({ connector, instrument, quantity: 0, avg_price: 0, last_price: null, updated_at: input.now.getTime() }).onConflictDoNothing();
  const [current] = await tx.select().from(t.positions).where(where).for('update');
  const booked = planFill(current ?? null, fill, input.now);
  await tx.update(t.positions).set(booked.position).where(where);
  // Nothing realized: the day's row is not touched (day: null), and only a losing fill is judged.
  if (!movesDailyPnl(booked.realized)) return { day: null, fill: booked.realized };
  // Atomic increment: concurrent fills of other instruments add to the same day row.
  const [pnl] = await tx
    .insert(t.pnlDays)
    .values({ connector, day: input.trading_day, realized: booked.realized })
    .onConflictDoUpdate({ target: [t.pnlDays.connector, t.pnlDays.day], set: { realized: sql`${t.pnlDays.realized} + excluded.realized` } })
    .returning({ realized: t.pnlDays.realized });
  return { day: pnl?.realized ?? booked.realized, fill: booked.realized };
}

/** A fill that breaches the daily loss limit switches the mode (the mode lock is taken only for a losing fill). */
export async function judgeDailyLoss(ctx: PgContext, tx: Tx, emit: Emit, booked: { day: number | null; fill: number }, input: BookingContext): Promise<ModeState | null> {
  const day = booked.day;
  if (!mayTripDailyLoss(input, booked.fill) || day === null) return null;
  return writeMode(ctx, tx, emit, (current) => planDailyLoss(input, booked.fill, day, current), input.now);
}

/** The order row, locked until the transaction ends. */
export async function lockedOrder(tx: Tx, clientOrderId: string): Promise<OrderRow | undefined> {
  const [row] = await tx.select().from(t.orders).where(eq(t.orders.client_order_id, clientOrderId)).for('update');
  return row;
}

/** Applies a report to the row as read under its lock. */
export async function applyReport(ctx: PgContext, tx: Tx, emit: Emit, row: OrderRow, reported: Order, input: BookingContext): Promise<OrderUpdateOutcome> {
  const plan = planOrderUpdate(row, reported, input.now);
  if (plan === null) return unchangedOutcome(row, reported);
  const booked = plan.fill === null ? null : await bookFill(tx, row.connector, row.instrument, plan.fill, input);
  await tx.update(t.orders).set(plan.values).where(eq(t.orders.client_order_id, row.client_order_id));
  const [reservation] = await tx.select().from(t.reservations).where(eq(t.reservations.signal_id, row.signal_id));
  if (reservation !== undefined) {
    const next = planReservation(reservation, row, plan.values.filled_quantity, plan.terminal);
    if (next === null) await tx.delete(t.reservations).where(eq(t.reservations.signal_id, row.signal_id));
    else await tx.update(t.reservations).set(next).where(eq(t.reservations.signal_id, row.signal_id));
  }
  emit(plan.event);
  return {
    record: orderRecordFromRow({ ...row, ...plan.values }),
    changed: true,
    fill: plan.fill === null || booked === null ? null : { quantity: plan.fill.quantity, price: plan.fill.price, realized_pnl: booked.fill },
    unusable_fill: plan.unusable_fill,
    mode_changed: booked === null ? null : await judgeDailyLoss(ctx, tx, emit, booked, input),
  };
}

export function pgOrders(ctx: PgContext): OrderStore {
  const { db, transact, reconnecting } = ctx;
  return {
    applyOrderUpdate(input) {
      return transact(async (tx, emit): Promise<OrderUpdateOutcome> => {
        const row = await lockedOrder(tx, input.order.client_order_id);
        if (row === undefined || row.connector !== input.connector) return { record: null, changed: false, fill: null, unusable_fill: false, mode_changed: null };
        return applyReport(ctx, tx, emit, row, input.order, input);
      });
    },

    // async: an invalid cursor rejects the promise, as on SQLite, instead of throwing at the call.
    async listOrders(query) {
      const where = orderFilter(t.orders, query);
      return reconnecting(async () =>
        orderPage(
          await db
            .select()
            .from(t.orders)
            .where(where)
            .orderBy(desc(t.orders.seq))
            .limit(query.limit + 1),
          query.limit,
        ),
      );
    },

    openOrders(connector, instrument) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.orders).where(openOrderFilter(t.orders, connector, instrument)).orderBy(asc(t.orders.seq));
        return rows.map(orderRecordFromRow);
      });
    },

    ordersOfSignal(signalId) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.orders).where(eq(t.orders.signal_id, signalId)).orderBy(asc(t.orders.seq));
        return rows.map(orderRecordFromRow);
      });
    },
  };
}
