/**
 * Reaching PostgreSQL: which errors mean the server dropped a connection (and what runs again
 * then), and applying migrations before the pool is used.
 */
import { fileURLToPath } from 'node:url';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { extractedPath, isPackaged } from '../../lib/embedded.js';

/** The PostgreSQL migrations folder: drizzle/postgres/ in a checkout, extracted from the single executable's assets. */
export function postgresMigrationsFolder(): string {
  return isPackaged() ? extractedPath('drizzle/postgres') : fileURLToPath(new URL('../../../drizzle/postgres', import.meta.url));
}

/** Error codes of a connection the server dropped (restart, failover, pg_terminate_backend). */
const DROPPED_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', '57P01', '57P02']);

/**
 * drizzle wraps the driver's error in `Failed query: <sql> params: <values>`; callers get the
 * driver's own error instead: its code (`57014`, `ECONNREFUSED`) is what they classify, and the
 * statement's parameters (signal bodies) stay out of logs and status.
 */
export function driverError(error: unknown): unknown {
  return error instanceof DrizzleQueryError && error.cause !== undefined ? error.cause : error;
}

export function isDroppedConnection(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && DROPPED_CONNECTION.has(code);
}

/**
 * The server refused a prepared statement of this connection before running it: the statement is
 * gone, or a migration (another instance's, in a rolling upgrade) changed what it reads ("cached
 * plan must not change result type"). postgres.js forgets the statement as it fails and retries it
 * itself, except inside a transaction, which is aborted by then: the transaction is rolled back
 * and can run again, like one whose connection dropped before COMMIT. The routines are
 * postgres.js's own list (its `retryRoutines`).
 */
const STALE_STATEMENT_ROUTINES = new Set(['FetchPreparedStatement', 'RevalidateCachedQuery', 'transformAssignedExpr']);

export function isStalePreparedStatement(error: unknown): boolean {
  const routine = typeof error === 'object' && error !== null && 'routine' in error ? error.routine : undefined;
  return typeof routine === 'string' && STALE_STATEMENT_ROUTINES.has(routine);
}

/**
 * Runs an idempotent step (a read, or a write that sets absolute values) again when it failed
 * on a connection the server had dropped: postgres.js replaces such a connection, but only after
 * the query sent on it failed. Each failure retires one connection, so `attempts` is the pool
 * size + 1. A server that refuses connections is not retried here.
 */
export async function retryOnDroppedConnection<T>(step: () => Promise<T>, attempts: number): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      const cause = driverError(error);
      if (attempt >= attempts || !isDroppedConnection(cause)) throw cause;
    }
  }
}

/**
 * Applies pending migrations on a connection of its own. Several instances may start at once:
 * a session advisory lock lets one migrate while the others wait, then find nothing to do.
 * Ending the connection releases the lock.
 */
export async function applyMigrations(url: string, schema: string | undefined, applicationName: string, onnotice: (notice: postgres.Notice) => void): Promise<void> {
  const admin = postgres(url, {
    max: 1,
    connect_timeout: 10,
    // As the store's pool (store.ts): no driver query of its own that nobody could catch.
    fetch_types: false,
    onnotice,
    connection: { application_name: `${applicationName}:migrate`, ...(schema === undefined ? {} : { search_path: schema }) },
  });
  try {
    await admin`select pg_advisory_lock(hashtextextended(${`sluice:${schema ?? 'public'}:migrate`}, 0))`;
    if (schema !== undefined) await admin.unsafe(`create schema if not exists "${schema}"`);
    await migrate(drizzle(admin), { migrationsFolder: postgresMigrationsFolder(), ...(schema === undefined ? {} : { migrationsSchema: schema }) });
  } finally {
    await admin.end({ timeout: 5 });
  }
}

