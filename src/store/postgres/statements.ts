/**
 * Statements built once, run on the connection of the moment (the pool's or a transaction's),
 * and the drizzle a transaction's statements go through.
 */
import { fillPlaceholders, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle, PostgresJsDatabase, PostgresJsSession } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import type { Executor, Tx } from './context.js';
import type * as t from './schema.js';

const dialect = new PgDialect();

/** drizzle over a transaction's connection, with it as `$client` (the statements below run on it). */
export function transactionDb(sql: postgres.TransactionSql): Tx {
  // Typed for a pool, but what drizzle's own transactions give it too: a transaction's client.
  const session = new PostgresJsSession(sql as unknown as postgres.Sql, dialect, undefined);
  return Object.assign(new PostgresJsDatabase<typeof t>(dialect, session, undefined), { $client: sql });
}

/**
 * drizzle builds a statement's SQL at every call: 230–450 µs of CPU for a select of a signal's
 * row, against 60–150 µs to send it prepared and read the answer (ARCHITECTURE.md, Performance). The hot path's statements are therefore built at start with
 * placeholders (`.prepare(name)`) and run with `run(statement, on, values)` on the connection
 * of the moment: the pool's, unprepared, or a transaction's, whose `preparing` view (store.ts)
 * sends them as prepared statements.
 *
 * drizzle's prepared query keeps its postgres.js client and whether to prepare in two fields it
 * reads at every execution; `run` executes it through an object that overrides both.
 * `statement` checks that the fields are there when the store opens, so a drizzle release that
 * renames them stops the store at start instead of sending a statement to the wrong connection.
 */
export interface Statement<R> {
  execute(values?: Record<string, unknown>): Promise<R>;
}

/** What statements are built with: a drizzle without a connection (each runs on the one `run` is given). */
export const builder = drizzle.mock<typeof t>();

export function statement<S extends Statement<unknown>>(prepared: S): S {
  if (!Object.hasOwn(prepared, 'client') || !Object.hasOwn(prepared, 'prepare')) {
    throw new Error("drizzle-orm's prepared query has no `client` and `prepare` fields any more: the PostgreSQL store cannot run it on a transaction's connection");
  }
  return prepared;
}

export function run<R>(prepared: Statement<R>, on: Executor, values?: Record<string, unknown>): Promise<R> {
  const bound = Object.create(prepared, { client: { value: on.$client }, prepare: { value: false } }) as Statement<R>;
  return bound.execute(values);
}

/** A statement of raw SQL (with placeholders), turned into text once. Rows come back as the driver reads them. */
export interface RawStatement {
  text: string;
  params: unknown[];
}

export function rawStatement(query: SQL): RawStatement {
  const { sql: text, params } = dialect.sqlToQuery(query);
  return { text, params };
}

export async function runRaw(raw: RawStatement, on: Executor, values: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  const params = fillPlaceholders(raw.params, values) as postgres.ParameterOrJSON<never>[];
  return [...(await on.$client.unsafe<Record<string, unknown>[]>(raw.text, params))];
}
