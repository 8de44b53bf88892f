/**
 * Settling signals on PostgreSQL: attempts, and the finish under the signal's row lock that
 * stores the result and records the order (its row, what filled so far, the reservation of the
 * remainder; orders.ts), in one transaction.
 */
import { asc, eq } from 'drizzle-orm';
import type { Attempt, FinishOutcome, FinishStore } from '../contract/finish.js';
import type { OrderRecord } from '../contract/orders.js';
import type { ModeState } from '../contract/runtime.js';
import { planAttempt, planFinish, untrackedFill, ATTEMPT_COLUMNS, FINISH_COLUMNS } from '../plans/finish.js';
import { newOrderRow, ORDER_COLUMNS } from '../plans/orders.js';
import { attemptFromRow, signalRecordFromRow as toRecord } from '../records.js';
import { ph, phs, phSqls } from '../placeholders.js';
import { readPnl, type Emit, type PgContext } from './context.js';
import { builder, run, statement, type Tx } from './statements.js';
import { applyReport, bookFill, judgeDailyLoss, lockedOrder, releaseReservation } from './orders.js';
import * as t from './schema.js';

const q = {
  insertAttempt: statement(builder.insert(t.attempts).values(phs(...ATTEMPT_COLUMNS)).prepare('attempt_insert')),
  signalForUpdate: statement(builder.select().from(t.signals).where(eq(t.signals.id, ph('id'))).for('update').prepare('finish_signal')),
  update: statement(
    builder
      .update(t.signals)
      .set(phSqls(...FINISH_COLUMNS))
      .where(eq(t.signals.id, ph('id')))
      .returning()
      .prepare('finish_update'),
  ),
  insertOrder: statement(builder.insert(t.orders).values(phs(...ORDER_COLUMNS)).onConflictDoNothing().returning().prepare('order_insert')),
};

/** The time is checked before anything is written. */
async function insertAttempt(tx: Tx, emit: Emit, signalId: string, attempt: Attempt): Promise<void> {
  const plan = planAttempt(signalId, attempt);
  await run(q.insertAttempt, tx, plan.row);
  emit(plan.event);
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
        const [row] = await run(q.signalForUpdate, tx, { id: input.signal_id });
        if (row === undefined) throw new Error(`finishSignal: no signal ${input.signal_id}`);
        if (row.status !== 'executing') return { record: toRecord(row), realized_pnl_today: await readPnl(tx, row.connector, input.trading_day), realized_pnl_fill: 0, mode_changed: null, order: null };
        // The attempt that settled it, in the same transaction.
        if (input.attempt !== undefined) await insertAttempt(tx, emit, input.signal_id, input.attempt);
        const plan = planFinish(input);
        const [updated] = await run(q.update, tx, { id: input.signal_id, ...plan.values });
        if (updated === undefined) throw new Error(`finishSignal: signal ${input.signal_id} vanished`);
        emit(plan.event);
        const record = toRecord(updated);
        const { connector, instrument } = row;
        let booked: { realized: number; mode_changed: ModeState | null; order: OrderRecord | null };
        if (input.order !== null && input.track_order) {
          // The order's row, then the placement's answer applied to it like any later report:
          // its fills so far booked, the reservation shrunk to the remainder or released.
          // A row this transaction inserted is its own until it commits; one there already (a
          // retried signal's order) is read under its lock.
          const [inserted] = await run(q.insertOrder, tx, newOrderRow({ signal_id: row.id, connector, instrument, stop_price: record.signal.stop_price ?? null }, input.order, input.now));
          const orderRow = inserted ?? (await lockedOrder(tx, input.order.client_order_id));
          if (orderRow === undefined) throw new Error(`finishSignal: the order of ${input.signal_id} vanished`);
          const applied = await applyReport(ctx, tx, emit, orderRow, input.order, input);
          // An order already terminal (a retried signal whose order ended before): nothing stays reserved.
          if (orderRow.open === 0) await releaseReservation(tx, input.signal_id);
          booked = { realized: applied.fill?.realized_pnl ?? 0, mode_changed: applied.mode_changed, order: applied.record };
        } else {
          const fill = untrackedFill(input);
          const result = fill === null ? null : await bookFill(tx, connector, instrument, fill, input);
          // Booking the fill and releasing the reservation commit together, so the exposure the
          // gate sees never counts an order twice or not at all.
          await releaseReservation(tx, input.signal_id);
          booked = { realized: result?.fill ?? 0, mode_changed: result === null ? null : await judgeDailyLoss(ctx, tx, emit, result, input), order: null };
        }
        return { record, realized_pnl_today: await readPnl(tx, connector, input.trading_day), realized_pnl_fill: booked.realized, mode_changed: booked.mode_changed, order: booked.order };
      });
    },
  };
}
