/**
 * The statements a signal runs on SQLite, from its record to its finish, read as SQLite runs
 * them. None binds its LIMIT: SQLite reads a bound LIMIT's value when it plans a statement, so
 * binding it again prepares the statement again at every run, which cost the lane read 8 µs
 * instead of 1.7 and the order-rate count 12 instead of 7. drizzle binds every `.limit(n)`, so
 * hot reads run through `.get()` (one step) without one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, test } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import { allow, finishInput, gateInput, newSignal, redelivery } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-statements-'));

/** Every statement run while `capturing`, by its SQL: better-sqlite3's Statement methods, wrapped. */
const ran = new Set<string>();
let capturing = false;
const probe = new Database(':memory:');
const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
const originals = new Map<string, unknown>();
for (const name of ['run', 'get', 'all', 'iterate']) {
  const original = proto[name];
  if (typeof original !== 'function') throw new Error(`better-sqlite3 statements have no ${name}()`);
  originals.set(name, original);
  proto[name] = function (this: { source: string }, ...args: unknown[]) {
    if (capturing) ran.add(this.source);
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
}
afterAll(() => {
  for (const [name, original] of originals) proto[name] = original;
  probe.close();
  rmSync(dir, { recursive: true, force: true });
});

test('no statement of the hot path binds its LIMIT (SQLite would prepare it again at every run)', async () => {
  const store = createSqliteStore({ path: join(dir, 'sluice.db') });
  try {
    capturing = true;
    // A signal from record to finish, through the order-rate count, and a duplicate of it.
    const first = newSignal({ replay_window_ms: 60_000 });
    const recorded = await store.recordSignal(first);
    if (recorded.kind !== 'inserted') throw new Error(`expected inserted, got ${recorded.kind}`);
    expect((await store.recordSignal(redelivery(first))).kind).toBe('duplicate');
    const gated = await store.gateSignal({ ...gateInput(recorded.record, allow()), order_rate_cap: 30 });
    if (gated.kind !== 'executing') throw new Error(`expected executing, got ${gated.kind}`);
    await store.finishSignal(finishInput(gated.record, { side: 'buy', quantity: 10, price: 100 }, { order: null }));
    // A close in the same lane: the gate looks for the lane's open order before deciding it.
    const close = await store.recordSignal(newSignal({ instrument: recorded.record.instrument, signal: { action: 'close' } }));
    if (close.kind !== 'inserted') throw new Error(`expected inserted, got ${close.kind}`);
    await store.gateSignal({ ...gateInput(close.record, allow({ side: 'sell', exit: true })), settle_open_orders: true });
    capturing = false;

    const statements = [...ran];
    expect(statements.some((sql) => /from "signals" where .*"seq" </i.test(sql)), 'the lane read ran').toBe(true);
    expect(statements.some((sql) => /count\(\*\)/i.test(sql)), 'the order-rate count ran').toBe(true);
    expect(statements.some((sql) => /from "orders" where .*"open"/i.test(sql)), 'the open-order read ran').toBe(true);
    expect(statements.some((sql) => /"fingerprint" = \?.* order by "signals"."seq" desc$/i.test(sql)), 'the twin read ran').toBe(true);
    expect(statements.filter((sql) => /\blimit \?/i.test(sql))).toEqual([]);
    // Without a LIMIT, `.get()` still reads one row only if the order is an index's: no sort.
    const plans = new Database(join(dir, 'sluice.db'), { readonly: true });
    try {
      const ordered = statements.filter((sql) => /^select .* order by /i.test(sql));
      expect(ordered.some((sql) => /"seq" < \?.* order by "signals"."seq" asc$/i.test(sql)), 'the lane read is among them').toBe(true);
      const sorted = ordered
        .flatMap((sql) => (plans.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array.from(sql.matchAll(/\?/g), () => null)) as Array<{ detail: string }>).map((r) => `${r.detail} ← ${sql}`))
        .filter((line) => line.includes('TEMP B-TREE'));
      expect(sorted).toEqual([]);
    } finally {
      plans.close();
    }
  } finally {
    capturing = false;
    await store.close();
  }
});
