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
import { ORDER_UPDATE_COLUMNS, orderPage, orderRecordFromRow, planOrderUpdate, planReservation, unchangedOutcome, type OrderRow } from '../plans/orders.js';
import { ph, phs, phSql, phSqls } from '../placeholders.js';
import { writeMode, type Emit, type PgContext } from './context.js';
import { builder, lockOrCreate, run, statement, type Tx } from './statements.js';
import { openOrderFilter, orderFilter } from '../filters.js';
import * as t from './schema.js';

const position = and(eq(t.positions.connector, ph('connector')), eq(t.positions.instrument, ph('instrument')));
const q = {
  createPosition: statement(
    builder
      .insert(t.positions)
      .values({ connector: ph('connector'), instrument: ph('instrument'), quantity: 0, avg_price: 0, last_price: null, updated_at: ph('updated_at') })
      .onConflictDoNothing()
      .prepare('position_create'),
  ),
  lockPosition: statement(builder.select().from(t.positions).where(position).for('update').prepare('position_lock')),
  updatePosition: statement(
    builder
      .update(t.positions)
      .set({ quantity: phSql('quantity'), avg_price: phSql('avg_price'), last_price: phSql('last_price'), updated_at: phSql('updated_at') })
      .where(position)
      .prepare('position_update'),
  ),
  // Atomic increment: concurrent fills of other instruments add to the same day row.
  addPnl: statement(
    builder
      .insert(t.pnlDays)
      .values(phs('connector', 'day', 'realized'))
      .onConflictDoUpdate({ target: [t.pnlDays.connector, t.pnlDays.day], set: { realized: sql`${t.pnlDays.realized} + excluded.realized` } })
      .returning({ realized: t.pnlDays.realized })
      .prepare('pnl_add'),
  ),
  lockOrder: statement(builder.select().from(t.orders).where(eq(t.orders.client_order_id, ph('client_order_id'))).for('update').prepare('order_lock')),
  updateOrder: statement(
    builder
      .update(t.orders)
      .set(phSqls(...ORDER_UPDATE_COLUMNS))
      .where(eq(t.orders.client_order_id, ph('client_order_id')))
      .prepare('order_update'),
  ),
  reservation: statement(builder.select().from(t.reservations).where(eq(t.reservations.signal_id, ph('signal_id'))).prepare('reservation_read')),
  release: statement(builder.delete(t.reservations).where(eq(t.reservations.signal_id, ph('signal_id'))).prepare('reservation_delete')),
  shrink: statement(
    builder.update(t.reservations).set({ quantity: phSql('quantity'), notional: phSql('notional') }).where(eq(t.reservations.signal_id, ph('signal_id'))).prepare('reservation_shrink'),
  ),
};

/**
 * Books a fill; returns the day's realized PnL after it and what this fill realized. The
 * position row is locked (a missing one created first: a flat row, which applyFill treats as no
 * position), so two instances booking fills of one instrument apply them in turn.
 */
export async function bookFill(tx: Tx, connector: string, instrument: string, fill: Fill, input: BookingContext): Promise<{ day: number | null; fill: number }> {
  const current = await lockOrCreate(tx, q.lockPosition, q.createPosition, { connector, instrument }, { updated_at: input.now.getTime() });
  const booked = planFill(current ?? null, fill, input.now);
  await run(q.updatePosition, tx, { connector, instrument, ...booked.position });
  // Nothing realized: the day's row is not touched (day: null), and only a losing fill is judged.
  if (!movesDailyPnl(booked.realized)) return { day: null, fill: booked.realized };
  const [pnl] = await run(q.addPnl, tx, { connector, day: input.trading_day, realized: booked.realized });
  return { day: pnl?.realized ?? booked.realized, fill: booked.realized };
}

/** Releases what the signal's order still holds reserved. */
export async function releaseReservation(tx: Tx, signalId: string): Promise<void> {
  await run(q.release, tx, { signal_id: signalId });
}

/** A fill that breaches the daily loss limit switches the mode (the mode lock is taken only for a losing fill). */
export async function judgeDailyLoss(ctx: PgContext, tx: Tx, emit: Emit, booked: { day: number | null; fill: number }, input: BookingContext): Promise<ModeState | null> {
  const day = booked.day;
  if (!mayTripDailyLoss(input, booked.fill) || day === null) return null;
  return writeMode(ctx, tx, emit, (current) => planDailyLoss(input, booked.fill, day, current), input.now);
}

/** The order row, locked until the transaction ends. */
export async function lockedOrder(tx: Tx, clientOrderId: string): Promise<OrderRow | undefined> {
  const [row] = await run(q.lockOrder, tx, { client_order_id: clientOrderId });
  return row;
}

/** Applies a report to the row as read under its lock. */
export async function applyReport(ctx: PgContext, tx: Tx, emit: Emit, row: OrderRow, reported: Order, input: BookingContext): Promise<OrderUpdateOutcome> {
  const plan = planOrderUpdate(row, reported, input.now);
  if (plan === null) return unchangedOutcome(row, reported);
  const booked = plan.fill === null ? null : await bookFill(tx, row.connector, row.instrument, plan.fill, input);
  await run(q.updateOrder, tx, { client_order_id: row.client_order_id, ...plan.values });
  const [reservation] = await run(q.reservation, tx, { signal_id: row.signal_id });
  if (reservation !== undefined) {
    const next = planReservation(reservation, row, plan.values.filled_quantity, plan.terminal);
    if (next === null) await releaseReservation(tx, row.signal_id);
    else await run(q.shrink, tx, { signal_id: row.signal_id, ...next });
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
