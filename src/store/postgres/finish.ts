/**
 * Settling signals on PostgreSQL: attempts, and the finish under the signal's row lock that
 * books the fill (position row locked), releases the reservation, stores the result and may
 * switch the mode (mode lock), in one transaction.
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Attempt, Fill, FinishOutcome, FinishStore } from '../contract/finish.js';
import { fillToBook, mayTripDailyLoss, planAttempt, planDailyLoss, planFill, planFinish } from '../plans/finish.js';
import { attemptFromRow, signalRecordFromRow as toRecord } from '../records.js';
import { readPnl, writeMode, type Emit, type PgContext, type Tx } from './context.js';
import * as t from './schema.js';

/** The time is checked before anything is written. */
async function insertAttempt(tx: Tx, emit: Emit, signalId: string, attempt: Attempt): Promise<void> {
  const plan = planAttempt(signalId, attempt);
  await tx.insert(t.attempts).values(plan.row);
  emit(plan.event);
}

/**
 * Books a fill; returns the day's realized PnL after it and what this fill realized. The
 * position row is created if missing (a flat row, which applyFill treats as no position) and
 * then locked, so two instances finishing orders of one instrument apply their fills in turn.
 */
async function bookFill(tx: Tx, connector: string, instrument: string, fill: Fill, tradingDay: string, now: Date): Promise<{ day: number; fill: number }> {
  const where = and(eq(t.positions.connector, connector), eq(t.positions.instrument, instrument));
  await tx.insert(t.positions).values({ connector, instrument, quantity: 0, avg_price: 0, last_price: null, updated_at: now.getTime() }).onConflictDoNothing();
  const [current] = await tx.select().from(t.positions).where(where).for('update');
  const booked = planFill(current ?? null, fill, now);
  await tx.update(t.positions).set(booked.position).where(where);
  // Atomic increment: concurrent fills of other instruments add to the same day row.
  const [pnl] = await tx
    .insert(t.pnlDays)
    .values({ connector, day: tradingDay, realized: booked.realized })
    .onConflictDoUpdate({ target: [t.pnlDays.connector, t.pnlDays.day], set: { realized: sql`${t.pnlDays.realized} + excluded.realized` } })
    .returning({ realized: t.pnlDays.realized });
  return { day: pnl?.realized ?? booked.realized, fill: booked.realized };
}

export function pgFinish(ctx: PgContext): FinishStore {
  const { db, transact, reconnecting } = ctx;
  return {
    recordAttempt(signalId, attempt) {
      return transact(async (tx, emit) => insertAttempt(tx, emit, signalId, attempt));
    },

    listAttempts(signalId) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.attempts).where(eq(t.attempts.signal_id, signalId)).orderBy(asc(t.attempts.n), asc(t.attempts.id));
        return rows.map(attemptFromRow);
      });
    },

    finishSignal(input) {
      return transact(async (tx, emit): Promise<FinishOutcome> => {
        // The row lock makes a second finish (a retry, another instance) wait and then see the
        // first one's final status: the fill is booked once.
        const [row] = await tx.select().from(t.signals).where(eq(t.signals.id, input.signal_id)).for('update');
        if (row === undefined) throw new Error(`finishSignal: no signal ${input.signal_id}`);
        let realizedToday = await readPnl(tx, row.connector, input.trading_day);
        if (row.status !== 'executing') return { record: toRecord(row), realized_pnl_today: realizedToday, realized_pnl_fill: 0, mode_changed: null };
        // The attempt that settled it, in the same transaction.
        if (input.attempt !== undefined) await insertAttempt(tx, emit, input.signal_id, input.attempt);
        const fill = fillToBook(input);
        let realizedFill = 0;
        if (fill !== null) {
          const booked = await bookFill(tx, row.connector, row.instrument, fill, input.trading_day, input.now);
          realizedToday = booked.day;
          realizedFill = booked.fill;
        }
        // Booking the fill and releasing the reservation commit together, so the exposure the
        // gate sees never counts an order twice or not at all.
        await tx.delete(t.reservations).where(eq(t.reservations.signal_id, input.signal_id));
        const plan = planFinish(input);
        const [updated] = await tx.update(t.signals).set(plan.values).where(eq(t.signals.id, input.signal_id)).returning();
        if (updated === undefined) throw new Error(`finishSignal: signal ${input.signal_id} vanished`);
        emit(plan.event);
        // Only a losing fill can trip the limit: the mode lock is taken only then.
        const modeChanged = mayTripDailyLoss(input, realizedFill)
          ? await writeMode(ctx, tx, emit, (current) => planDailyLoss(input, realizedFill, realizedToday, current), input.now)
          : null;
        return { record: toRecord(updated), realized_pnl_today: realizedToday, realized_pnl_fill: realizedFill, mode_changed: modeChanged };
      });
    },
  };
}
