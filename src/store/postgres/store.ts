/**
 * The PostgreSQL store (postgres.js + drizzle): the production store, shared by any number of
 * sluice instances on one database. Each verb is one READ COMMITTED transaction that includes
 * the event-log entries it implies (appended last, see transact.ts). Where instances can race,
 * the transaction serializes on the lock chosen for that point:
 *
 * - event log: advisory lock (one key per schema), taken last by every appending transaction and
 *   held to its commit; the head is read after it (in the same function call, migration 0007)
 *   and rows go in at head + 1, so all instances write one gap-free chain (no row to lock: the
 *   head row changes with every append).
 * - recordSignal: the unique index (source, dedupe_key) through `INSERT … ON CONFLICT DO NOTHING`;
 *   re-keying a body-hash key past its window takes the old row's lock (`FOR UPDATE`). With an
 *   HMAC nonce, the nonce row first (`ON CONFLICT DO NOTHING`: a concurrent twin waits, then
 *   finds it taken); with a replay window (github), an advisory lock per (source, body).
 * - gateSignal: row lock on the signal (decided once), then an advisory lock per connector
 *   (every gate of a connector, on every instance, reads exposure and reserves in turn).
 * - updateBreaker: a step that changes nothing (an answer on a healthy breaker) is decided on a
 *   read and takes no lock; any other takes the same per-connector advisory lock, so a half-open
 *   probe claimed by a gate and a breaker step never overwrite each other (before the first step
 *   there is no row).
 * - setMode / initMode, and a finish whose losing fill may trip the daily-loss limit: an
 *   advisory lock for the mode (before the first write there is no row).
 * - finishSignal: row lock on the signal, so the fill is booked once; retrySignal, renewLeases:
 *   conditional UPDATEs (row locks held for one statement).
 * - claimExpired: row locks with `SELECT … FOR UPDATE SKIP LOCKED`, so claimers split the rows.
 * - ledger and mock-broker positions: row lock on the position (`FOR UPDATE`; a missing one is
 *   created, `ON CONFLICT DO NOTHING`, then locked).
 * - reconcilePositions: the per-connector advisory lock, so two instances do not both adopt and
 *   log one drift; each adopted position is a write conditional on its version (a finish takes
 *   no connector lock, so a fill booked meanwhile makes it a no-op).
 *
 * Lock order: nonce row → body lock → signal row → connector lock → position / breaker rows → event-log lock (the mode
 * lock only before the event-log lock). Nothing waits for another lock while holding the
 * event-log lock, so these cannot deadlock.
 *
 * Connections: a pool of `max` with `statement_timeout` (lock waits count too), and one LISTEN
 * connection for the live feed (feed.ts). A connection the server dropped fails the query sent
 * on it; reads and transactions that had not sent COMMIT run again on a new one (transact.ts,
 * connection.ts). This file opens the pool and assembles the capabilities (one file each, the
 * same names as the SQLite store's).
 */
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Logger } from 'pino';
import type { Store } from '../store.js';
import { applyMigrations, retryOnDroppedConnection } from './connection.js';
import { advisoryLocks, type PgContext } from './context.js';
import type { Db } from './statements.js';
import { pgDeliveries } from './deliveries.js';
import { lastEventSeq, pgEvents, readEvents } from './events.js';
import { createEventFeed, listenConnection } from './feed.js';
import { pgFinish } from './finish.js';
import { pgOrders } from './orders.js';
import { pgGate } from './gate.js';
import { pgLedger } from './ledger.js';
import { pgMockBroker } from './mock-broker.js';
import { pgRuntime } from './runtime.js';
import * as t from './schema.js';
import { pgSignals } from './signals.js';
import { createTransact } from './transact.js';

export { postgresMigrationsFolder } from './connection.js';

