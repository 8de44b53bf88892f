/**
 * Every better-sqlite3 connection sluice opens, and where the migrations are: in a checkout the
 * addon is found by better-sqlite3 itself and the migrations are drizzle/sqlite/; in the single
 * executable both come out of its assets (lib/embedded.ts).
 */
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { extractedPath, isPackaged, loadAddon } from '../../lib/embedded.js';

/**
 * better-sqlite3 takes the loaded addon as `nativeBinding` too (lib/database.js: "a string or
 * addon object"); its type declarations name the path form only. The path form would load the
 * file with `require`, which the executable's bundle does not have for files.
 */
type Options = Omit<Database.Options, 'nativeBinding'> & { nativeBinding?: object };
const DatabaseWithAddon = Database as unknown as new (path: string, options?: Options) => Database.Database;

export function openDatabase(path: string, options: Omit<Database.Options, 'nativeBinding'> = {}): Database.Database {
  if (!isPackaged()) return new Database(path, options);
  return new DatabaseWithAddon(path, { ...options, nativeBinding: loadAddon('better_sqlite3.node') });
}

/** The SQLite migrations folder (journal in meta/_journal.json, one .sql file per migration). */
export function sqliteMigrationsFolder(): string {
  return isPackaged() ? extractedPath('drizzle/sqlite') : fileURLToPath(new URL('../../../drizzle/sqlite', import.meta.url));
}
