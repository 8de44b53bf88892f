/**
 * The event log on PostgreSQL: appends go through transact.ts (event-log lock, head read after
 * it), reads are retried on a dropped connection, and subscribers hear every instance's events
 * through the feed (feed.ts).
 */
import { asc, desc, eq, sql } from 'drizzle-orm';
import type { EventStore } from '../contract/events.js';
import { appendedEvent } from '../plans/events.js';
import { eventRecordFromRow } from '../records.js';
import type { PgContext } from './context.js';
import type { Executor } from './statements.js';
import type { EventFeed } from './feed.js';
import * as t from './schema.js';

export async function readEvents(ex: Executor, after: number, limit: number) {
  const rows = await ex.select().from(t.events).where(sql`${t.events.seq} > ${after}`).orderBy(asc(t.events.seq)).limit(limit);
  return rows.map(eventRecordFromRow);
}

export async function lastEventSeq(ex: Executor): Promise<number> {
  const [row] = await ex.select({ seq: t.events.seq }).from(t.events).orderBy(desc(t.events.seq)).limit(1);
  return row?.seq ?? 0;
}

export function pgEvents(ctx: PgContext, feed: Pick<EventFeed, 'subscribe'>): EventStore {
  const { db, reconnecting } = ctx;
  return {
    async appendEvent(event, at) {
      const { events } = await ctx.transactWithEvents(async (_tx, emit) => emit(appendedEvent(event, at, ctx.now)));
      const [record] = events;
      if (record === undefined) throw new Error('appendEvent: nothing was appended');
      return record;
    },
    listEvents(after, limit) {
      return reconnecting(() => readEvents(db, after, limit));
    },
    listSignalEvents(signalId) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.events).where(eq(t.events.signal_id, signalId)).orderBy(asc(t.events.seq));
        return rows.map(eventRecordFromRow);
      });
    },
    lastEventSeq() {
      return reconnecting(() => lastEventSeq(db));
    },
    subscribe(listener) {
      return feed.subscribe(listener);
    },
  };
}
