/**
 * One verb, one READ COMMITTED transaction, with the events it implies appended last under the
 * event-log lock, and run again on a fresh connection when the server dropped the one it was
 * on before COMMIT was sent.
 */
import { chainEntry, GENESIS_HASH } from '../../events/chain.js';
import type { EventRecord } from '../contract/events.js';
import type { TimedEvent } from '../plans/events.js';
import { driverError, isDroppedConnection, isStalePreparedStatement } from './connection.js';
import { ph } from '../placeholders.js';
import type { Emit, PgLocks } from './context.js';
import { builder, run, statement, transactionDb, type Db, type Statement, type Tx } from './statements.js';
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

type EventRow = typeof t.events.$inferInsert;
const EVENT_COLUMNS = ['seq', 'at', 'type', 'signal_id', 'data', 'prev_hash', 'hash'] as const satisfies readonly (keyof EventRow)[];
/** Row `i`'s values, named as `insertEvents` names its placeholders. */
const eventValues = (row: EventRow, i: number) => Object.fromEntries(EVENT_COLUMNS.map((column) => [`${column}${i}`, row[column] ?? null]));

/** The insert of `n` events, built once for each `n` (a verb appends one to a few). */
const eventInserts = new Map<number, Statement<unknown>>();
function insertEvents(n: number): Statement<unknown> {
  let insert = eventInserts.get(n);
  if (insert === undefined) {
    const rows = Array.from({ length: n }, (_, i) => ({
      seq: ph(`seq${i}`),
      at: ph(`at${i}`),
      type: ph(`type${i}`),
      signal_id: ph(`signal_id${i}`),
      data: ph(`data${i}`),
      prev_hash: ph(`prev_hash${i}`),
      hash: ph(`hash${i}`),
    }));
    insert = statement(builder.insert(t.events).values(rows).prepare(`events_${n}`));
    eventInserts.set(n, insert);
  }
  return insert;
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
    await run(insertEvents(rows.length), tx, Object.assign({}, ...rows.map((row, i) => eventValues(row, i))));
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
          const outcome = await db.$client.begin(async (sql) => {
            const tx = transactionDb(sql);
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
