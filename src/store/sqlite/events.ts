/**
 * The event log on SQLite. One process owns the file, so the chain head is kept in memory: it
 * mirrors the last row, moves with every append of the running job, and is restored by the
 * writer when a job rolls back (or read again from the file after a whole batch failed). Appended events are
 * published to subscribers once their batch committed.
 */
import { asc, desc, eq, gt } from 'drizzle-orm';
import { chainEntry, GENESIS_HASH } from '../../events/chain.js';
import type { EventRecord, EventStore } from '../contract/events.js';
import { appendedEvent, type TimedEvent } from '../plans/events.js';
import { eventRecordFromRow } from '../records.js';
import { type SqliteContext, type SqliteDb } from './context.js';
import { ph, phs } from '../placeholders.js';
import * as t from './schema.js';
import type { WriterHooks } from './writer.js';

export function createSqliteEventLog(db: SqliteDb) {
  const q = {
    insertEvent: db
      .insert(t.events)
      .values(phs('seq', 'at', 'type', 'signal_id', 'data', 'prev_hash', 'hash'))
      .prepare(),
    head: db.select({ seq: t.events.seq, hash: t.events.hash }).from(t.events).orderBy(desc(t.events.seq)).limit(1).prepare(),
  };
  const loadHead = (): { seq: number; hash: string } => q.head.get() ?? { seq: 0, hash: GENESIS_HASH };

  /** null: unknown since a batch failed; read again at the next append (the disk may still refuse). */
  let head: { seq: number; hash: string } | null = loadHead();
  let unpublished: EventRecord[] = [];
  const listeners = new Set<(event: EventRecord) => void>();

  const hooks: WriterHooks = {
    snapshot: () => ({ head, count: unpublished.length }),
    restore: (snap) => {
      const s = snap as { head: typeof head; count: number };
      head = s.head;
      unpublished = unpublished.slice(0, s.count);
    },
    onBatchFailed: () => {
      head = null;
      unpublished = [];
    },
    onCommitted: () => {
      const committed = unpublished;
      unpublished = [];
      for (const event of committed) {
        for (const listener of listeners) {
          try {
            listener(event);
          } catch {
            // A listener's bug must not break the commit path; listeners log their own errors.
          }
        }
      }
    },
  };

  /** Appends one event inside the running job. */
  function append({ event, at }: TimedEvent): EventRecord {
    head ??= loadHead();
    const entry = { seq: head.seq + 1, at: at.toISOString(), type: event.type, signal_id: event.signal_id ?? null, data: event.data };
    const { hash, data } = chainEntry(head.hash, entry);
    const record: EventRecord = { ...entry, prev_hash: head.hash, hash };
    q.insertEvent.run({ ...record, data });
    head = { seq: entry.seq, hash };
    unpublished.push(record);
    return record;
  }

  return { hooks, append, listeners, lastSeq: () => loadHead().seq };
}

export type SqliteEventLog = ReturnType<typeof createSqliteEventLog>;

export function sqliteEvents(ctx: SqliteContext, log: SqliteEventLog): EventStore {
  const { db } = ctx;
  const eventsAfter = db.select().from(t.events).where(gt(t.events.seq, ph('after'))).orderBy(asc(t.events.seq)).limit(ph('limit')).prepare();
  return {
    appendEvent(event, at) {
      return ctx.writer.run(() => log.append(appendedEvent(event, at, ctx.now)));
    },
    async listEvents(after, limit) {
      return eventsAfter.all({ after, limit }).map(eventRecordFromRow);
    },
    async listSignalEvents(signalId) {
      return db.select().from(t.events).where(eq(t.events.signal_id, signalId)).orderBy(asc(t.events.seq)).all().map(eventRecordFromRow);
    },
    async lastEventSeq() {
      return log.lastSeq();
    },
    subscribe(listener) {
      log.listeners.add(listener);
      return () => log.listeners.delete(listener);
    },
  };
}
