/**
 * `DATABASE_URL` → a store: `file:` is SQLite, `postgres://` / `postgresql://` is PostgreSQL.
 * Migrations run on open (synchronously for SQLite, awaited for PostgreSQL).
 */
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import { createPostgresStore } from './postgres/store.js';
import { createSqliteStore, sqlitePathFromUrl } from './sqlite/store.js';
import type { Store } from './store.js';

export async function openStore(url: string, opts: { logger?: Logger } = {}): Promise<Store> {
  if (url.startsWith('file:')) return createSqliteStore({ path: sqlitePathFromUrl(url) });
  if (/^postgres(ql)?:\/\//.test(url)) return createPostgresStore({ url, ...(opts.logger === undefined ? {} : { logger: opts.logger }) });
  throw new ConfigError([`DATABASE_URL: expected file:PATH or postgres://…, got ${JSON.stringify(url.replace(/\/\/[^@]*@/, '//***@'))}`]);
}
