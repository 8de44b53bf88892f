/**
 * Settling signals on SQLite: attempts, and the finish that stores the result and records the
 * order (its row, what filled so far, the reservation of the remainder; orders.ts), all in one
 * writer job.
 */
import { asc, eq } from 'drizzle-orm';
import type { Attempt, FinishOutcome, FinishStore } from '../contract/finish.js';
import type { OrderRecord } from '../contract/orders.js';
import type { ModeState } from '../contract/runtime.js';
import { planAttempt, planFinish, untrackedFill, ATTEMPT_COLUMNS, FINISH_COLUMNS } from '../plans/finish.js';
import { newOrderRow } from '../plans/orders.js';
import { attemptFromRow, signalRecordFromRow as toRecord } from '../records.js';
import { readPnl, type SqliteContext } from './context.js';
import { ph, phs, phSqls } from '../placeholders.js';
import type { SqliteOrderBook } from './orders.js';
import * as t from './schema.js';

export function sqliteFinish(ctx: SqliteContext, book: SqliteOrderBook): FinishStore {
  const { db, writer } = ctx;
  const q = {
    insertAttempt: db
      .insert(t.attempts)
      .values(phs(...ATTEMPT_COLUMNS))
      .prepare(),
    attemptsOf: db.select().from(t.attempts).where(eq(t.attempts.signal_id, ph('signal_id'))).orderBy(asc(t.attempts.n), asc(t.attempts.id)).prepare(),
    finishUpdate: db
      .update(t.signals)
      .set(phSqls(...FINISH_COLUMNS))
      .where(eq(t.signals.id, ph('id')))
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
          return { record: toRecord(row), realized_pnl_today: readPnl(ctx, row.connector, input.trading_day), realized_pnl_fill: 0, mode_changed: null, order: null };
        }
        // The attempt that settled it, in the same step (one commit on the hot path).
        if (input.attempt !== undefined) insertAttempt(input.signal_id, input.attempt);
        const plan = planFinish(input);
        if (q.finishUpdate.run({ id: input.signal_id, ...plan.values }).changes === 0) throw new Error(`finishSignal: signal ${input.signal_id} vanished`);
        ctx.append(plan.event);
        // Read in this same job: the updated record is that row with these values (parsed once).
        const record = toRecord({ ...row, ...plan.values });
        const { connector, instrument } = row;
        let booked: { realized: number; mode_changed: ModeState | null; order: OrderRecord | null } = { realized: 0, mode_changed: null, order: null };
        if (input.order !== null && input.track_order) {
          // The order's row, then the placement's answer applied to it like any later report:
          // its fills so far booked, the reservation shrunk to the remainder or released.
          const fresh = newOrderRow({ signal_id: row.id, connector, instrument, stop_price: record.signal.stop_price ?? null }, input.order, input.now);
          // Inserted: the row is what was written. Not: a retried signal's order row exists.
          const orderRow = book.q.insertOrder.run(fresh).changes === 1 ? fresh : book.row(input.order.client_order_id);
          if (orderRow === undefined) throw new Error(`finishSignal: the order of ${input.signal_id} vanished`);
          const applied = book.applyReport(orderRow, input.order, input);
          booked = { realized: applied.fill?.realized_pnl ?? 0, mode_changed: applied.mode_changed, order: applied.record };
          // An order already terminal (a retried signal whose order ended before): nothing stays reserved.
          if (orderRow.open === 0) book.q.deleteReservation.run({ signal_id: input.signal_id });
        } else {
          const fill = untrackedFill(input);
          const realized = fill === null ? 0 : book.bookFill(connector, instrument, fill, input);
          book.q.deleteReservation.run({ signal_id: input.signal_id });
          booked = { realized, mode_changed: fill === null ? null : book.judgeDailyLoss(connector, realized, input), order: null };
        }
        return {
          record,
          realized_pnl_today: readPnl(ctx, connector, input.trading_day),
          realized_pnl_fill: booked.realized,
          mode_changed: booked.mode_changed,
          order: booked.order,
        };
      });
    },
  };
}
