/**
 * Placeholders of the statements both stores prepare once (drizzle's `sql.placeholder`): a
 * prepared statement is built at start and run with its values by name. A value bound this way
 * skips drizzle's column encoder (`mapToDriverValue`): every column bound so is text, an integer
 * or a float, whose encoders change nothing; a column with an encoder of its own (a JSON or date
 * mode) would need its value encoded by the caller.
 */
import { sql } from 'drizzle-orm';

export const ph = (name: string) => sql.placeholder(name);
/** `{ a: ph('a'), b: ph('b') }`: a prepared statement's values, each bound by its own name. */
export function phs<K extends string>(...names: K[]): Record<K, ReturnType<typeof ph>> {
  return Object.fromEntries(names.map((name) => [name, ph(name)])) as Record<K, ReturnType<typeof ph>>;
}
/** A placeholder where drizzle's `set()` wants SQL rather than a Placeholder. */
export const phSql = (name: string) => sql`${sql.placeholder(name)}`;
/** `{ a: phSql('a'), … }`: the columns an update's `set()` takes, each bound by its own name. */
export function phSqls<K extends string>(...names: K[]): Record<K, ReturnType<typeof phSql>> {
  return Object.fromEntries(names.map((name) => [name, phSql(name)])) as Record<K, ReturnType<typeof phSql>>;
}
