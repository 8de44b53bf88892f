/**
 * What every SQLite capability works with: the connection, the group-commit writer, the event
 * append of the running job, the store's clock, and the statements more than one capability
 * runs (prepared once: building a query per call halves throughput). Also the runtime-state
 * reads and writes that the gate and the finish share with runtime.ts.
 */
import type Database from 'better-sqlite3';
import { and, eq, sql, sum } from 'drizzle-orm';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { BreakerState } from '../../domain/breaker.js';
import type { EventRecord } from '../contract/events.js';
import type { ModeState } from '../contract/runtime.js';
import type { TimedEvent } from '../plans/events.js';
import type { BreakerPlan, ModePlan } from '../plans/runtime.js';
import { breakerFromState, breakerKey, MODE_KEY, modeFromState } from '../records.js';
import { ph, phs } from '../placeholders.js';
import * as t from './schema.js';
import type { GroupCommitWriter } from './writer.js';

export type SqliteDb = BetterSQLite3Database<typeof t>;

/** Jobs whose result a client is told: their batch commits with an fsync (see writer.ts). */
export const DURABLE = { durable: true };

export function prepareShared(db: SqliteDb) {
  return {
    signalById: db.select().from(t.signals).where(eq(t.signals.id, ph('id'))).prepare(),
    state: db.select().from(t.runtimeState).where(eq(t.runtimeState.key, ph('key'))).prepare(),
    upsertState: db
      .insert(t.runtimeState)
      .values(phs('key', 'value', 'updated_at'))
      .onConflictDoUpdate({ target: t.runtimeState.key, set: { value: sql`excluded.value`, updated_at: sql`excluded.updated_at` } })
      .prepare(),
    position: db
      .select()
      .from(t.positions)
      .where(and(eq(t.positions.connector, ph('connector')), eq(t.positions.instrument, ph('instrument'))))
      .prepare(),
    gross: db
      .select({ gross: sql<number | null>`sum(abs(${t.positions.quantity}) * coalesce(${t.positions.last_price}, ${t.positions.avg_price}))` })
      .from(t.positions)
      .where(eq(t.positions.connector, ph('connector')))
      .prepare(),
    reserved: db
      .select({ total: sum(t.reservations.notional) })
      .from(t.reservations)
      .where(eq(t.reservations.connector, ph('connector')))
      .prepare(),
    pnl: db
      .select({ realized: t.pnlDays.realized })
      .from(t.pnlDays)
      .where(and(eq(t.pnlDays.connector, ph('connector')), eq(t.pnlDays.day, ph('day'))))
      .prepare(),
  };
}

export interface SqliteContext {
  db: SqliteDb;
  sqlite: Database.Database;
  writer: GroupCommitWriter;
  /** Appends one event inside the running job; published to listeners after commit. */
  append: (event: TimedEvent) => EventRecord;
  now: () => Date;
  q: ReturnType<typeof prepareShared>;
}

export const readPnl = (ctx: SqliteContext, connector: string, day: string): number => ctx.q.pnl.get({ connector, day })?.realized ?? 0;
export const readGross = (ctx: SqliteContext, connector: string): number => ctx.q.gross.get({ connector })?.gross ?? 0;
export const readReserved = (ctx: SqliteContext, connector: string): number => Number(ctx.q.reserved.get({ connector })?.total ?? 0);

export function writeState(ctx: SqliteContext, key: string, value: unknown, now: Date): void {
  ctx.q.upsertState.run({ key, value: JSON.stringify(value), updated_at: now.getTime() });
}

export const readMode = (ctx: SqliteContext): ModeState | null => modeFromState(ctx.q.state.get({ key: MODE_KEY })?.value ?? null);

/** Writes what a mode plan says (inside a writer job). */
export function applyModePlan(ctx: SqliteContext, plan: ModePlan, now: Date): ModeState {
  if (plan.write !== null) writeState(ctx, MODE_KEY, plan.write, now);
  if (plan.event !== null) ctx.append(plan.event);
  return plan.state;
}

export function readStoredBreaker(ctx: SqliteContext, connector: string): BreakerState | null {
  const key = breakerKey(connector);
  return breakerFromState(key, ctx.q.state.get({ key })?.value ?? null);
}

/** Writes what a breaker plan says (inside a writer job). */
export function applyBreakerPlan(ctx: SqliteContext, connector: string, plan: BreakerPlan, now: Date): BreakerState {
  if (plan.write !== null) writeState(ctx, breakerKey(connector), plan.write, now);
  if (plan.event !== null) ctx.append(plan.event);
  return plan.state;
}
