/**
 * `kill -9` with orders still filling (docs/execution.md#orders, docs/execution.md#recovery-after-a-crash):
 * the built CLI on SQLite places orders that the mock fills 1.5 s later in two parts, and is
 * killed while they are open (two more signals sent just before the kill may be anywhere between
 * accepted and executed). Restarted on the same directory, the mock catches up on the parts
 * that came due while it was down and fills the rest on time; sluice looks its open orders up
 * and follows the stream: every fill booked once, positions equal to the mock's, nothing open.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { queryDb, sendAccepted, sleep } from '../helpers/connectors.js';
import { adminFetch, eventually, killChild, spawnSluice, tempDir, writeConfig, type Child } from '../helpers/server.js';
import { expectSettledAndBookedOnce, mockConfig, sum } from './helpers.js';

const children: Child[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await killChild(c);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function spawn(dir: string, configPath: string): Promise<Child> {
  const child = await spawnSluice({ dir, configPath });
  children.push(child);
  return child;
}

const ORDERS = [
  { action: 'buy', instrument: 'K1', quantity: 10, price: 100 },
  { action: 'buy', instrument: 'K2', quantity: 3, price: 20 },
  { action: 'sell', instrument: 'K3', quantity: 7, price: 50 },
  { action: 'buy', instrument: 'K1', quantity: 4, price: 101 },
  { action: 'sell', instrument: 'K2', quantity: 1, price: 21 },
  { action: 'buy', instrument: 'K4', quantity: 0.5, price: 300 },
];

describe('kill -9 while the mock is still filling (SQLite, the built CLI)', () => {
  test('after a restart every fill is booked once, positions equal the mock, no order open', async () => {
    const dir = tempDir('sluice-orders-kill-');
    dirs.push(dir);
    const configPath = writeConfig(dir, mockConfig({ fill_delay_ms: 1500, partial_fills: 2 }));
    const first = await spawn(dir, configPath);

    const ids: string[] = [];
    for (const body of ORDERS) ids.push((await sendAccepted(first.url, body)).signal_id);
    await eventually(async () => {
      const rows = await Promise.all(ids.map(async (id) => ((await (await adminFetch(first.url, `/signals/${id}`)).json()) as { status: string }).status));
      return rows.every((st) => st === 'executed') ? true : undefined;
    }, 10_000, 'every order placed');
    // Two more, not waited for: at the kill they may be accepted, executing or placed.
    await sendAccepted(first.url, { action: 'buy', instrument: 'K5', quantity: 2, price: 10 });
    await sendAccepted(first.url, { action: 'sell', instrument: 'K1', quantity: 1, price: 99 });
    first.proc.kill('SIGKILL');
    await first.exited;

    // What the dead process left: orders open at the mock and in sluice's order book.
    const openAtKill = queryDb<{ n: number }>(dir, 'SELECT count(*) AS n FROM orders WHERE open = 1')[0]?.n ?? 0;
    expect(openAtKill).toBeGreaterThan(0);
    // Parts come due while nothing runs: the restart catches up on them.
    await sleep(1500);

    const second = await spawn(dir, configPath);
    const mockPositions = async (): Promise<Record<string, number>> =>
      Object.fromEntries(queryDb<{ instrument: string; quantity: number }>(dir, "SELECT instrument, quantity FROM mock_positions WHERE connector = 'mock'").map((r) => [r.instrument, r.quantity]));
    const { orders, booked } = await expectSettledAndBookedOnce(second.url, mockPositions);
    // Every signal sent has its one order, filled in full, its fills (at most the two parts) summing to its quantity.
    expect(orders).toHaveLength(ORDERS.length + 2);
    for (const o of orders) {
      expect(o).toMatchObject({ status: 'filled', filled_quantity: o.quantity });
      const fills = booked.get(o.client_order_id)?.fills ?? [];
      expect(fills.length).toBeGreaterThan(0);
      expect(fills.length).toBeLessThanOrEqual(2);
      expect(sum(fills)).toBe(o.quantity);
    }
    expect(queryDb<{ n: number }>(dir, 'SELECT count(*) AS n FROM orders WHERE open = 1')[0]?.n).toBe(0);
    expect(queryDb<{ n: number }>(dir, "SELECT count(*) AS n FROM signals WHERE status <> 'executed'")[0]?.n).toBe(0);
  }, 60_000);
});
