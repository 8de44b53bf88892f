/**
 * `DATABASE_URL` → a store: `file:` is SQLite, `postgres://` / `postgresql://` is PostgreSQL.
 * Migrations run on open (synchronously for SQLite, awaited for PostgreSQL).
 */
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import { createPostgresStore } from './postgres/store.js';
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
  if (/^postgres(ql)?:\/\//.test(url)) return createPostgresStore({ url, ...now, ...(opts.logger === undefined ? {} : { logger: opts.logger }) });
  throw new ConfigError([`DATABASE_URL: expected file:PATH or postgres://…, got ${JSON.stringify(url.replace(/\/\/[^@]*@/, '//***@'))}`]);
}
