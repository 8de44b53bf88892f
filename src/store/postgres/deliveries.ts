/** Refused deliveries on PostgreSQL; retention follows plans/deliveries.ts. */
import { desc, lt, sql } from 'drizzle-orm';
import type { DeliveryStore } from '../contract/deliveries.js';
import { planRefusedDelivery } from '../plans/deliveries.js';
import { pageOf, refusedDeliveryFromRow } from '../records.js';
import type { PgContext } from './context.js';
import * as t from './schema.js';

export function pgDeliveries(ctx: PgContext): DeliveryStore {
  const { db, transact, reconnecting } = ctx;
  return {
    recordRefusedDelivery(delivery, keep) {
      const plan = planRefusedDelivery(delivery, keep);
      return transact(async (tx) => {
        if (plan.kind === 'clear') {
          await tx.delete(t.deliveries);
          return;
        }
        await tx.insert(t.deliveries).values(plan.row);
        if (plan.keep === null) return;
        // Keep the newest `keep` rows of the bucket by seq (identity values may have gaps, so count rows).
        const { bucket } = plan.row;
        await tx.execute(
          sql`delete from ${t.deliveries} where ${t.deliveries.bucket} = ${bucket} and ${t.deliveries.seq} < (select ${t.deliveries.seq} from ${t.deliveries} where ${t.deliveries.bucket} = ${bucket} order by ${t.deliveries.seq} desc offset ${plan.keep - 1} limit 1)`,
        );
      });
    },

    listRefusedDeliveries(limit, cursor) {
      return reconnecting(async () => {
        const rows = await db
          .select()
          .from(t.deliveries)
          .where(cursor === undefined ? undefined : lt(t.deliveries.seq, Number(cursor)))
          .orderBy(desc(t.deliveries.seq))
          .limit(limit + 1);
        return pageOf(rows, limit, refusedDeliveryFromRow, (r) => String(r.seq));
      });
    },
  };
}
