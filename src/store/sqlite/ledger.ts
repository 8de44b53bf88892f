/** The ledger on SQLite: reads, and reconciliation per instrument in one writer job (planReconcile). */
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { LedgerStore, ReconcileResult } from '../contract/ledger.js';
import { planReconcile, settleReconcile } from '../plans/ledger.js';
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
      const signalled = db
        .selectDistinct({ instrument: t.signals.instrument })
        .from(t.signals)
        .where(and(eq(t.signals.connector, connector), inArray(t.signals.status, ['accepted', 'executing', 'executed'])))
        .all();
      const open = db.selectDistinct({ instrument: t.orders.instrument }).from(t.orders).where(and(eq(t.orders.connector, connector), eq(t.orders.open, 1))).all();
      return [...new Set([...traded, ...signalled, ...open].map((r) => r.instrument))].sort();
    },

    async positionVersions(connector) {
      const rows = db.select({ instrument: t.positions.instrument, updated_at: t.positions.updated_at }).from(t.positions).where(eq(t.positions.connector, connector)).all();
      return Object.fromEntries(rows.map((r) => [r.instrument, r.updated_at]));
    },

    reconcilePositions(connector, positions, now, seen) {
      // One writer job: nothing books a fill between these reads and the writes.
      return writer.run((): ReconcileResult => {
        const ledger = db
          .select({ instrument: t.positions.instrument, quantity: t.positions.quantity, updated_at: t.positions.updated_at })
          .from(t.positions)
          .where(eq(t.positions.connector, connector))
          .all();
        // An order in flight holds a reservation from its decision until it is terminal: the
        // broker may have filled what sluice has not heard of yet, which is not drift.
        const inFlight = db.selectDistinct({ instrument: t.reservations.instrument }).from(t.reservations).where(eq(t.reservations.connector, connector)).all();
        const plan = planReconcile(ledger, positions, now, seen, new Set(inFlight.map((r) => r.instrument)));
        const written = plan.adopt.map(({ write }) => {
          const key = and(eq(t.positions.connector, connector), eq(t.positions.instrument, write.instrument));
          const changes =
            write.expected === null
              ? db.insert(t.positions).values({ connector, instrument: write.instrument, last_price: null, ...write.values }).onConflictDoNothing().run().changes
              : db.update(t.positions).set(write.values).where(and(key, eq(t.positions.updated_at, write.expected))).run().changes;
          return changes === 1;
        });
        const { result, event } = settleReconcile(connector, plan, written, now);
        if (event !== null) ctx.append(event);
        return result;
      });
    },
  };
}
