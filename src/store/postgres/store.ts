/**
 * The PostgreSQL store (postgres.js + drizzle): the production store, shared by any number of
 * sluice instances on one database. Each verb is one READ COMMITTED transaction that includes
 * the event-log entries it implies (appended last, see appendEvents). Where instances can race,
 * the transaction serializes on the lock chosen for that point:
 *
 * - event log: advisory lock (one key per schema), taken last by every appending transaction and
 *   held to its commit; the head is read after it and rows go in at head + 1, so all instances
 *   write one gap-free chain (no row to lock: the head row changes with every append).
 * - recordSignal: the unique index (source, dedupe_key) through `INSERT … ON CONFLICT DO NOTHING`;
 *   re-keying a body-hash key past its window takes the old row's lock (`FOR UPDATE`).
 * - gateSignal: row lock on the signal (decided once), then an advisory lock per connector
 *   (every gate of a connector, on every instance, reads exposure and reserves in turn).
 * - updateBreaker: the same per-connector advisory lock, so a half-open probe claimed by a gate
 *   and a breaker step never overwrite each other (before the first step there is no row).
 * - setMode / initMode: an advisory lock for the mode (before the first write there is no row).
 * - finishSignal: row lock on the signal, so the fill is booked once; retrySignal, renewLeases:
 *   conditional UPDATEs (row locks held for one statement).
 * - claimExpired: row locks with `SELECT … FOR UPDATE SKIP LOCKED`, so claimers split the rows.
 * - ledger and mock-broker positions: row lock on the position (created if missing, then `FOR UPDATE`).
 * - reconcilePositions: the per-connector advisory lock, so two instances do not both adopt and
 *   log one drift.
 *
 * Lock order: signal row → connector lock → position / breaker rows → event-log lock (the mode
 * lock only before the event-log lock). Nothing waits for another lock while holding the
 * event-log lock, so these cannot deadlock.
 *
 * Connections: a pool of `max` with `statement_timeout` (lock waits count too), and one LISTEN
 * connection for the live feed (createEventFeed). A connection the server dropped fails the
 * query sent on it; reads and transactions that had not sent COMMIT run again on a new one.
 */
import { fileURLToPath } from 'node:url';
import { and, asc, count, desc, eq, inArray, like, lt, or, sql } from 'drizzle-orm';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { drizzle, type PostgresJsDatabase, type PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Logger } from 'pino';
import type { Mode, Position, SignalStatus } from '../../domain/types.js';
import { GENESIS_HASH, hashEntry } from '../../events/chain.js';
import { breakerView, initialBreaker, isBreakerState, type BreakerState, type BreakerStep } from '../../domain/breaker.js';
import { diffPositions, type PositionDrift } from '../../domain/ledger.js';
import type { StoredGateState } from '../../domain/gate-state.js';
import { applyFill } from '../../domain/ledger.js';
import { tripsDailyLoss } from '../../guardrails/daily-loss.js';
import { eventRecordFromRow, isoFromMs, mockOrderCursor, orderFromMockRow, pageOf, parseMockOrderCursor, refusedDeliveryFromRow, signalRecordFromRow } from '../records.js';
import type {
  Attempt,
  ConnectorLedger,
  EventRecord,
  FinishOutcome,
  GateOutcome,
  MockBrokerStore,
  MockOrderRecord,
  ModeState,
  NewEvent,
  QueueStats,
  RecordOutcome,
  RefusedDelivery,
  SignalRecord,
  Store,
} from '../store.js';
import * as t from './schema.js';

export const POSTGRES_MIGRATIONS = fileURLToPath(new URL('../../../drizzle/postgres', import.meta.url));

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
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** NAMEDATALEN - 1: longer channel names are refused by pg_notify. */
const MAX_CHANNEL = 63;
const FEED_PAGE = 1000;

type Db = PostgresJsDatabase<typeof t>;
/** The pool or a transaction: helpers that only read run on either. */
type Executor = PgDatabase<PostgresJsQueryResultHKT, typeof t>;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Queues an event to be appended, in order, when the transaction's work is done. */
type Emit = (event: NewEvent, at: Date) => void;

