/** The ledger on PostgreSQL: reads, and reconciliation per instrument under the connector lock (planReconcile). */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { LedgerStore, ReconcileResult } from '../contract/ledger.js';
import { planReconcile, settleReconcile } from '../plans/ledger.js';
import { readPnl, toNumber, type PgContext } from './context.js';
import * as t from './schema.js';

export function pgLedger(ctx: PgContext): LedgerStore {
  const { db, transact, reconnecting, locks } = ctx;
  return {
    getLedger(connector, tradingDay) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.positions).where(eq(t.positions.connector, connector)).orderBy(asc(t.positions.instrument));
        const [gross] = await db
          .select({ value: sql<number>`sum(abs(${t.positions.quantity}) * coalesce(${t.positions.last_price}, ${t.positions.avg_price}))`.mapWith(toNumber) })
          .from(t.positions)
          .where(eq(t.positions.connector, connector));
        const [reserved] = await db
          .select({ value: sql<number>`sum(${t.reservations.notional})`.mapWith(toNumber) })
          .from(t.reservations)
          .where(eq(t.reservations.connector, connector));
        return {
          positions: rows.filter((r) => r.quantity !== 0).map((r) => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price, last_price: r.last_price })),
          gross_exposure: gross?.value ?? 0,
          reserved_exposure: reserved?.value ?? 0,
          realized_pnl_today: await readPnl(db, connector, tradingDay),
        };
      });
    },

    listInstruments(connector) {
      return reconnecting(async () => {
        const traded = await db.selectDistinct({ instrument: t.positions.instrument }).from(t.positions).where(eq(t.positions.connector, connector));
        const signalled = await db
          .selectDistinct({ instrument: t.signals.instrument })
          .from(t.signals)
          .where(and(eq(t.signals.connector, connector), inArray(t.signals.status, ['accepted', 'executing', 'executed'])));
        const open = await db.selectDistinct({ instrument: t.orders.instrument }).from(t.orders).where(and(eq(t.orders.connector, connector), eq(t.orders.open, 1)));
        return [...new Set([...traded, ...signalled, ...open].map((r) => r.instrument))].sort();
      });
    },

    positionVersions(connector) {
      return reconnecting(async () => {
        const rows = await db.select({ instrument: t.positions.instrument, updated_at: t.positions.updated_at }).from(t.positions).where(eq(t.positions.connector, connector));
        return Object.fromEntries(rows.map((r) => [r.instrument, r.updated_at]));
      });
    },

    reconcilePositions(connector, positions, now, seen) {
      return transact(async (tx, emit): Promise<ReconcileResult> => {
        // Two instances reconciling at once: the second waits, then finds the versions moved.
        await locks.connector(tx, connector);
        const ledger = await tx
          .select({ instrument: t.positions.instrument, quantity: t.positions.quantity, updated_at: t.positions.updated_at })
          .from(t.positions)
          .where(eq(t.positions.connector, connector));
        // An order in flight holds a reservation from its decision until it is terminal: the
        // broker may have filled what sluice has not heard of yet, which is not drift.
        const inFlight = await tx.selectDistinct({ instrument: t.reservations.instrument }).from(t.reservations).where(eq(t.reservations.connector, connector));
        const plan = planReconcile(ledger, positions, now, seen, new Set(inFlight.map((r) => r.instrument)));
        const written: boolean[] = [];
        for (const { write } of plan.adopt) {
          // Conditional on the version read before the connector was asked: a finish does not
          // take the connector lock, so a fill booked since (committed, or committing while this
          // waits for its row) makes the write a no-op, and the instrument is skipped.
          const key = and(eq(t.positions.connector, connector), eq(t.positions.instrument, write.instrument));
          const rows =
            write.expected === null
              ? await tx
                  .insert(t.positions)
                  .values({ connector, instrument: write.instrument, last_price: null, ...write.values })
                  .onConflictDoNothing()
                  .returning({ instrument: t.positions.instrument })
              : await tx
                  .update(t.positions)
                  .set(write.values)
                  .where(and(key, eq(t.positions.updated_at, write.expected)))
                  .returning({ instrument: t.positions.instrument });
          written.push(rows.length === 1);
        }
        const { result, event } = settleReconcile(connector, plan, written, now);
        if (event !== null) emit(event);
        return result;
      });
    },
  };
}
