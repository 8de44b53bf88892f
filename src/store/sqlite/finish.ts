/**
 * Settling signals on SQLite: attempts, and the finish that books the fill, releases the
 * reservation, stores the result and may switch the mode, all in one writer job.
 */
import { asc, eq, sql } from 'drizzle-orm';
import type { Attempt, FinishOutcome, FinishStore } from '../contract/finish.js';
import { fillToBook, mayTripDailyLoss, planAttempt, planDailyLoss, planFill, planFinish } from '../plans/finish.js';
import { attemptFromRow, signalRecordFromRow as toRecord } from '../records.js';
import { applyModePlan, ph, phs, phSql, readMode, readPnl, type SqliteContext } from './context.js';
import * as t from './schema.js';

export function sqliteFinish(ctx: SqliteContext): FinishStore {
  const { db, writer } = ctx;
  const q = {
    insertAttempt: db
      .insert(t.attempts)
      .values(phs('signal_id', 'n', 'at', 'outcome', 'error'))
      .prepare(),
    attemptsOf: db.select().from(t.attempts).where(eq(t.attempts.signal_id, ph('signal_id'))).orderBy(asc(t.attempts.n), asc(t.attempts.id)).prepare(),
    finishUpdate: db
      .update(t.signals)
      .set({ status: phSql('status'), result: phSql('result'), updated_at: phSql('updated_at'), lease_owner: null, lease_until: null })
      .where(eq(t.signals.id, ph('id')))
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

  /** Inside a job: the time is checked before anything is written. */
  function insertAttempt(signalId: string, attempt: Attempt): void {
    const plan = planAttempt(signalId, attempt);
    q.insertAttempt.run(plan.row);
    ctx.append(plan.event);
  }

  return {
    recordAttempt(signalId, attempt) {
      return writer.run(() => insertAttempt(signalId, attempt));
    },

    async listAttempts(signalId) {
      return q.attemptsOf.all({ signal_id: signalId }).map(attemptFromRow);
    },

    finishSignal(input) {
      return writer.run((): FinishOutcome => {
        const row = ctx.q.signalById.get({ id: input.signal_id });
        if (row === undefined) throw new Error(`finishSignal: no signal ${input.signal_id}`);
        if (row.status !== 'executing') {
          return { record: toRecord(row), realized_pnl_today: readPnl(ctx, row.connector, input.trading_day), realized_pnl_fill: 0, mode_changed: null };
        }
        // The attempt that settled it, in the same step (one commit on the hot path).
        if (input.attempt !== undefined) insertAttempt(input.signal_id, input.attempt);
        const fill = fillToBook(input);
        let realizedFill = 0;
        if (fill !== null) {
          const { connector, instrument } = row;
          const booked = planFill(ctx.q.position.get({ connector, instrument }) ?? null, fill, input.now);
          q.upsertPosition.run({ connector, instrument, ...booked.position });
          q.addPnl.run({ connector, day: input.trading_day, realized: booked.realized });
          realizedFill = booked.realized;
        }
        q.deleteReservation.run({ signal_id: input.signal_id });
        const plan = planFinish(input);
        if (q.finishUpdate.run({ id: input.signal_id, ...plan.values }).changes === 0) throw new Error(`finishSignal: signal ${input.signal_id} vanished`);
        ctx.append(plan.event);
        const realizedToday = readPnl(ctx, row.connector, input.trading_day);
        const trip = mayTripDailyLoss(input, realizedFill) ? planDailyLoss(input, realizedFill, realizedToday, readMode(ctx)) : null;
        const modeChanged = trip === null ? null : applyModePlan(ctx, trip, input.now);
        // Read in this same job: the updated record is that row with these values.
        return { record: toRecord({ ...row, ...plan.values }), realized_pnl_today: realizedToday, realized_pnl_fill: realizedFill, mode_changed: modeChanged };
      });
    },
  };
}