const MODE_KEY = 'mode';
const breakerKey = (connector: string): string => `breaker:${connector}`;
const cursorKey = (name: string): string => `cursor:${name}`;
const toNumber = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));
const toNumberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

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
    onnotice,
    // Startup parameters of every pooled connection (and of the LISTEN connection, which
    // postgres.js opens with the same options). postgres.js replaces a connection that died
    // (server restart, pg_terminate_backend) with a new one at the next query.
    connection: {
      application_name: applicationName,
      statement_timeout: statementTimeout,
      // A transaction left open by a hung process would hold its locks (the event-log lock
      // among them) for every instance: the server ends it.
      idle_in_transaction_session_timeout: Math.max(statementTimeout, 1000) * 3,
      ...(schema === undefined ? {} : { search_path: schema }),
    },
  });
  const db: Db = drizzle(client, { schema: t });
  // Every pooled connection may have been dropped at once (a server restart).
  const reconnectAttempts = (opts.max ?? 10) + 1;
  const reconnecting = <T>(step: () => Promise<T>): Promise<T> => retryOnDroppedConnection(step, reconnectAttempts);

  // Advisory-lock keys are database-wide: they carry the schema so that stores in different
  // schemas (tests, tenants) do not serialize on each other.
  const lockKey = (what: string): ReturnType<typeof sql> => sql`hashtextextended(${`sluice:${namespace}:${what}`}, 0)`;
  const eventLogLock = lockKey('events');
  const modeLock = lockKey('mode');
  const channel = `sluice_events_${namespace}`.slice(0, MAX_CHANNEL);

  async function lockConnector(tx: Tx, connector: string): Promise<void> {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`sluice:${namespace}`}), hashtext(${connector}))`);
  }

  /**
   * Appends the transaction's events at its end. The event-log lock serializes every appender
   * of every instance until its commit; the head is read in a statement *after* the one that
   * took the lock (READ COMMITTED takes a snapshot per statement), so it sees the previous
   * appender's committed row and the chain continues from it without a gap or a fork.
   */
  async function appendEvents(tx: Tx, pending: Array<{ event: NewEvent; at: Date }>): Promise<EventRecord[]> {
    if (pending.length === 0) return [];
    await tx.execute(sql`select pg_advisory_xact_lock(${eventLogLock})`);
    const [last] = await tx.select({ seq: t.events.seq, hash: t.events.hash }).from(t.events).orderBy(desc(t.events.seq)).limit(1);
    let head = last ?? { seq: 0, hash: GENESIS_HASH };
    const records: EventRecord[] = [];
    for (const { event, at } of pending) {
      const entry = { seq: head.seq + 1, at: at.toISOString(), type: event.type, signal_id: event.signal_id ?? null, data: event.data };
      const hash = hashEntry(head.hash, entry);
      records.push({ ...entry, prev_hash: head.hash, hash });
      head = { seq: entry.seq, hash };
    }
    await tx.insert(t.events).values(records.map((r) => ({ ...r, data: JSON.stringify(r.data) })));
    // Delivered to every listening instance when (and only if) this transaction commits.
    await tx.execute(sql`select pg_notify(${channel}, ${String(head.seq)})`);
    return records;
  }

  /**
   * One verb, one transaction. `work` queues its events through `emit`; they are appended last,
   * so the event-log lock is held only for the final insert and the commit.
   */
  async function transactWithEvents<T>(work: (tx: Tx, emit: Emit) => Promise<T>): Promise<{ value: T; events: EventRecord[] }> {
    const done = feed.began();
    try {
      for (let attempt = 1; ; attempt += 1) {
        const progress = { committing: false };
        try {
          const outcome = await db.transaction(async (tx) => {
            const pending: Array<{ event: NewEvent; at: Date }> = [];
            const value = await work(tx, (event, at) => pending.push({ event, at }));
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
          const cause = driverError(error);
          if (progress.committing || attempt >= reconnectAttempts || !isDroppedConnection(cause)) throw cause;
        }
      }
    } finally {
      done();
    }
  }

  async function transact<T>(work: (tx: Tx, emit: Emit) => Promise<T>): Promise<T> {
    return (await transactWithEvents(work)).value;
  }

  async function readState(ex: Executor, key: string): Promise<string | null> {
    const [row] = await ex.select({ value: t.runtimeState.value }).from(t.runtimeState).where(eq(t.runtimeState.key, key));
    return row?.value ?? null;
  }

  async function writeState(ex: Executor, key: string, value: unknown, now: Date): Promise<void> {
    const text = JSON.stringify(value);
    await ex
      .insert(t.runtimeState)
      .values({ key, value: text, updated_at: now.getTime() })
      .onConflictDoUpdate({ target: t.runtimeState.key, set: { value: text, updated_at: now.getTime() } });
  }

  const parseMode = (value: string | null): ModeState | null => (value === null ? null : (JSON.parse(value) as ModeState));

  /**
   * Read-modify-write of the mode (its `from` goes into the event): serialized by the mode lock,
   * since before the first write there is no row to lock.
   */
  async function writeMode(tx: Tx, emit: Emit, mode: Mode, reason: string | null, actor: string, now: Date): Promise<ModeState> {
    await tx.execute(sql`select pg_advisory_xact_lock(${modeLock})`);
    const current = parseMode(await readState(tx, MODE_KEY));
    if (current !== null && current.mode === mode && current.reason === reason) return current;
    const next: ModeState = { mode, reason, changed_at: now.toISOString() };
    await writeState(tx, MODE_KEY, next, now);
    emit({ type: 'mode.changed', data: { from: current?.mode ?? null, to: mode, reason, actor } }, now);
    return next;
  }

  function parseBreaker(value: string | null): BreakerState {
    if (value === null) return initialBreaker();
    const parsed: unknown = JSON.parse(value);
    return isBreakerState(parsed) ? parsed : initialBreaker();
  }

  /** Stores a breaker step (no write when nothing changed, as SQLite) and queues its transition. */
  async function storeBreakerStep(tx: Tx, emit: Emit, connector: string, current: string | null, step: BreakerStep, now: Date, reason: string): Promise<BreakerState> {
    const next = JSON.stringify(step.next);
    if (current !== next && !(current === null && step.next.state === 'closed' && step.next.consecutive_failures === 0)) {
      await writeState(tx, breakerKey(connector), step.next, now);
    }
    if (step.transition !== null) {
      emit({ type: `breaker.${step.transition}`, data: { connector, reason, ...breakerView(step.next) } }, now);
    }
    return step.next;
  }

  /**
   * Everything the gate reads, in ONE statement: READ COMMITTED gives each statement one
   * snapshot, so a finish committing meanwhile (position booked, reservation released) is seen
   * either entirely or not at all, never as a position without its fill and without its
   * reservation. Gates of the connector are serialized by the caller's connector lock.
   */
  async function loadGateState(
    tx: Tx,
    connector: string,
    instrument: string,
    tradingDay: string,
    now: Date,
    orderRateCap: number | null,
  ): Promise<{ state: StoredGateState; breaker: string | null }> {
    // Counts at most one past the cap: a busy minute costs no more than the limit needs.
    const cap = orderRateCap === null ? 0 : orderRateCap + 1;
    const rows = await tx.execute<{
      position: unknown;
      last_price: unknown;
      gross: unknown;
      reserved: unknown;
      reserved_instrument: unknown;
      pending: unknown;
      realized: unknown;
      orders: unknown;
      mode: string | null;
      breaker: string | null;
    }>(sql`
      select
        (select ${t.positions.quantity} from ${t.positions} where ${t.positions.connector} = ${connector} and ${t.positions.instrument} = ${instrument}) as position,
        (select ${t.positions.last_price} from ${t.positions} where ${t.positions.connector} = ${connector} and ${t.positions.instrument} = ${instrument}) as last_price,
        (select sum(abs(${t.positions.quantity}) * coalesce(${t.positions.last_price}, ${t.positions.avg_price})) from ${t.positions} where ${t.positions.connector} = ${connector}) as gross,
        (select sum(${t.reservations.notional}) from ${t.reservations} where ${t.reservations.connector} = ${connector}) as reserved,
        (select sum(${t.reservations.notional}) from ${t.reservations} where ${t.reservations.connector} = ${connector} and ${t.reservations.instrument} = ${instrument}) as reserved_instrument,
        (select sum(${t.reservations.quantity}) from ${t.reservations} where ${t.reservations.connector} = ${connector} and ${t.reservations.instrument} = ${instrument}) as pending,
        (select ${t.pnlDays.realized} from ${t.pnlDays} where ${t.pnlDays.connector} = ${connector} and ${t.pnlDays.day} = ${tradingDay}) as realized,
        (select count(*) from (select 1 from ${t.signals} where ${t.signals.decided_at} >= ${now.getTime() - 60_000} and ${t.signals.order_side} is not null limit ${cap}) as recent) as orders,
        (select ${t.runtimeState.value} from ${t.runtimeState} where ${t.runtimeState.key} = ${MODE_KEY}) as mode,
        (select ${t.runtimeState.value} from ${t.runtimeState} where ${t.runtimeState.key} = ${breakerKey(connector)}) as breaker
    `);
    const row = rows[0];
    if (row === undefined) throw new Error('gate state query returned no row');
    return {
      state: {
        mode: parseMode(row.mode)?.mode ?? 'enabled',
        position: toNumber(row.position),
        last_price: toNumberOrNull(row.last_price),
        gross_exposure: toNumber(row.gross),
        reserved_exposure: toNumber(row.reserved),
        reserved_instrument: toNumber(row.reserved_instrument),
        pending_quantity: toNumber(row.pending),
        realized_pnl_today: toNumber(row.realized),
        orders_last_minute: toNumber(row.orders),
      },
      breaker: row.breaker,
    };
  }

  async function readPnl(ex: Executor, connector: string, day: string): Promise<number> {
    const [row] = await ex
      .select({ realized: t.pnlDays.realized })
      .from(t.pnlDays)
      .where(and(eq(t.pnlDays.connector, connector), eq(t.pnlDays.day, day)));
    return row?.realized ?? 0;
  }

  async function grossExposure(ex: Executor, connector: string): Promise<number> {
    const [row] = await ex
      .select({ gross: sql<number | null>`sum(abs(${t.positions.quantity}) * coalesce(${t.positions.last_price}, ${t.positions.avg_price}))`.mapWith(toNumber) })
      .from(t.positions)
      .where(eq(t.positions.connector, connector));
    return row?.gross ?? 0;
  }

  async function reservedExposure(ex: Executor, connector: string): Promise<number> {
    const [row] = await ex
      .select({ total: sql<number>`sum(${t.reservations.notional})`.mapWith(toNumber) })
      .from(t.reservations)
      .where(eq(t.reservations.connector, connector));
    return row?.total ?? 0;
  }

  /**
   * Books a fill into the ledger. The position row is created if missing (a flat row, which
   * `applyFill` treats as no position) and then locked, so two instances finishing orders of
   * one instrument apply their fills one after the other.
   */
  /** Books a fill; returns the day's realized PnL after it and what this fill realized. */
  async function insertAttempt(tx: Tx, emit: Emit, signalId: string, attempt: Attempt): Promise<void> {
    const at = Date.parse(attempt.at);
    if (Number.isNaN(at)) throw new RangeError(`recordAttempt: invalid time ${JSON.stringify(attempt.at)}`);
    await tx.insert(t.attempts).values({ signal_id: signalId, n: attempt.n, at, outcome: attempt.outcome, error: attempt.error });
    emit({ type: 'signal.attempt', signal_id: signalId, data: { ...attempt } }, new Date(attempt.at));
  }

  async function bookFill(
    tx: Tx,
    connector: string,
    instrument: string,
    fill: { side: 'buy' | 'sell'; quantity: number; price: number },
    tradingDay: string,
    now: Date,
  ): Promise<{ day: number; fill: number }> {
    await tx
      .insert(t.positions)
      .values({ connector, instrument, quantity: 0, avg_price: 0, last_price: null, updated_at: now.getTime() })
      .onConflictDoNothing();
    const [current] = await tx
      .select()
      .from(t.positions)
      .where(and(eq(t.positions.connector, connector), eq(t.positions.instrument, instrument)))
      .for('update');
    const next = applyFill(current === undefined ? null : { quantity: current.quantity, avg_price: current.avg_price }, fill);
    await tx
      .update(t.positions)
      .set({ quantity: next.quantity, avg_price: next.avg_price, last_price: fill.price, updated_at: now.getTime() })
      .where(and(eq(t.positions.connector, connector), eq(t.positions.instrument, instrument)));
    // Atomic increment: concurrent fills of other instruments add to the same day row.
    const [pnl] = await tx
      .insert(t.pnlDays)
      .values({ connector, day: tradingDay, realized: next.realized_pnl })
      .onConflictDoUpdate({ target: [t.pnlDays.connector, t.pnlDays.day], set: { realized: sql`${t.pnlDays.realized} + excluded.realized` } })
      .returning({ realized: t.pnlDays.realized });
    return { day: pnl?.realized ?? next.realized_pnl, fill: next.realized_pnl };
  }

  // The feed's LISTEN runs on a connection of its own, outside the pool. Not postgres.js's
  // `listen()`: after an outage longer than its one reconnect attempt that stays silent for
  // good, where this connection reports its closing and the feed LISTENs again.
  let listenClient: postgres.Sql | null = null;
  const feed = createEventFeed({
    async listen() {
      if (listenClient === null) {
        // postgres.js calls `onnotify` for every notification of the client's connections; its
        // types omit the option, so it is passed as a variable (no excess-property check).
        const listenOptions = {
          max: 1,
          connect_timeout: 10,
          idle_timeout: 0,
          max_lifetime: null,
          fetch_types: false,
          onnotice,
          connection: { application_name: applicationName },
          onnotify: (name: string): void => {
            if (name === channel) feed.notified();
          },
          onclose: (): void => feed.listenLost(),
        };
        listenClient = postgres(opts.url, listenOptions);
      }
      // LISTEN lasts as long as the connection; a new connection needs it again.
      await listenClient.unsafe(`listen "${channel}"`);
    },
    async unlisten() {
      const current = listenClient;
      listenClient = null;
      await current?.end({ timeout: 5 });
    },
    read: (after, limit) => store.listEvents(after, limit),
    head: () => store.lastEventSeq(),
    ...(opts.logger === undefined ? {} : { logger: opts.logger }),
  });

  const mock: MockBrokerStore = {
    placeOrder(connector, order, now) {
      return transact(async (tx) => {
        // The broker's idempotency: the first insert of a client_order_id wins; a concurrent
        // one waits for it and then finds it.
        const [inserted] = await tx
          .insert(t.mockOrders)
          .values({ connector, ...order, created_at: now.getTime() })
          .onConflictDoNothing({ target: [t.mockOrders.connector, t.mockOrders.client_order_id] })
          .returning();
        if (inserted === undefined) {
          const [existing] = await tx
            .select()
            .from(t.mockOrders)
            .where(and(eq(t.mockOrders.connector, connector), eq(t.mockOrders.client_order_id, order.client_order_id)));
          if (existing === undefined) throw new Error(`mock broker: order ${order.client_order_id} conflicted but cannot be read`);
          return { created: false, order: orderFromMockRow(existing) };
        }
        if (order.filled_quantity > 0 && order.fill_price !== null) {
          // Same create-then-lock as the ledger's positions.
          await tx.insert(t.mockPositions).values({ connector, instrument: order.instrument, quantity: 0, avg_price: 0 }).onConflictDoNothing();
          const [current] = await tx
            .select()
            .from(t.mockPositions)
            .where(and(eq(t.mockPositions.connector, connector), eq(t.mockPositions.instrument, order.instrument)))
            .for('update');
          const next = applyFill(current ?? null, { side: order.side, quantity: order.filled_quantity, price: order.fill_price });
          await tx
            .update(t.mockPositions)
            .set({ quantity: next.quantity, avg_price: next.avg_price })
            .where(and(eq(t.mockPositions.connector, connector), eq(t.mockPositions.instrument, order.instrument)));
        }
        return { created: true, order };
      });
    },
    getOrder(connector, clientOrderId) {
      return reconnecting(async () => {
        const [row] = await db
          .select()
          .from(t.mockOrders)
          .where(and(eq(t.mockOrders.connector, connector), eq(t.mockOrders.client_order_id, clientOrderId)));
        return row === undefined ? null : orderFromMockRow(row);
      });
    },
    listOrders(connector, limit, cursor) {
      return reconnecting(async () => {
        const after = parseMockOrderCursor(cursor);
        const rows = await db
          .select()
          .from(t.mockOrders)
          .where(
            and(
              eq(t.mockOrders.connector, connector),
              after === null
                ? undefined
                : or(lt(t.mockOrders.created_at, after.created_at), and(eq(t.mockOrders.created_at, after.created_at), lt(t.mockOrders.client_order_id, after.client_order_id))),
            ),
          )
          .orderBy(desc(t.mockOrders.created_at), desc(t.mockOrders.client_order_id))
          .limit(limit + 1);
        return pageOf(
          rows,
          limit,
          (row): MockOrderRecord => ({ ...orderFromMockRow(row), created_at: isoFromMs(row.created_at) }),
          (row) => mockOrderCursor(row.created_at, row.client_order_id),
        );
      });
    },
    cancelOpenOrders(connector, instrument) {
      return transact(async (tx) => {
        const rows = await tx
          .update(t.mockOrders)
          .set({ status: 'canceled' })
          .where(
            and(
              eq(t.mockOrders.connector, connector),
              eq(t.mockOrders.instrument, instrument),
              inArray(t.mockOrders.status, ['new', 'accepted', 'partially_filled']),
            ),
          )
          .returning({ id: t.mockOrders.client_order_id });
        return rows.length;
      });
    },
    getPositions(connector) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.mockPositions).where(eq(t.mockPositions.connector, connector)).orderBy(asc(t.mockPositions.instrument));
        return rows.filter((r) => r.quantity !== 0).map((r): Position => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price }));
      });
    },
  };

  let closed = false;

  const store: Store = {
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

    recordSignal(input) {
      return transact(async (tx, emit): Promise<RecordOutcome> => {
        const now = input.received_at.getTime();
        const values = {
          id: input.signal_id,
          source: input.source,
          idempotency_key: input.idempotency_key,
          dedupe_key: input.idempotency_key,
          key_kind: input.key_kind,
          fingerprint: input.fingerprint,
          status: 'accepted' as const,
          connector: input.connector,
          instrument: input.instrument,
          client_order_id: input.client_order_id,
          signal: JSON.stringify(input.signal),
          request_id: input.request_id,
          received_at: now,
          updated_at: now,
        };
        // Bounded: each round either inserts, answers, or saw the key's holder re-keyed by a
        // concurrent delivery (then the next round finds the new holder).
        for (let round = 0; round < 5; round += 1) {
          // The race between deliveries of one key (on any instance) is settled by the unique
          // index: INSERT … ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING. A concurrent
          // insert of the same key makes this statement wait for that transaction; if it
          // committed, nothing is returned here.
          const [inserted] = await tx
            .insert(t.signals)
            .values(values)
            .onConflictDoNothing({ target: [t.signals.source, t.signals.dedupe_key] })
            .returning();
          if (inserted !== undefined) {
            emit(
              {
                type: 'signal.accepted',
                signal_id: input.signal_id,
                data: { source: input.source, idempotency_key: input.idempotency_key, instrument: input.instrument, action: input.signal.action },
              },
              input.received_at,
            );
            return { kind: 'inserted', record: signalRecordFromRow(inserted) };
          }
          // The key's holder, locked: a concurrent delivery past the window cannot re-key it
          // under us, and we can re-key it ourselves.
          const [existing] = await tx
            .select()
            .from(t.signals)
            .where(and(eq(t.signals.source, input.source), eq(t.signals.dedupe_key, input.idempotency_key)))
            .for('update');
          // Re-keyed by a concurrent delivery between the two statements: claim again.
          if (existing === undefined) continue;
          const expired = input.key_kind === 'body_hash' && existing.received_at <= now - input.window_ms;
          if (!expired) {
            return { kind: existing.fingerprint === input.fingerprint ? 'duplicate' : 'conflict', record: signalRecordFromRow(existing) };
          }
          // A body-hash key past its window frees the key for a new signal; the old row keeps
          // its history under an archived dedupe key. The next round inserts under the key.
          await tx
            .update(t.signals)
            .set({ dedupe_key: `${existing.dedupe_key}@${existing.id}` })
            .where(eq(t.signals.seq, existing.seq));
        }
        throw new Error(`recordSignal: key ${input.idempotency_key} of ${input.source} kept changing hands`);
      });
    },

    getSignal(signalId) {
      return reconnecting(async () => {
        const [row] = await db.select().from(t.signals).where(eq(t.signals.id, signalId));
        return row === undefined ? null : signalRecordFromRow(row);
      });
    },

    listSignals(query) {
      return reconnecting(async () => {
        const conds = [];
        if (query.status !== undefined) conds.push(eq(t.signals.status, query.status));
        if (query.source !== undefined) conds.push(eq(t.signals.source, query.source));
        if (query.instrument !== undefined) conds.push(eq(t.signals.instrument, query.instrument));
        if (query.cursor !== undefined) conds.push(lt(t.signals.seq, Number(query.cursor)));
        const rows = await db
          .select()
          .from(t.signals)
          .where(and(...conds))
          .orderBy(desc(t.signals.seq))
          .limit(query.limit + 1);
        return pageOf(rows, query.limit, signalRecordFromRow, (r) => String(r.seq));
      });
    },

    lastSignal() {
      return reconnecting(async () => {
        const [row] = await db.select().from(t.signals).orderBy(desc(t.signals.seq)).limit(1);
        return row === undefined ? null : signalRecordFromRow(row);
      });
    },

    queueStats(): Promise<QueueStats> {
      return reconnecting(async () => {
        const rows = await db
          .select({ status: t.signals.status, n: count(), oldest: sql<number | null>`min(${t.signals.received_at})`.mapWith(toNumberOrNull) })
          .from(t.signals)
          .where(inArray(t.signals.status, ['accepted', 'executing']))
          .groupBy(t.signals.status);
        const accepted = rows.find((r) => r.status === 'accepted');
        return {
          accepted: accepted?.n ?? 0,
          executing: rows.find((r) => r.status === 'executing')?.n ?? 0,
          oldest_accepted_at: accepted?.oldest == null ? null : isoFromMs(accepted.oldest),
        };
      });
    },

    gateSignal(input) {
      return transact(async (tx, emit): Promise<GateOutcome> => {
        // The signal row first: a second gate of the same signal (another worker or instance)
        // waits here, then finds it no longer accepted.
        const [row] = await tx.select().from(t.signals).where(eq(t.signals.id, input.signal_id)).for('update');
        if (row === undefined || row.status !== 'accepted') return { kind: 'skipped' };
        // Arrival order per lane: an older signal of the lane still accepted goes first.
        const [older] = await tx
          .select({ id: t.signals.id })
          .from(t.signals)
          .where(
            and(
              eq(t.signals.status, 'accepted'),
              eq(t.signals.connector, input.connector),
              eq(t.signals.instrument, input.instrument),
              lt(t.signals.seq, row.seq),
            ),
          )
          .orderBy(asc(t.signals.seq))
          .limit(1);
        if (older !== undefined) return { kind: 'blocked', by: older.id };
        // Gates of one connector serialize from here to their commit (every instance), so the
        // state read next includes every reservation committed before, and ours is committed
        // before the next gate reads: two gates cannot both fit under room only one fits in.
        await lockConnector(tx, input.connector);
        const gate = await loadGateState(tx, input.connector, input.instrument, input.trading_day, input.now, input.order_rate_cap);
        // Pure and synchronous: evaluated against exactly the state just read.
        const verdict = input.decide(gate.state, parseBreaker(gate.breaker));
        const { decision } = verdict;
        if (verdict.breaker !== null) {
          await storeBreakerStep(tx, emit, input.connector, gate.breaker, verdict.breaker, input.now, `probe ${input.signal_id}`);
        }
        const now = input.now.getTime();
        const status: SignalStatus = decision.allowed ? 'executing' : 'rejected';
        const [updated] = await tx
          .update(t.signals)
          .set({
            status,
            decision: JSON.stringify(decision),
            decided_at: now,
            updated_at: now,
            order_side: decision.side,
            lease_owner: decision.allowed ? input.owner : null,
            lease_until: decision.allowed ? input.lease_until.getTime() : null,
          })
          .where(and(eq(t.signals.id, input.signal_id), eq(t.signals.status, 'accepted')))
          .returning();
        if (updated === undefined) throw new Error(`gateSignal: signal ${input.signal_id} changed while locked`);
        if (decision.allowed && decision.side !== null && decision.quantity !== null) {
          const signed = decision.side === 'buy' ? decision.quantity : -decision.quantity;
          await tx.insert(t.reservations).values({
            signal_id: input.signal_id,
            connector: input.connector,
            instrument: input.instrument,
            quantity: signed,
            notional: decision.reserved_notional,
            created_at: now,
          });
        }
        emit({ type: decision.allowed ? 'signal.executing' : 'signal.rejected', signal_id: input.signal_id, data: { decision } }, input.now);
        const record = signalRecordFromRow(updated);
        return decision.allowed ? { kind: 'executing', record, decision } : { kind: 'rejected', record, decision };
      });
    },

    renewLeases(owner, signalIds, until) {
      return reconnecting(async () => {
        if (signalIds.length === 0) return 0;
        // One conditional UPDATE: a lease another instance claimed meanwhile is not ours any more.
        const rows = await db
          .update(t.signals)
          .set({ lease_until: until.getTime() })
          .where(and(inArray(t.signals.id, signalIds), eq(t.signals.lease_owner, owner), eq(t.signals.status, 'executing')))
          .returning({ seq: t.signals.seq });
        return rows.length;
      });
    },

    claimExpired(owner, now, leaseUntil, limit) {
      return transact(async (tx) => {
        const expired = and(eq(t.signals.status, 'executing'), lt(t.signals.lease_until, now.getTime()));
        // Concurrent claimers (any instance) split the expired rows: SKIP LOCKED passes over the
        // rows another claimer holds, and a row another claimer committed meanwhile is re-checked
        // against `expired` on its new version, so each expired signal is taken exactly once.
        // The locking SELECT is a statement of its own, not `UPDATE … WHERE seq IN (SELECT …
        // LIMIT n FOR UPDATE SKIP LOCKED)`: as a subquery it can be rescanned once per outer row,
        // and each rescan skips the rows this statement already updated and locks the next
        // ones, so the update claims more than `limit` rows.
        const locked = await tx
          .select({ seq: t.signals.seq })
          .from(t.signals)
          .where(expired)
          .orderBy(asc(t.signals.seq))
          .limit(limit)
          .for('update', { skipLocked: true });
        if (locked.length === 0) return [];
        const rows = await tx
          .update(t.signals)
          .set({ lease_owner: owner, lease_until: leaseUntil.getTime() })
          .where(inArray(t.signals.seq, locked.map((r) => r.seq)))
          .returning();
        return rows.sort((a, b) => a.seq - b.seq).map(signalRecordFromRow);
      });
    },

    listStaleAccepted(before, limit) {
      return reconnecting(async () => {
        const rows = await db
          .select()
          .from(t.signals)
          .where(and(eq(t.signals.status, 'accepted'), lt(t.signals.received_at, before.getTime())))
          .orderBy(asc(t.signals.seq))
          .limit(limit);
        return rows.map(signalRecordFromRow);
      });
    },

    recordAttempt(signalId: string, attempt: Attempt) {
      return transact(async (tx, emit) => insertAttempt(tx, emit, signalId, attempt));
    },

    listAttempts(signalId) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.attempts).where(eq(t.attempts.signal_id, signalId)).orderBy(asc(t.attempts.n), asc(t.attempts.id));
        return rows.map((r): Attempt => ({ n: r.n, at: isoFromMs(r.at), outcome: r.outcome, error: r.error }));
      });
    },

    finishSignal(input) {
      return transact(async (tx, emit): Promise<FinishOutcome> => {
        // The row lock makes a second finish (a retry, another instance) wait and then see the
        // first one's final status: the fill is booked once.
        const [row] = await tx.select().from(t.signals).where(eq(t.signals.id, input.signal_id)).for('update');
        if (row === undefined) throw new Error(`finishSignal: no signal ${input.signal_id}`);
        let realized = await readPnl(tx, row.connector, input.trading_day);
        if (row.status !== 'executing') return { record: signalRecordFromRow(row), realized_pnl_today: realized, realized_pnl_fill: 0, mode_changed: null };
        // The attempt that settled it, in the same transaction.
        if (input.attempt !== undefined) await insertAttempt(tx, emit, input.signal_id, input.attempt);
        let realizedFill = 0;
        if (input.fill !== null && input.fill.quantity > 0) {
          const booked = await bookFill(tx, row.connector, row.instrument, input.fill, input.trading_day, input.now);
          realized = booked.day;
          realizedFill = booked.fill;
        }
        // Booking the fill and releasing the reservation commit together, so the exposure the
        // gate sees never counts an order twice or not at all.
        await tx.delete(t.reservations).where(eq(t.reservations.signal_id, input.signal_id));
        const [updated] = await tx
          .update(t.signals)
          .set({ status: input.status, result: JSON.stringify(input.result), updated_at: input.now.getTime(), lease_owner: null, lease_until: null })
          .where(eq(t.signals.id, input.signal_id))
          .returning();
        if (updated === undefined) throw new Error(`finishSignal: signal ${input.signal_id} vanished`);
        emit({ type: `signal.${input.status}`, signal_id: input.signal_id, data: { result: input.result } }, input.now);
        // Only a losing fill can trip the limit: the mode lock is taken only then.
        const mode_changed =
          input.max_daily_loss !== null && realizedFill < 0 && tripsDailyLoss({ max_daily_loss: input.max_daily_loss, realized_pnl_fill: realizedFill, realized_pnl_today: realized, mode: (parseMode(await readState(tx, MODE_KEY)))?.mode ?? 'enabled' })
            ? await writeMode(tx, emit, 'exit_only', 'daily_loss', 'guardrails', input.now)
            : null;
        return { record: signalRecordFromRow(updated), realized_pnl_today: realized, realized_pnl_fill: realizedFill, mode_changed };
      });
    },

    retrySignal(signalId, actor, now) {
      return transact(async (tx, emit): Promise<SignalRecord | null> => {
        // Conditional UPDATE: of two concurrent retries only one finds the signal still failed.
        const [updated] = await tx
          .update(t.signals)
          .set({ status: 'accepted', decision: null, result: null, decided_at: null, order_side: null, updated_at: now.getTime() })
          .where(and(eq(t.signals.id, signalId), eq(t.signals.status, 'failed')))
          .returning();
        if (updated === undefined) return null;
        emit({ type: 'signal.retried', signal_id: signalId, data: { actor } }, now);
        return signalRecordFromRow(updated);
      });
    },

    getMode() {
      return reconnecting(async () => {
        return parseMode(await readState(db, MODE_KEY)) ?? { mode: 'enabled', reason: null, changed_at: new Date(0).toISOString() };
      });
    },

    setMode(mode: Mode, reason: string | null, actor: string, now: Date) {
      return transact((tx, emit) => writeMode(tx, emit, mode, reason, actor, now));
    },

    initMode(mode: Mode, now: Date) {
      return transact(async (tx, emit): Promise<ModeState> => {
        await tx.execute(sql`select pg_advisory_xact_lock(${modeLock})`);
        const current = parseMode(await readState(tx, MODE_KEY));
        if (current !== null) return current;
        const next: ModeState = { mode, reason: 'initial_mode', changed_at: now.toISOString() };
        await writeState(tx, MODE_KEY, next, now);
        emit({ type: 'mode.changed', data: { from: null, to: mode, reason: 'initial_mode', actor: 'config' } }, now);
        return next;
      });
    },

    async appendEvent(event) {
      const { events } = await transactWithEvents(async (_tx, emit) => emit(event, new Date()));
      const [record] = events;
      if (record === undefined) throw new Error('appendEvent: nothing was appended');
      return record;
    },

    listEvents(after, limit) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.events).where(sql`${t.events.seq} > ${after}`).orderBy(asc(t.events.seq)).limit(limit);
        return rows.map(eventRecordFromRow);
      });
    },

    listSignalEvents(signalId) {
      return reconnecting(async () => {
        const rows = await db.select().from(t.events).where(eq(t.events.signal_id, signalId)).orderBy(asc(t.events.seq));
        return rows.map(eventRecordFromRow);
      });
    },

    subscribe(listener) {
      return feed.subscribe(listener);
    },

    getLedger(connector, tradingDay): Promise<ConnectorLedger> {
      return reconnecting(async () => {
        const rows = await db.select().from(t.positions).where(eq(t.positions.connector, connector)).orderBy(asc(t.positions.instrument));
        return {
          positions: rows
            .filter((r) => r.quantity !== 0)
            .map((r) => ({ instrument: r.instrument, quantity: r.quantity, avg_price: r.avg_price, last_price: r.last_price })),
          gross_exposure: await grossExposure(db, connector),
          reserved_exposure: await reservedExposure(db, connector),
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
        await lockConnector(tx, connector);
        const ledger = await tx.select().from(t.positions).where(eq(t.positions.connector, connector));
        const drift = diffPositions(
          ledger.map((r) => ({ instrument: r.instrument, quantity: r.quantity })),
          positions,
        );
        for (const d of drift) {
          const reported = positions.find((p) => p.instrument === d.instrument);
          const values = { quantity: d.connector, avg_price: reported?.avg_price ?? 0, updated_at: now.getTime() };
          await tx
            .insert(t.positions)
            .values({ connector, instrument: d.instrument, last_price: null, ...values })
            .onConflictDoUpdate({ target: [t.positions.connector, t.positions.instrument], set: values });
        }
        if (drift.length > 0) emit({ type: 'positions.drift', data: { connector, drift } }, now);
        return drift;
      });
    },

    pruneSignals(before, limit) {
      return transact(async (tx) => {
        // SKIP LOCKED: a signal another transaction holds is left for the next pass.
        const doomed = await tx
          .select({ seq: t.signals.seq, id: t.signals.id })
          .from(t.signals)
          .where(and(lt(t.signals.received_at, before.getTime()), inArray(t.signals.status, ['executed', 'rejected', 'failed'])))
          .orderBy(asc(t.signals.seq))
          .limit(limit)
          .for('update', { skipLocked: true });
        if (doomed.length === 0) return 0;
        await tx.delete(t.attempts).where(inArray(t.attempts.signal_id, doomed.map((d) => d.id)));
        await tx.delete(t.signals).where(inArray(t.signals.seq, doomed.map((d) => d.seq)));
        return doomed.length;
      });
    },

    getCursor(name) {
      return reconnecting(async () => {
        const value = await readState(db, cursorKey(name));
        return value === null ? null : Number(JSON.parse(value));
      });
    },

    lastEventSeq() {
      return reconnecting(() => lastEventSeq(db));
    },

    setCursor(name, seq) {
      return reconnecting(async () => {
        await writeState(db, cursorKey(name), seq, new Date());
      });
    },

    getBreakers() {
      return reconnecting(async () => {
        const rows = await db.select().from(t.runtimeState).where(like(t.runtimeState.key, 'breaker:%'));
        const out: Record<string, BreakerState> = {};
        for (const row of rows) {
          const parsed: unknown = JSON.parse(row.value);
          if (isBreakerState(parsed)) out[row.key.slice('breaker:'.length)] = parsed;
        }
        return out;
      });
    },

    updateBreaker(connector, step, now, reason) {
      return transact(async (tx, emit) => {
        // Read-modify-write under the connector lock (the gate's, which may claim a probe):
        // concurrent failures of every instance are all counted.
        await lockConnector(tx, connector);
        const current = await readState(tx, breakerKey(connector));
        return storeBreakerStep(tx, emit, connector, current, step(parseBreaker(current)), now, reason);
      });
    },

    rememberNonce(source, nonce, expiresAt, now) {
      return transact(async (tx) => {
        await tx.delete(t.nonces).where(lt(t.nonces.expires_at, now.getTime()));
        // First insert wins; a concurrent one of the same nonce waits for it and finds it.
        const inserted = await tx
          .insert(t.nonces)
          .values({ source, nonce, expires_at: expiresAt.getTime() })
          .onConflictDoNothing()
          .returning({ nonce: t.nonces.nonce });
        return inserted.length > 0;
      });
    },

    recordRefusedDelivery(delivery: RefusedDelivery, keep: number) {
      return transact(async (tx) => {
        await tx.insert(t.deliveries).values({ ...delivery, at: Date.parse(delivery.at), issues: JSON.stringify(delivery.issues) });
        // Keep the newest `keep` rows by seq (identity values may have gaps, so count rows).
        if (keep < 1) {
          await tx.delete(t.deliveries);
          return;
        }
        await tx.execute(
          sql`delete from ${t.deliveries} where ${t.deliveries.seq} < (select ${t.deliveries.seq} from ${t.deliveries} order by ${t.deliveries.seq} desc offset ${keep - 1} limit 1)`,
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

    mock,
  };
  return store;
}

/** Error codes of a connection the server dropped (restart, failover, pg_terminate_backend). */
const DROPPED_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', '57P01', '57P02']);

/**
 * drizzle wraps the driver's error in `Failed query: <sql> params: <values>`; callers get the
 * driver's own error instead: its code (`57014`, `ECONNREFUSED`) is what they classify, and the
 * statement's parameters (signal bodies) stay out of logs and status.
 */
function driverError(error: unknown): unknown {
  return error instanceof DrizzleQueryError && error.cause !== undefined ? error.cause : error;
}

function isDroppedConnection(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && DROPPED_CONNECTION.has(code);
}

/**
 * Runs an idempotent step (a read, or a write that sets absolute values) again when it failed
 * on a connection the server had dropped: postgres.js replaces such a connection, but only after
 * the query sent on it failed. Each failure retires one connection, so `attempts` is the pool
 * size + 1. A server that refuses connections is not retried here.
 */
async function retryOnDroppedConnection<T>(step: () => Promise<T>, attempts: number): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      const cause = driverError(error);
      if (attempt >= attempts || !isDroppedConnection(cause)) throw cause;
    }
  }
}

