/**
 * A normal late fill is never drift (docs/execution.md#position-reconciliation): while an order
 * is open the mock's position moves before sluice books the fill, and the position check that
 * runs meanwhile (every 0.2 s here) must leave that instrument for a later pass. Status is
 * sampled all along, from before the orders until well after their fills are booked: never
 * `degraded`, no `positions.drift` event. The orders rest first (limit orders, until a price is
 * posted that crosses them), so checks surely run while they are open; then they fill late.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readJson, sendAccepted, statusOf, type StatusView } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { allEvents, expectSettledAndBookedOnce, mockBook, mockConfig } from './helpers.js';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

/** Samples `/admin/status` until stopped; keeps every answer that was not `ok`. */
function sampleStatus(url: string): { stop: () => Promise<{ samples: number; bad: StatusView[] }> } {
  let running = true;
  const bad: StatusView[] = [];
  let samples = 0;
  const loop = (async () => {
    while (running) {
      const st = await statusOf(url);
      samples += 1;
      if (st.status !== 'ok') bad.push(st);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { samples, bad };
    },
  };
}

/**
 * Counts the position checks: the live mock's getPositions, wrapped (it still answers from the
 * mock's book), so the test knows checks ran during the wait and after the fills.
 */
function countChecks(server: TestServer): () => number {
  const connector = server.deps.connectors.get('mock');
  if (connector?.getPositions === undefined) throw new Error('the mock reports no positions');
  const real = connector.getPositions.bind(connector);
  let calls = 0;
  connector.getPositions = () => {
    calls += 1;
    return real();
  };
  return () => calls;
}

/**
 * Sends `orders` (limit orders rest until `crossing` is posted; market orders start their delay
 * at once), lets three position checks run while they are open, crosses the resting ones, and
 * follows everything to its end and three checks beyond, sampling status all along.
 */
async function runCase(mock: Record<string, unknown>, orders: Array<Record<string, unknown>>, crossing: Record<string, number>): Promise<void> {
  const server = await startTestServer({ config: mockConfig({ resting_orders: true, ...mock }, { execution: { reconcile_interval_seconds: 0.2 } }) });
  s = server;
  const checks = countChecks(server);
  const sampler = sampleStatus(server.url);
  for (const body of orders) await sendAccepted(server.url, body);
  const atSend = checks();
  await eventually(async () => (checks() >= atSend + 3 ? true : undefined), 10_000, 'three position checks while the orders rest');
  expect((await mockBook(server.url)).filter((o) => o.order_type === 'limit').every((o) => o.status === 'new')).toBe(true);
  await readJson<unknown>(await server.admin('/connectors/mock/prices', { body: crossing }));
  const { orders: filled } = await expectSettledAndBookedOnce(server.url, async () => Object.fromEntries((await server.deps.store.mock.getPositions('mock')).map((p) => [p.instrument, p.quantity])));
  expect(filled.map((o) => [o.instrument, o.status, o.filled_quantity]).sort()).toEqual(orders.map((o) => [o['instrument'], 'filled', o['quantity']]).sort());
  const atSettle = checks();
  await eventually(async () => (checks() >= atSettle + 3 ? true : undefined), 10_000, 'three position checks after the fills');
  const { samples, bad } = await sampler.stop();
  expect(samples).toBeGreaterThan(0);
  expect(bad).toEqual([]);
  expect((await allEvents(server.url)).filter((e) => e.type === 'positions.drift' || e.type.startsWith('degraded.'))).toEqual([]);
}

describe('late fills and the position check (reconcile_interval_seconds 0.2)', () => {
  test('fill_delay_ms 1000: a market buy, a resting buy and a resting short sale, filled a second after placement or crossing: never drift, status never degraded', async () => {
    await runCase(
      { fill_delay_ms: 1000 },
      [
        { action: 'buy', instrument: 'REC1', quantity: 10, price: 100 },
        { action: 'buy', instrument: 'REC2', quantity: 6, order_type: 'limit', limit_price: 99, price: 100 },
        { action: 'sell', instrument: 'REC3', quantity: 4, order_type: 'limit', limit_price: 51, price: 50 },
      ],
      { REC2: 98, REC3: 52 },
    );
  });

  test('partial_fills 3, fill_delay_ms 400: the instrument stays in flight between parts; never drift, never degraded', async () => {
    await runCase({ fill_delay_ms: 400, partial_fills: 3 }, [{ action: 'buy', instrument: 'REC4', quantity: 9, order_type: 'limit', limit_price: 99, price: 100 }], { REC4: 99 });
  });
});
