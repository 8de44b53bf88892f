/**
 * What every PostgreSQL capability works with: the pool, one transaction per verb (transact.ts),
 * reads retried on a dropped connection, the advisory locks, the store's clock, and the reads
 * and writes of runtime state and the ledger that more than one capability needs.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { BreakerState } from '../../domain/breaker.js';
import type { EventRecord } from '../contract/events.js';
import type { ModeState } from '../contract/runtime.js';
import type { TimedEvent } from '../plans/events.js';
import type { BreakerPlan, ModePlan } from '../plans/runtime.js';
import { breakerFromState, breakerKey, MODE_KEY, modeFromState } from '../records.js';
import { ph, phs } from '../placeholders.js';
import * as t from './schema.js';
import { builder, rawStatement, run, runRaw, statement, type Db, type Executor, type Tx } from './statements.js';

/** Queues an event to be appended, in order, when the transaction's work is done. */
export type Emit = (event: TimedEvent) => void;

export interface PgLocks {
  /**
   * Serializes every appender of the event log (taken last, held to commit), answers the
   * chain's head as committed once the lock was granted (null while the log is empty), and
   * notifies `channel` of the seq the append of `appending` events ends at, on commit.
   */
  eventLogHead(tx: Tx, channel: string, appending: number): Promise<{ seq: number; hash: string } | null>;
  /** Serializes read-modify-writes of the mode (before the first write there is no row). */
  mode(tx: Tx): Promise<void>;
  /** Serializes gates, breaker steps and reconciliations of one connector (every instance). */
  connector(tx: Tx, connector: string): Promise<void>;
  /** Serializes recording one body of a source under a replay window (github: any key). */
  body(tx: Tx, source: string, fingerprint: string): Promise<void>;
}

/**
 * Advisory-lock keys are database-wide: they carry the schema so that stores in different
 * schemas (tests, tenants) do not serialize on each other.
 */
export function advisoryLocks(namespace: string): PgLocks {
  const key = (what: string) => sql`hashtextextended(${`sluice:${namespace}:${what}`}, 0)`;
  const statements = {
    // One round trip (migration 0007): the head must be read in a snapshot taken after the
    // lock was granted, which a query sent with the lock's, in one statement, would not be.
    eventLogHead: rawStatement(sql`select seq, hash from sluice_event_log_head(${key('events')}, ${ph('channel')}, ${ph('appending')})`),
    mode: rawStatement(sql`select pg_advisory_xact_lock(${key('mode')})`),
    connector: rawStatement(sql`select pg_advisory_xact_lock(hashtext(${`sluice:${namespace}`}), hashtext(${ph('connector')}))`),
    // key(`body:<source>:<fingerprint>`), concatenated by the server so the statement is built once.
    body: rawStatement(sql`select pg_advisory_xact_lock(hashtextextended(${`sluice:${namespace}:body:`} || ${ph('source')} || ':' || ${ph('fingerprint')}, 0))`),
  };
  return {
    async eventLogHead(tx, channel, appending) {
      const [head] = await runRaw(statements.eventLogHead, tx, { channel, appending });
      if (head === undefined) return null;
      const seq = Number(head.seq);
      if (!Number.isSafeInteger(seq) || typeof head.hash !== 'string') throw new Error(`the event log's head is not a sequence number and a hash: ${JSON.stringify(head)}`);
      return { seq, hash: head.hash };
    },
    async mode(tx) {
      await runRaw(statements.mode, tx, {});
    },
    async connector(tx, connector) {
      await runRaw(statements.connector, tx, { connector });
    },
    async body(tx, source, fingerprint) {
      await runRaw(statements.body, tx, { source, fingerprint });
    },
  };
}

export interface PgContext {
  db: Db;
  /** One verb, one transaction; `emit`ted events are appended last (transact.ts). */
  transact<T>(work: (tx: Tx, emit: Emit) => Promise<T>): Promise<T>;
  transactWithEvents<T>(work: (tx: Tx, emit: Emit) => Promise<T>): Promise<{ value: T; events: EventRecord[] }>;
  /** Runs an idempotent step again on a fresh connection when the server dropped its own. */
  reconnecting<T>(step: () => Promise<T>): Promise<T>;
  locks: PgLocks;
  now: () => Date;
}

export const toNumber = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));
export const toNumberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

const stateStatements = {
  read: statement(builder.select({ value: t.runtimeState.value }).from(t.runtimeState).where(eq(t.runtimeState.key, ph('key'))).prepare('state_read')),
  write: statement(
    builder
      .insert(t.runtimeState)
      .values(phs('key', 'value', 'updated_at'))
      .onConflictDoUpdate({ target: t.runtimeState.key, set: { value: sql`excluded.value`, updated_at: sql`excluded.updated_at` } })
      .prepare('state_write'),
  ),
  pnl: statement(
    builder
      .select({ realized: t.pnlDays.realized })
      .from(t.pnlDays)
      .where(and(eq(t.pnlDays.connector, ph('connector')), eq(t.pnlDays.day, ph('day'))))
      .prepare('pnl_read'),
  ),
};

export async function readState(ex: Executor, key: string): Promise<string | null> {
  const [row] = await run(stateStatements.read, ex, { key });
  return row?.value ?? null;
}

export async function writeState(ex: Executor, key: string, value: unknown, now: Date): Promise<void> {
  await run(stateStatements.write, ex, { key, value: JSON.stringify(value), updated_at: now.getTime() });
}

export const readMode = async (ex: Executor): Promise<ModeState | null> => modeFromState(await readState(ex, MODE_KEY));

/**
 * Read-modify-write of the mode (its `from` goes into the event) under the mode lock: `plan`
 * gets the mode read after the lock.
 */
export async function writeMode(ctx: PgContext, tx: Tx, emit: Emit, plan: (current: ModeState | null) => ModePlan, now: Date): Promise<ModeState>;
export async function writeMode(ctx: PgContext, tx: Tx, emit: Emit, plan: (current: ModeState | null) => ModePlan | null, now: Date): Promise<ModeState | null>;
export async function writeMode(ctx: PgContext, tx: Tx, emit: Emit, plan: (current: ModeState | null) => ModePlan | null, now: Date): Promise<ModeState | null> {
  await ctx.locks.mode(tx);
  const decided = plan(await readMode(tx));
  if (decided === null) return null;
  if (decided.write !== null) await writeState(tx, MODE_KEY, decided.write, now);
  if (decided.event !== null) emit(decided.event);
  return decided.state;
}

export async function readStoredBreaker(ex: Executor, connector: string): Promise<BreakerState | null> {
  const key = breakerKey(connector);
  return breakerFromState(key, await readState(ex, key));
}

/** Writes what a breaker plan says (under the caller's connector lock). */
export async function applyBreakerPlan(tx: Tx, emit: Emit, connector: string, plan: BreakerPlan, now: Date): Promise<BreakerState> {
  if (plan.write !== null) await writeState(tx, breakerKey(connector), plan.write, now);
  if (plan.event !== null) emit(plan.event);
  return plan.state;
}

export async function readPnl(ex: Executor, connector: string, day: string): Promise<number> {
  const [row] = await run(stateStatements.pnl, ex, { connector, day });
  return row?.realized ?? 0;
}
