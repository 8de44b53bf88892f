/** `DATABASE_URL` → a store: `file:` is SQLite, `postgres://` is PostgreSQL. Migrations run on open. */
import { ConfigError } from '../config/load.js';
import { createSqliteStore, sqlitePathFromUrl } from './sqlite/store.js';
import type { Store } from './store.js';

export async function openStore(url: string): Promise<Store> {
  if (url.startsWith('file:')) return createSqliteStore({ path: sqlitePathFromUrl(url) });
  if (/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError(['DATABASE_URL: PostgreSQL is not available in this build yet; expected a file: URL']);
  }
  throw new ConfigError([`DATABASE_URL: expected file:PATH or postgres://…, got ${JSON.stringify(url.replace(/\/\/[^@]*@/, '//***@'))}`]);
}
