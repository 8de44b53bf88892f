/** The ledger on PostgreSQL: reads, and reconciliation under the connector lock (planReconcile). */
import { and, asc, count, eq, inArray, sql } from 'drizzle-orm';
import type { PositionDrift } from '../../domain/ledger.js';
import type { LedgerStore } from '../contract/ledger.js';
import { planReconcile } from '../plans/ledger.js';
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
        const inFlight = await db
          .selectDistinct({ instrument: t.signals.instrument })
          .from(t.signals)
          .where(and(eq(t.signals.connector, connector), inArray(t.signals.status, ['accepted', 'executing'])));
        return [...new Set([...traded, ...inFlight].map((r) => r.instrument))].sort();
      });
    },

    countExecuting(connector) {
      return reconnecting(async () => {
        const [row] = await db
          .select({ n: count() })
          .from(t.signals)
          .where(and(eq(t.signals.status, 'executing'), eq(t.signals.connector, connector)));
        return row?.n ?? 0;
      });
    },

    reconcilePositions(connector, positions, now) {
      return transact(async (tx, emit): Promise<PositionDrift[]> => {
        // Two instances reconciling at once: the second waits, then finds the drift adopted.
        await locks.connector(tx, connector);
        const ledger = await tx.select({ instrument: t.positions.instrument, quantity: t.positions.quantity }).from(t.positions).where(eq(t.positions.connector, connector));
        const plan = planReconcile(connector, ledger, positions, now);
        for (const { instrument, ...values } of plan.upserts) {
          await tx
            .insert(t.positions)
            .values({ connector, instrument, last_price: null, ...values })
            .onConflictDoUpdate({ target: [t.positions.connector, t.positions.instrument], set: values });
        }
        if (plan.event !== null) emit(plan.event);
        return plan.drift;
      });
    },
  };
}
