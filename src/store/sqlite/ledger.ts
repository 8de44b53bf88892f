/** The ledger on SQLite: reads, and reconciliation in one writer job (planReconcile). */
import { and, asc, count, eq, inArray } from 'drizzle-orm';
import type { PositionDrift } from '../../domain/ledger.js';
import type { LedgerStore } from '../contract/ledger.js';
import { planReconcile } from '../plans/ledger.js';
import { readGross, readPnl, readReserved, type SqliteContext } from './context.js';
import * as t from './schema.js';

export function sqliteLedger(ctx: SqliteContext): LedgerStore {
  const { db, writer } = ctx;
  return {
    async getLedger(connector, tradingDay) {
      const rows = db.select().from(t.positions).where(eq(t.positions.connector, connector)).orderBy(asc(t.positions.instrument)).all();
      return {
        positions: rows.filter((r) => r.quantity !== 0).map((r) => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price, last_price: r.last_price })),
        gross_exposure: readGross(ctx, connector),
        reserved_exposure: readReserved(ctx, connector),
        realized_pnl_today: readPnl(ctx, connector, tradingDay),
      };
    },

    async listInstruments(connector) {
      const traded = db.selectDistinct({ instrument: t.positions.instrument }).from(t.positions).where(eq(t.positions.connector, connector)).all();
      const inFlight = db
        .selectDistinct({ instrument: t.signals.instrument })
        .from(t.signals)
        .where(and(eq(t.signals.connector, connector), inArray(t.signals.status, ['accepted', 'executing'])))
        .all();
      return [...new Set([...traded, ...inFlight].map((r) => r.instrument))].sort();
    },

    async countExecuting(connector) {
      const row = db
        .select({ n: count() })
        .from(t.signals)
        .where(and(eq(t.signals.status, 'executing'), eq(t.signals.connector, connector)))
        .get();
      return row?.n ?? 0;
    },

    reconcilePositions(connector, positions, now) {
      return writer.run((): PositionDrift[] => {
        const ledger = db.select({ instrument: t.positions.instrument, quantity: t.positions.quantity }).from(t.positions).where(eq(t.positions.connector, connector)).all();
        const plan = planReconcile(connector, ledger, positions, now);
        for (const { instrument, ...values } of plan.upserts) {
          db.insert(t.positions)
            .values({ connector, instrument, last_price: null, ...values })
            .onConflictDoUpdate({ target: [t.positions.connector, t.positions.instrument], set: values })
            .run();
        }
        if (plan.event !== null) ctx.append(plan.event);
        return plan.drift;
      });
    },
  };
}