async function lastEventSeq(ex: Executor): Promise<number> {
  const [row] = await ex.select({ seq: t.events.seq }).from(t.events).orderBy(desc(t.events.seq)).limit(1);
  return row?.seq ?? 0;
}

/**
 * Applies pending migrations on a connection of its own. Several instances may start at once:
 * a session advisory lock lets one migrate while the others wait, then find nothing to do.
 * Ending the connection releases the lock.
 */
async function applyMigrations(url: string, schema: string | undefined, applicationName: string, onnotice: (notice: postgres.Notice) => void): Promise<void> {
  const admin = postgres(url, {
    max: 1,
    connect_timeout: 10,
    onnotice,
    connection: { application_name: `${applicationName}:migrate`, ...(schema === undefined ? {} : { search_path: schema }) },
  });
  try {
    await admin`select pg_advisory_lock(hashtextextended(${`sluice:${schema ?? 'public'}:migrate`}, 0))`;
    if (schema !== undefined) await admin.unsafe(`create schema if not exists "${schema}"`);
    await migrate(drizzle(admin), { migrationsFolder: POSTGRES_MIGRATIONS, ...(schema === undefined ? {} : { migrationsSchema: schema }) });
  } finally {
    await admin.end({ timeout: 5 });
  }
}

interface EventFeedDeps {
  /** Issues LISTEN on the feed's connection (opening it if needed); resolves once listening. */
  listen: () => Promise<void>;
  /** Closes the feed's connection. */
  unlisten: () => Promise<void>;
  read: (after: number, limit: number) => Promise<EventRecord[]>;
  head: () => Promise<number>;
  logger?: Logger;
}

