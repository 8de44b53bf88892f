/** Refused deliveries on SQLite; retention follows plans/deliveries.ts. */
import { and, desc, eq, lt, sql } from 'drizzle-orm';
import type { DeliveryStore } from '../contract/deliveries.js';
import { planRefusedDelivery } from '../plans/deliveries.js';
import { pageOf, refusedDeliveryFromRow } from '../records.js';
import { type SqliteContext } from './context.js';
import { ph, phs } from '../placeholders.js';
import * as t from './schema.js';

export function sqliteDeliveries(ctx: SqliteContext): DeliveryStore {
  const { db, writer } = ctx;
  const q = {
    insert: db
      .insert(t.deliveries)
      .values(phs('at', 'source', 'code', 'bucket', 'reason', 'issues', 'request_id', 'body_excerpt'))
      .prepare(),
    // Counted in rows, not by seq arithmetic: the newest `keep` rows of the bucket stay whatever the gaps.
    keepNewest: db
      .delete(t.deliveries)
      .where(
        and(
          eq(t.deliveries.bucket, ph('bucket')),
          sql`${t.deliveries.seq} < (select ${t.deliveries.seq} from ${t.deliveries} where ${t.deliveries.bucket} = ${ph('bucket')} order by ${t.deliveries.seq} desc limit 1 offset ${ph('offset')})`,
        ),
      )
      .prepare(),
    clear: db.delete(t.deliveries).prepare(),
  };
  return {
    recordRefusedDelivery(delivery, keep) {
      const plan = planRefusedDelivery(delivery, keep);
      return writer.run(() => {
        if (plan.kind === 'clear') {
          q.clear.run();
          return;
        }
        q.insert.run(plan.row);
        if (plan.keep !== null) q.keepNewest.run({ bucket: plan.row.bucket, offset: plan.keep - 1 });
      });
    },

    async listRefusedDeliveries(limit, cursor) {
      const rows = db
        .select()
        .from(t.deliveries)
        .where(cursor === undefined ? undefined : lt(t.deliveries.seq, Number(cursor)))
        .orderBy(desc(t.deliveries.seq))
        .limit(limit + 1)
        .all();
      return pageOf(rows, limit, refusedDeliveryFromRow, (r) => String(r.seq));
    },
  };
}
