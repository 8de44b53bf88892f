/**
 * Statements built once, run on the connection of the moment (the pool's or a transaction's),
 * and the drizzle a transaction's statements go through.
 */
import { fillPlaceholders, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle, PostgresJsDatabase, PostgresJsSession } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import type * as t from './schema.js';

/** The pool. */
export type Db = PostgresJsDatabase<typeof t> & { $client: postgres.Sql };
/**
 * One transaction: drizzle over the transaction's own connection (`transactionDb`). It has no
 * nested transactions and no relational queries (its connection cannot begin one, and it is
 * built without the schema's relations).
 */
export type Tx = Omit<PostgresJsDatabase<typeof t>, 'transaction' | 'query'> & { $client: postgres.TransactionSql };
/** The pool or a transaction: helpers that only read run on either. */
export type Executor = Db | Tx;

const dialect = new PgDialect();

/** drizzle over a transaction's connection, with it as `$client` (the statements below run on it). */
export function transactionDb(sql: postgres.TransactionSql): Tx {
  // Typed for a pool, but what drizzle's own transactions give it too: a transaction's client.
  const session = new PostgresJsSession(sql as unknown as postgres.Sql, dialect, undefined);
  return Object.assign(new PostgresJsDatabase<typeof t>(dialect, session, undefined), { $client: sql });
}

/**
 * drizzle builds a statement's SQL at every call: in a transaction, about 230–360 µs of CPU for
 * a select of a signal's row, against 50–100 µs to send it prepared and read the answer
 * (ARCHITECTURE.md, Performance). The statements of the hot path are therefore built once, with
 * named placeholders (`.prepare(name)` on `builder`), and run with `run(statement, on, values)`
 * on the connection of the moment: the pool's, unprepared, or a transaction's, whose
 * `preparing` view (store.ts) sends them as prepared statements.
 *
 * drizzle's prepared query keeps its postgres.js client and whether to prepare in two fields it
 * reads at every execution; `run` executes it through an object that overrides both.
 * `statement` checks, as each module builds its statements, that the fields are there: a drizzle
 * release that renamed them would otherwise leave statements on `builder`'s connectionless client
 * (every query failing) or prepared on the pool (which `preparing` avoids on purpose).
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

/**
 * The row `lock` selects `FOR UPDATE`, created by `create` first when missing (a position). Two
 * transactions creating it at once: the second's insert (`ON CONFLICT DO NOTHING`) waits for
 * the first's commit and does nothing, and its lock then reads the committed row. A row that
 * exists costs one round trip.
 */
export async function lockOrCreate<R>(tx: Tx, lock: Statement<R[]>, create: Statement<unknown>, key: Record<string, unknown>, created: Record<string, unknown> = {}): Promise<R | undefined> {
  const [row] = await run(lock, tx, key);
  if (row !== undefined) return row;
  await run(create, tx, { ...key, ...created });
  const [made] = await run(lock, tx, key);
  return made;
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
