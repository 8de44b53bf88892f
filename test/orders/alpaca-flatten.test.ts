/**
 * `POST /admin/flatten` with a stale ledger (docs/execution.md#flatten): the broker holds a
 * position sluice's ledger does not know in full, because another client of the same account
 * traded it and the periodic position check has not run yet. The fake fills 1 s late. Whatever
 * the ledger says, the account ends flat at the broker and is never short on the way, and a
 * `close` sent once the flatten settled orders nothing.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { readJson, sendAccepted } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { alpacaOrdersConfig, expectSettled, fakeOpen, fakePositions, finalSignal, placeAtFake, sluicePositions, warmUp } from './alpaca-helpers.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(): Promise<{ fake: FakeAlpaca; s: TestServer }> {
  const fake = await startFakeAlpaca({ fills: { delay_ms: 1000, parts: 1 } });
  cleanup.push(() => fake.close());
  await warmUp(fake);
  const s = await startTestServer({ config: alpacaOrdersConfig(fake, { order_poll_seconds: 0.5 }) });
  cleanup.push(() => s.close());
  await eventually(async () => (fake.streamStats().listening === 1 ? true : undefined), 10_000, 'sluice listening');
  return { fake, s };
}

/** Samples the fake's position of `symbol` every few ms until stopped; `lowest` is the lowest seen so far. */
function watchLowest(fake: FakeAlpaca, symbol: string): { lowest: () => number; stop: () => void } {
  let lowest = Number.POSITIVE_INFINITY;
  const sample = (): void => {
    lowest = Math.min(lowest, fakePositions(fake)[symbol] ?? 0);
  };
  sample();
  const timer = setInterval(sample, 5);
  cleanup.push(async () => clearInterval(timer));
  return {
    lowest: () => {
      sample();
      return lowest;
    },
    stop: () => clearInterval(timer),
  };
}

/** Flattens, waits until it settled, closes: the account flat at the broker, never short, the close a no-op. */
async function flattenThenClose(fake: FakeAlpaca, s: TestServer, symbol: string, brokerHolds: number): Promise<void> {
  const watch = watchLowest(fake, symbol);
  const res = await s.admin('/flatten', { body: { reason: 'stale ledger test' } });
  const flattened = await readJson<{ signals: Array<{ signal_id: string; instrument: string; quantity: number }> }>(res);
  expect(flattened.signals.map((x) => ({ instrument: x.instrument, quantity: x.quantity }))).toEqual([{ instrument: symbol, quantity: brokerHolds }]);
  for (const sig of flattened.signals) expect((await finalSignal(s.url, sig.signal_id)).status).toBe('executed');
  await eventually(async () => (fakeOpen(fake).length === 0 ? true : undefined), 15_000, "the flatten's orders to end");

  expect(watch.lowest(), 'the lowest position at the broker during the flatten').toBeGreaterThanOrEqual(0);
  expect(fakePositions(fake)[symbol], 'the position at the broker after the flatten').toBeUndefined();
  await expectSettled(s.url, fake, { allowDrift: true });
  expect((await sluicePositions(s.url))[symbol]).toBeUndefined();

  const ordersBefore = fake.orders().length;
  const close = await sendAccepted(s.url, { action: 'close', instrument: symbol });
  const closed = await finalSignal(s.url, close.signal_id);
  expect(closed.status).toBe('executed');
  expect(closed.result?.status, 'the close after the flatten').toBe('no_op');
  expect(fake.orders()).toHaveLength(ordersBefore); // the close ordered nothing
  await expectSettled(s.url, fake, { allowDrift: true });
  expect(fakePositions(fake)[symbol]).toBeUndefined();
  expect(watch.lowest(), 'the lowest position at the broker').toBeGreaterThanOrEqual(0);
  watch.stop();
}

describe('flatten with a stale ledger (fills 1 s late)', () => {
  test('the broker holds more than the ledger (another client bought 7 more): flat at the end, never short, the close orders nothing', async () => {
    const { fake, s } = await setup();
    const buy = await sendAccepted(s.url, { action: 'buy', instrument: 'FM', quantity: 3, price: 100 });
    expect((await finalSignal(s.url, buy.signal_id)).status).toBe('executed');
    await placeAtFake(fake, { symbol: 'FM', qty: '7', side: 'buy', type: 'market', time_in_force: 'day', client_order_id: 'other-client-buy-7' });
    await eventually(async () => (fakePositions(fake)['FM'] === 10 && fakeOpen(fake).length === 0 ? true : undefined), 10_000, 'the broker at 10');
    await eventually(async () => ((await sluicePositions(s.url))['FM'] === 3 ? true : undefined), 10_000, 'the ledger at 3');

    await flattenThenClose(fake, s, 'FM', 10);
  });

  test('the broker holds less than the ledger (another client sold 7): flat at the end, never short, the close orders nothing', async () => {
    const { fake, s } = await setup();
    const buy = await sendAccepted(s.url, { action: 'buy', instrument: 'FL', quantity: 10, price: 100 });
    expect((await finalSignal(s.url, buy.signal_id)).status).toBe('executed');
    await eventually(async () => (fakePositions(fake)['FL'] === 10 ? true : undefined), 10_000, 'the broker at 10');
    await placeAtFake(fake, { symbol: 'FL', qty: '7', side: 'sell', type: 'market', time_in_force: 'day', client_order_id: 'other-client-sell-7' });
    await eventually(async () => (fakePositions(fake)['FL'] === 3 && fakeOpen(fake).length === 0 ? true : undefined), 10_000, 'the broker at 3');
    await eventually(async () => ((await sluicePositions(s.url))['FL'] === 10 ? true : undefined), 10_000, 'the ledger at 10');

    await flattenThenClose(fake, s, 'FL', 3);
  });
});
