/**
 * The query plans of the SQLite reads whose cost would grow with history: the open orders
 * (sluice's and the mock broker's), read at every start and by the order tracker. SQLite keeps
 * no statistics unless ANALYZE runs, so its planner chooses by the indexes' shape alone, the
 * same on an empty file as on a million orders: a plan read here is the plan in production.
 * With `ORDER BY seq` or `ORDER BY created_at` in the SQL, the planner preferred the index that
 * gives that order and walked every order ever placed (2.4 s to ready on a million orders).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQLWrapper } from 'drizzle-orm';
import { afterAll, describe, expect, test } from 'vitest';
import { openMockOrdersQuery } from '../../src/store/sqlite/mock-broker.js';
import { openOrdersQuery } from '../../src/store/sqlite/orders.js';
import { openSqlite } from '../../src/store/sqlite/store.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-plans-'));
const { sqlite, db } = openSqlite({ path: join(dir, 'sluice.db') });
afterAll(() => {
  sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The plan's lines, as `EXPLAIN QUERY PLAN` prints them. */
function plan(query: SQLWrapper & { toSQL: () => { sql: string; params: unknown[] } }): string[] {
  const { sql, params } = query.toSQL();
  return (sqlite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail);
}

describe('reads of open orders go through the open-order indexes, never every order', () => {
  test.each([
    ['one connector', 'mock', undefined],
    ['one lane', 'mock', 'AAPL'],
    ['every connector', undefined, undefined],
  ])("sluice's open orders of %s: orders_open_idx", (_name, connector, instrument) => {
    const lines = plan(openOrdersQuery(db, connector, instrument));
    expect(lines.join(' | ')).toMatch(/^SEARCH orders USING INDEX orders_open_idx \(open=\?/);
  });

  test.each([
    ['due by a time', { due_by: 1_000 }],
    ['resting in a lane', { resting: 'AAPL' }],
  ])("the mock broker's open orders %s: mock_orders_open_idx", (_name, which) => {
    const lines = plan(openMockOrdersQuery(db, 'mock', which));
    expect(lines).toEqual(['SEARCH mock_orders USING INDEX mock_orders_open_idx (connector=? AND status=?)']);
  });
});
