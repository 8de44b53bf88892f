/**
 * Two instances on one PostgreSQL database, both running the mock's timers with three delayed
 * parts per order (docs/execution.md#fills, docs/execution.md#the-mock-connector): each part is
 * taken by one instance's conditional write and reported by that instance alone, and the order
 * row books each fill once whichever instance hears of it. 100 orders sent across both: per
 * order the booked fills sum to its quantity in at most three fills, positions equal the mock's,
 * nothing open. Then a close or target sent to one instance while a buy sent to the other is
 * still filling ends at exactly the position asked for. Skipped, visibly, without
 * SLUICE_TEST_POSTGRES_URL.
 */
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { sendAccepted, sleep } from '../helpers/connectors.js';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../helpers/postgres.js';
import { killChild, spawnSluice, tempDir, writeConfig, type Child } from '../helpers/server.js';
import { expectSettledAndBookedOnce, mockConfig, round9, sum } from './helpers.js';

const suite = POSTGRES_URL === undefined || POSTGRES_URL === '' ? describe.skip : describe;

const children: Child[] = [];
let db: TestDatabase | null = null;
afterEach(async () => {
  for (const c of children.splice(0)) await killChild(c);
  await db?.drop();
  db = null;
});

suite('two instances on one PostgreSQL database, the mock filling in three delayed parts', () => {
  test('100 orders across both: each fill booked once, positions equal the mock; close and target across instances end where asked', async () => {
    db = await createTestDatabase();
    const config = mockConfig({ partial_fills: 3, fill_delay_ms: 200 });
    const instances: Child[] = [];
    // One after the other: the first migrates, the second finds the schema.
    for (let i = 0; i < 2; i += 1) {
      const dir = tempDir('sluice-orders-pg-');
      const child = await spawnSluice({ dir, configPath: writeConfig(dir, config), env: { DATABASE_URL: db.url, SLUICE_INSTANCE_ID: `orders-${i}` } });
      children.push(child);
      instances.push(child);
    }
    const [a, b] = instances;
    if (a === undefined || b === undefined) throw new Error('no instances');

    // 100 orders over 7 instruments, buys and sells, sizes that split evenly into three and sizes that do not.
    const bodies = Array.from({ length: 100 }, (_, k) => ({ action: k % 3 === 0 ? 'sell' : 'buy', instrument: `PG${k % 7}`, quantity: [3, 1, 7.5, 10][k % 4], price: 10 + (k % 5) }));
    for (let k = 0; k < bodies.length; k += 10) {
      await Promise.all(bodies.slice(k, k + 10).map((body, j) => sendAccepted((k + j) % 2 === 0 ? a.url : b.url, body)));
    }

    const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
    try {
      const mockPositions = async (): Promise<Record<string, number>> =>
        Object.fromEntries((await sql<Array<{ instrument: string; quantity: number }>>`SELECT instrument, quantity FROM mock_positions WHERE connector = 'mock'`).map((r) => [r.instrument, r.quantity]));
      for (const url of [a.url, b.url]) {
        const { orders, booked } = await expectSettledAndBookedOnce(url, mockPositions);
        expect(orders).toHaveLength(100);
        for (const o of orders) {
          expect(o).toMatchObject({ status: 'filled', filled_quantity: o.quantity });
          const fills = booked.get(o.client_order_id)?.fills ?? [];
          expect(fills.length).toBeGreaterThan(0);
          expect(fills.length).toBeLessThanOrEqual(3);
          expect(sum(fills)).toBe(o.quantity);
        }
      }
      // Both instances booked fills: the test is about two of them sharing the work.
      for (const inst of instances) expect(inst.output.join('').split('"msg":"fill booked"').length - 1).toBeGreaterThan(0);
      const expected: Record<string, number> = {};
      for (const body of bodies) expected[body.instrument] = round9((expected[body.instrument] ?? 0) + (body.action === 'buy' ? (body.quantity ?? 0) : -(body.quantity ?? 0)));
      expect(await mockPositions()).toEqual(Object.fromEntries(Object.entries(expected).filter(([, q]) => q !== 0)));
      expect((await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM orders WHERE open = 1`)[0]?.n).toBe(0);
      expect((await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM reservations`)[0]?.n).toBe(0);

      // Then close and target races across instances: a buy at one, the close or target at the
      // other 0–300 ms later, while the buy is still filling.
      const races = Array.from({ length: 6 }, (_, k) => ({ instrument: `XR${k}`, delay: k * 60, target: k % 2 === 0 ? 0 : 4 }));
      await Promise.all(
        races.map(async (r, k) => {
          const [first, second] = k % 2 === 0 ? [a, b] : [b, a];
          await sendAccepted(first.url, { action: 'buy', instrument: r.instrument, quantity: 9, price: 10 });
          await sleep(r.delay);
          await sendAccepted(second.url, { instrument: r.instrument, price: 10, ...(r.target === 0 ? { action: 'close' } : { action: 'target', target_position: r.target }) });
        }),
      );
      await expectSettledAndBookedOnce(b.url, mockPositions);
      const after = await mockPositions();
      for (const r of races) expect([r.instrument, after[r.instrument] ?? 0]).toEqual([r.instrument, r.target]);
    } finally {
      await sql.end();
    }
  }, 120_000);
});
