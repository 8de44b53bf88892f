/**
 * `DATABASE_URL` → a store: `file:` is SQLite, `postgres://` / `postgresql://` is PostgreSQL.
 * Migrations run on open (synchronously for SQLite, awaited for PostgreSQL).
 */
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import { describeDbError } from './errors.js';
import { openDatabase } from './sqlite/database.js';
import { createSqliteStore, sqlitePathFromUrl } from './sqlite/store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  logger?: Logger;
  /** The store's clock (an appended event's `at`, a cursor's update); the system clock by default. */
  now?: () => Date;
}

export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const now = opts.now === undefined ? {} : { now: opts.now };
  if (url.startsWith('file:')) return createSqliteStore({ path: sqlitePathFromUrl(url), ...now });
  if (/^postgres(ql)?:\/\//.test(url)) {
    // Loaded only for PostgreSQL: a SQLite start need not compile postgres.js and drizzle's pg-core.
    const { createPostgresStore } = await import('./postgres/store.js');
    return createPostgresStore({ url, ...now, ...(opts.logger === undefined ? {} : { logger: opts.logger }) });
  }
  throw new ConfigError([`DATABASE_URL: expected file:PATH or postgres://…, got ${JSON.stringify(url.replace(/\/\/[^@]*@/, '//***@'))}`]);
}

/**
 * Refused because another process holds the SQLite file's lock: one SQLite file serves one
 * process (docs/guarantees.md#several-instances-on-postgresql).
 */
export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
}

/** The database could not be opened at start (after retrying, when retrying could help). */
export class DatabaseOpenError extends Error {
  override name = 'DatabaseOpenError';
}

/**
 * Holds an exclusive lock on `<database>.lock` for as long as the process runs: SQLite's own
 * file lock (fcntl) on a file beside the database, taken with `BEGIN EXCLUSIVE` and never
 * released until close. The operating system drops it when the process dies, even by kill -9,
 * so a stale lock file never blocks a restart (a pid file would). A file of its own, not the
 * database: readers (`sluice audit verify`, the sqlite3 shell) keep working beside a running sluice.
 */
export function lockSqliteFile(path: string): { lockPath: string; release: () => void } {
  mkdirSync(dirname(path), { recursive: true });
  // The same file reached through another path (a symlink, ./x vs x) must find the same lock.
  const real = existsSync(path) ? realpathSync(path) : join(realpathSync(dirname(path)), basename(path));
  const lockPath = `${real}.lock`;
  const lock = openDatabase(lockPath, { timeout: 0 });
  try {
    // Nothing is ever written to it: no journal file beside it either.
    lock.pragma('journal_mode = MEMORY');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new DatabaseInUseError(
        `another sluice is running on the SQLite database ${path} (it holds ${lockPath}): one SQLite file serves one process. ` +
          'Stop the other one, or give this one its own DATABASE_URL; several instances need PostgreSQL (DATABASE_URL=postgres://…)',
      );
    }
    throw err;
  }
  return {
    lockPath,
    release: () => {
      if (lock.open) lock.close();
    },
  };
}

/** Connection failures that waiting can cure (the server is starting, the network or DNS is not up yet). */
const TRANSIENT_CONNECT = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|CONNECT_TIMEOUT|CONNECTION_CLOSED|CONNECTION_ENDED|CONNECTION_DESTROYED|57P03)$/;

export function isTransientConnectError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && TRANSIENT_CONNECT.test(code);
}

/** Delay before start-up connect attempt `attempt + 1`: 0.5 s doubling, at most 5 s. */
export function connectRetryDelayMs(attempt: number): number {
  return Math.min(5_000, 500 * 2 ** Math.max(0, attempt - 1));
}

/** `host:port` of a PostgreSQL URL, for messages: never the user or the password. */
export function postgresTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}`;
  } catch {
    return 'the DATABASE_URL host (the URL does not parse)';
  }
}

export interface ServeStoreOptions {
  logger: Logger;
  /** How long an unreachable PostgreSQL is retried at start before giving up (0: no retry). */
  connectTimeoutMs: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** The store's own clock (events' `at`, cursors); the system clock by default. */
  clock?: () => Date;
}

/**
 * The store a serving sluice runs on: SQLite under the single-process lock; PostgreSQL retried
 * with backoff while it is unreachable, up to `connectTimeoutMs`, then a message naming
 * host:port (never the password). Errors that waiting cannot cure (a wrong password, no such
 * database) end the start at once.
 */
export async function openStoreForServing(url: string, opts: ServeStoreOptions): Promise<Store> {
  if (url.startsWith('file:')) {
    const path = sqlitePathFromUrl(url);
    const lock = lockSqliteFile(path);
    let store: Store;
    try {
      store = await openStore(url, { logger: opts.logger, ...(opts.clock === undefined ? {} : { now: opts.clock }) });
    } catch (err) {
      lock.release();
      throw new DatabaseOpenError(`cannot open the SQLite database ${path}: ${describeDbError(err)}`);
    }
    const close = store.close.bind(store);
    store.close = async () => {
      try {
        await close();
      } finally {
        lock.release();
      }
    };
    return store;
  }
  if (!/^postgres(ql)?:\/\//.test(url)) return openStore(url, { logger: opts.logger, ...(opts.clock === undefined ? {} : { now: opts.clock }) });

  const target = postgresTarget(url);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.connectTimeoutMs;
  const secrets = passwordOf(url);
  const describe = (err: unknown): string => hide(describeDbError(err), secrets);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await openStore(url, { logger: opts.logger, ...(opts.clock === undefined ? {} : { now: opts.clock }) });
    } catch (err) {
      if (!isTransientConnectError(err)) {
        throw new DatabaseOpenError(`cannot use PostgreSQL at ${target}: ${describe(err)} (check DATABASE_URL: user, password, database name)`);
      }
      const wait = connectRetryDelayMs(attempt);
      if (now() + wait > deadline) {
        throw new DatabaseOpenError(
          `cannot reach PostgreSQL at ${target} (${describe(err)}); gave up after ${attempt} attempt${attempt === 1 ? '' : 's'} over ${Math.round(opts.connectTimeoutMs / 1000)} s ` +
            '(database.connect_timeout_seconds): check that the server runs and that DATABASE_URL names its host and port',
        );
      }
      opts.logger.warn({ database: target, reason: describe(err), attempt, retry_in_ms: wait, gives_up_in_seconds: Math.max(0, Math.round((deadline - now()) / 1000)) }, 'database unreachable at start; retrying');
      await sleep(wait);
    }
  }
}

function passwordOf(url: string): string | null {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === '' ? null : password;
  } catch {
    return null;
  }
}

const hide = (text: string, secret: string | null): string => (secret === null ? text : text.split(secret).join('***'));