export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:port/db`. */
  url: string;
  /** A schema of its own (created if missing); tables, migrations table and notifications are scoped to it. */
  schema?: string;
  /** Pool size (default 10). */
  max?: number;
  /** `statement_timeout` of every pooled connection (default 5000 ms; lock waits count too). */
  statementTimeoutMs?: number;
  /** `application_name` of every connection (default `sluice`), to find them in `pg_stat_activity`. */
  applicationName?: string;
  logger?: Logger;
  /** The clock of what the store stamps itself (an appended event's `at`, a cursor's update). */
  now?: () => Date;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** NAMEDATALEN - 1: longer channel names are refused by pg_notify. */
const MAX_CHANNEL = 63;

/** Opens the pool, applies pending migrations (awaited, before anything runs) and returns the store. */
export async function createPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  const schema = opts.schema;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`postgres store: schema must match ${String(SCHEMA_NAME)}, got ${JSON.stringify(schema)}`);
  }
  const namespace = schema ?? 'public';
  const applicationName = opts.applicationName ?? 'sluice';
  const statementTimeout = opts.statementTimeoutMs ?? 5000;
  const onnotice = (notice: postgres.Notice): void => opts.logger?.debug({ notice: notice.message }, 'postgres notice');

  await applyMigrations(opts.url, schema, applicationName, onnotice);

  const client = postgres(opts.url, {
    max: opts.max ?? 10,
    connect_timeout: 10,
    idle_timeout: 30,
    // No array type is read or written. With it on, postgres.js's first query on every new
    // connection is its own read of pg_type, and a connection terminated while that query is
    // sent rejects a promise nobody holds: Node would end the process.
    fetch_types: false,
    onnotice,
    // Startup parameters of every pooled connection. postgres.js replaces a connection that
    // died (server restart, pg_terminate_backend) with a new one at the next query.
    connection: {
      application_name: applicationName,
      statement_timeout: statementTimeout,
      // A transaction left open by a hung process would hold its locks (the event-log lock
      // among them) for every instance: the server ends it.
      idle_in_transaction_session_timeout: Math.max(statementTimeout, 1000) * 3,
      ...(schema === undefined ? {} : { search_path: schema }),
    },
  });
  const db: Db = drizzle(preparing(client), { schema: t });
  // Every pooled connection may have been dropped at once (a server restart).
  const attempts = (opts.max ?? 10) + 1;
  const reconnecting = <T>(step: () => Promise<T>): Promise<T> => retryOnDroppedConnection(step, attempts);
  const channel = `sluice_events_${namespace}`.slice(0, MAX_CHANNEL);
  const locks = advisoryLocks(namespace);

  const feed = createEventFeed({
    ...listenConnection({ url: opts.url, channel, applicationName, onnotice }, { notified: () => feed.notified(), lost: () => feed.listenLost() }),
    read: (after, limit) => reconnecting(() => readEvents(db, after, limit)),
    head: () => reconnecting(() => lastEventSeq(db)),
    ...(opts.logger === undefined ? {} : { logger: opts.logger }),
  });
  const ctx: PgContext = { db, ...createTransact({ db, locks, feed, channel, attempts }), reconnecting, locks, now: opts.now ?? (() => new Date()) };

  let closed = false;
  return {
    dialect: 'postgres',
    async ping() {
      await reconnecting(async () => client`select 1`);
    },
    async close() {
      if (closed) return;
      closed = true;
      await feed.close();
      await client.end({ timeout: 5 });
    },
    ...pgSignals(ctx),
    ...pgGate(ctx),
    ...pgFinish(ctx),
    ...pgOrders(ctx),
    ...pgLedger(ctx),
    ...pgRuntime(ctx),
    ...pgEvents(ctx, feed),
    ...pgDeliveries(ctx),
    mock: pgMockBroker(ctx),
  };
}

/**
 * drizzle runs every query through postgres.js's `unsafe`, which does not prepare statements, so
 * each statement with parameters took two round trips (Parse and Describe, then Bind and Execute)
 * and was parsed every time. This view of the client prepares the statements of transactions:
 * postgres.js names each one once per connection and then sends it in one round trip. Only inside
 * a transaction, whose connection is reserved: outside, a prepared statement lets postgres.js
 * pipeline pooled queries onto a busy connection, where a BEGIN can fail to reserve it
 * (porsager/postgres#1189, #1204), so pooled reads stay as they were. `?prepare=false` in
 * DATABASE_URL turns it off (postgres.js's own option wins).
 */
export function preparing(sql: postgres.Sql): postgres.Sql {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if ((prop !== 'begin' && prop !== 'savepoint') || typeof value !== 'function') return value;
      return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args.map(transactionCallback));
    },
  });
}

/** A transaction's (or savepoint's) callback, handed a client whose statements are prepared; other arguments as they are. */
function transactionCallback(arg: unknown): unknown {
  if (typeof arg !== 'function') return arg;
  const callback = arg as (tx: postgres.TransactionSql) => unknown;
  return (tx: postgres.TransactionSql) =>
    callback(
      new Proxy(tx, {
        get(target, prop, receiver) {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (prop === 'unsafe' && typeof value === 'function') {
            return (query: string, params?: postgres.ParameterOrJSON<never>[], options?: postgres.UnsafeQueryOptions) => target.unsafe(query, params, { ...options, prepare: true });
          }
          if (prop === 'savepoint' && typeof value === 'function') {
            return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args.map(transactionCallback));
          }
          return value;
        },
      }),
    );
}