/** While LISTEN is down (an outage), how often the feed tries it again and catches up. */
const FEED_HEAL_MS = 2000;

/**
 * The live feed behind `subscribe()`. Every appending transaction notifies the schema's channel
 * on commit; on a notification (or a commit of this process, or a LISTEN re-established) the
 * feed reads the events after the last one it delivered, from the database, and hands them to
 * the listeners in seq order. Reads are serialized and `delivered` only moves forward, so every
 * event of every instance reaches this process's listeners once, in order. Committed events
 * form a gap-free prefix of the log (the event-log lock is held until commit), so reading
 * "after `delivered`" never skips one that commits later.
 *
 * The starting point: the head, read as soon as subscribe() is called (remote events committed
 * before that read are history), lowered to include every event this process committed since
 * subscribe() was called: a local transaction can commit before the head read and report its
 * commit after it, so the feed waits for the transactions in flight when the head came back.
 *
 * When the LISTEN connection closes (server restart, outage), the feed LISTENs again at once
 * and then every FEED_HEAL_MS until it succeeds, and catches up by reading from `delivered`.
 */
function createEventFeed(deps: EventFeedDeps) {
  const listeners = new Set<(event: EventRecord) => void>();
  /** The last seq handed to listeners; null while the starting point is being read. */
  let delivered: number | null = null;
  /** The lowest seq this process committed while the starting point was being read. */
  let committedSinceStart: number | null = null;
  /** Local transactions in flight, each settled when its caller is answered. */
  const inFlight = new Set<Promise<void>>();
  /** Bumped on every (re)start, so a stale starting point is ignored. */
  let generation = 0;
  let listenUp = false;
  let listenTry: Promise<void> | null = null;
  let healTimer: NodeJS.Timeout | null = null;
  let pumping = false;
  let again = false;
  let stopped = false;

  /** LISTENs unless already listening; concurrent callers share one attempt. */
  function ensureListening(): Promise<void> {
    if (listenUp) return Promise.resolve();
    listenTry ??= deps
      .listen()
      .then(() => {
        listenUp = true;
      })
      .finally(() => {
        listenTry = null;
      });
    return listenTry;
  }

  /** LISTEN again if it is down, then catch up on what was committed meanwhile. */
  function heal(): void {
    if (stopped || listeners.size === 0 || listenUp) return;
    ensureListening().then(pump, (error: unknown) => {
      if (!stopped) deps.logger?.warn({ err: error }, 'event feed: LISTEN failed; retrying');
    });
  }

  async function start(gen: number): Promise<void> {
    try {
      const headRead = deps.head();
      const listening = ensureListening();
      // Awaited below, after the head: a LISTEN that fails meanwhile must not be an unhandled
      // rejection (it would end the process).
      listening.catch(() => undefined);
      const head = await headRead;
      await Promise.all([...inFlight]);
      await listening;
      if (gen !== generation || stopped) return;
      delivered = committedSinceStart === null ? head : Math.min(head, committedSinceStart - 1);
      committedSinceStart = null;
      healTimer ??= setInterval(heal, FEED_HEAL_MS).unref();
      pump();
    } catch (error) {
      if (gen !== generation || stopped) return;
      // The database is unreachable: try again shortly.
      deps.logger?.error({ err: error }, 'event feed: could not start listening');
      setTimeout(() => void start(gen), FEED_HEAL_MS).unref();
    }
  }

  function pump(): void {
    if (stopped || listeners.size === 0 || delivered === null) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    void (async () => {
      try {
        do {
          again = false;
          for (;;) {
            const from = delivered;
            if (from === null || stopped) return;
            const page = await deps.read(from, FEED_PAGE);
            for (const event of page) {
              if (delivered === null || event.seq <= delivered) continue;
              delivered = event.seq;
              for (const listener of listeners) {
                try {
                  listener(event);
                } catch {
                  // A listener's bug must not stop the feed; listeners log their own errors.
                }
              }
            }
            if (page.length < FEED_PAGE) break;
          }
        } while (again);
      } catch (error) {
        // The database is unreachable: the next notification, commit or heal retries.
        if (!stopped) deps.logger?.warn({ err: error }, 'event feed: could not read new events');
      } finally {
        pumping = false;
      }
    })();
  }

  return {
    subscribe(listener: (event: EventRecord) => void): () => void {
      if (listeners.size === 0) {
        // (Re)start: deliver what commits from now on, not the history.
        generation += 1;
        delivered = null;
        committedSinceStart = null;
        void start(generation);
      }
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    /** A local transaction starts; call the returned function once its caller has its answer. */
    began(): () => void {
      let settle = (): void => {};
      const settled = new Promise<void>((resolve) => {
        settle = resolve;
      });
      inFlight.add(settled);
      return () => {
        inFlight.delete(settled);
        settle();
      };
    },
    /** This process committed these events (in seq order). */
    committed(events: EventRecord[]): void {
      if (listeners.size === 0) return;
      const first = events[0];
      if (delivered === null && first !== undefined) {
        committedSinceStart = committedSinceStart === null ? first.seq : Math.min(committedSinceStart, first.seq);
      }
      pump();
    },
    /** A notification arrived on the channel. */
    notified(): void {
      pump();
    },
    /** The LISTEN connection closed: notifications stop until it is re-established. */
    listenLost(): void {
      // Only a LISTEN that was up is retried at once; failed attempts (the server is down)
      // wait for the heal timer, so an outage does not become a reconnect loop.
      const wasUp = listenUp;
      listenUp = false;
      if (wasUp) heal();
    },
    async close(): Promise<void> {
      stopped = true;
      listeners.clear();
      if (healTimer !== null) clearInterval(healTimer);
      healTimer = null;
      try {
        await deps.unlisten();
      } catch {
        // The connection is gone already.
      }
    },
  };
}
