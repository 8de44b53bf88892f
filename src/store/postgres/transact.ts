/**
 * One verb, one READ COMMITTED transaction, with the events it implies appended last under the
 * event-log lock, and run again on a fresh connection when the server dropped the one it was
 * on before COMMIT was sent.
 */
import { chainEntry, GENESIS_HASH } from '../../events/chain.js';
import type { EventRecord } from '../contract/events.js';
import type { TimedEvent } from '../plans/events.js';
import { driverError, isDroppedConnection, isStalePreparedStatement } from './connection.js';
import type { Db, Emit, PgLocks, Tx } from './context.js';
import type { EventFeed } from './feed.js';
import * as t from './schema.js';

export interface TransactDeps {
  db: Db;
  locks: PgLocks;
  feed: Pick<EventFeed, 'began' | 'committed'>;
  /** The NOTIFY channel of the schema. */
  channel: string;
  /** Every pooled connection may have been dropped at once (a server restart): pool size + 1. */
  attempts: number;
}

export function createTransact(deps: TransactDeps) {
  const { db, locks, feed, channel } = deps;

  /**
   * Appends the transaction's events at its end. The event-log lock serializes every appender
   * of every instance until its commit; the head is read in a statement *after* the one that
   * took the lock (READ COMMITTED takes a snapshot per statement), so it sees the previous
   * appender's committed row and the chain continues from it without a gap or a fork.
   *
   * The lock bounds the log's throughput, so it is held for three round trips, not five: the
   * lock, the head's read and the notification are one function call (`eventLogHead`), then
   * the insert, then COMMIT. Nothing is pipelined: a statement sent behind one that fails (a
   * prepared insert gone stale) fails as "transaction aborted", which hides the cause that
   * `transactWithEvents` retries on.
   */
  async function appendEvents(tx: Tx, pending: TimedEvent[]): Promise<EventRecord[]> {
    if (pending.length === 0) return [];
    // Its notification reaches every listening instance when (and only if) this commits.
    let head = (await locks.eventLogHead(tx, channel, pending.length)) ?? { seq: 0, hash: GENESIS_HASH };
    const records: EventRecord[] = [];
    const rows: (typeof t.events.$inferInsert)[] = [];
    for (const { event, at } of pending) {
      const entry = { seq: head.seq + 1, at: at.toISOString(), type: event.type, signal_id: event.signal_id ?? null, data: event.data };
      const { hash, data } = chainEntry(head.hash, entry);
      const record = { ...entry, prev_hash: head.hash, hash };
      records.push(record);
      rows.push({ ...record, data });
      head = { seq: entry.seq, hash };
    }
    await tx.insert(t.events).values(rows);
    return records;
  }

  /**
   * `work` queues its events through `emit`; they are appended last, so the event-log lock is
   * held only for the lock-and-head call, the final insert and the commit.
   */
  async function transactWithEvents<T>(work: (tx: Tx, emit: Emit) => Promise<T>): Promise<{ value: T; events: EventRecord[] }> {
    const done = feed.began();
    try {
      for (let attempt = 1; ; attempt += 1) {
        const progress = { committing: false };
        try {
          const outcome = await db.transaction(async (tx) => {
            const pending: TimedEvent[] = [];
            const value = await work(tx, (event) => pending.push(event));
            const events = await appendEvents(tx, pending);
            progress.committing = true;
            return { value, events };
          });
          if (outcome.events.length > 0) feed.committed(outcome.events);
          return outcome;
        } catch (error) {
          // A connection the server dropped (restart, failover, pg_terminate_backend) fails the
          // query sent on it. Before COMMIT was sent, the server rolled the transaction back with
          // the connection: run it again on a fresh one. Once COMMIT is on its way the outcome is
          // unknown (it may have landed), so the error stands.
          // So does a prepared statement the server refused (connection.ts): the server rolled the
          // transaction back, and it runs again (the statement prepared afresh).
          const cause = driverError(error);
          if (progress.committing || attempt >= deps.attempts || !(isDroppedConnection(cause) || isStalePreparedStatement(cause))) throw cause;
        }
      }
    } finally {
      done();
    }
  }

  async function transact<T>(work: (tx: Tx, emit: Emit) => Promise<T>): Promise<T> {
    return (await transactWithEvents(work)).value;
  }

  return { transact, transactWithEvents };
}
