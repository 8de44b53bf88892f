/**
 * The SQLite store (better-sqlite3 + drizzle). One process owns the file. Writes go through the
 * group-commit writer, so each verb is one SAVEPOINT inside the turn's transaction; reads run
 * directly on the same connection, which never sees a half-done batch because a batch runs
 * synchronously from BEGIN to COMMIT. This file opens the connection and assembles the
 * capabilities (one file each, the same names as the PostgreSQL store's).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { Store } from '../store.js';
import { openDatabase, sqliteMigrationsFolder } from './database.js';
import { prepareShared, type SqliteContext, type SqliteDb } from './context.js';
import { sqliteDeliveries } from './deliveries.js';
import { createSqliteEventLog, sqliteEvents } from './events.js';
import { sqliteFinish } from './finish.js';
import { sqliteOrderBook, sqliteOrders } from './orders.js';
import { sqliteGate } from './gate.js';
import { sqliteLedger } from './ledger.js';
import { sqliteMockBroker } from './mock-broker.js';
import { sqliteRuntime } from './runtime.js';
import * as t from './schema.js';
import { sqliteSignals } from './signals.js';
import { GroupCommitWriter } from './writer.js';

export interface SqliteStoreOptions {
  /** Filesystem path of the database file. */
  path: string;
  /**
   * `FULL` (default) fsyncs the WAL on every commit, so an acknowledged signal survives a power
   * cut; `NORMAL` survives a process crash only.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** The clock of what the store stamps itself (an appended event's `at`, a cursor's update). */
  now?: () => Date;
}

/** `file:./data/sluice.db` → `./data/sluice.db`. */
export function sqlitePathFromUrl(url: string): string {
  return url.replace(/^file:(\/\/)?/, '');
}

/** Opens the database and applies pending migrations (synchronously, before anything runs). */
export function openSqlite(opts: SqliteStoreOptions): { sqlite: Database.Database; db: SqliteDb } {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const sqlite = openDatabase(opts.path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema: t });
  migrate(db, { migrationsFolder: sqliteMigrationsFolder() });
  // After the migrations, whose CREATE INDEX may sort a large table in temp files. The writer
  // runs each job in a SAVEPOINT, which copies every page the job first touches to a
  // sub-journal; on disk (the default) that spilled to a temp file past 64 KiB: about 80 page
  // writes per signal, the largest cost measured (ARCHITECTURE.md, Performance).
  sqlite.pragma('temp_store = MEMORY');
  return { sqlite, db };
}

export function createSqliteStore(opts: SqliteStoreOptions): Store {
  const { sqlite, db } = openSqlite(opts);
  const log = createSqliteEventLog(db);
  const writer = new GroupCommitWriter(sqlite, log.hooks, opts.synchronous ?? 'FULL');
  const ping = sqlite.prepare('SELECT 1');
  const ctx: SqliteContext = { db, sqlite, writer, append: log.append, now: opts.now ?? (() => new Date()), q: prepareShared(db) };
  const book = sqliteOrderBook(ctx);

  return {
    dialect: 'sqlite',
    async ping() {
      ping.get();
    },
    async close() {
      writer.flush();
      sqlite.close();
    },
    ...sqliteSignals(ctx),
    ...sqliteGate(ctx),
    ...sqliteFinish(ctx, book),
    ...sqliteOrders(ctx, book),
    ...sqliteLedger(ctx),
    ...sqliteRuntime(ctx),
    ...sqliteEvents(ctx, log),
    ...sqliteDeliveries(ctx),
    mock: sqliteMockBroker(ctx),
  };
}
