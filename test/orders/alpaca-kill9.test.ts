/**
 * kill -9 while orders are open at the broker, and the broker fills them while sluice is down
 * (docs/execution.md#where-order-updates-come-from, docs/execution.md#recovery-after-a-crash):
 * the built CLI on a SQLite file against the fake Alpaca in this process, which fills each order
 * in two parts a second apart. After the restart on the same directory every fill is booked once
 * (per order, the `order.*` events book exactly the quantity), sluice's positions are the
 * broker's, and nothing is open on either side. Needs `npm run build` first.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { queryDb, sendAccepted, signalDetail } from '../helpers/connectors.js';
import { eventually, killChild, spawnSluice, tempDir, writeConfig, type Child } from '../helpers/server.js';
import { alpacaOrdersConfig, allEvents, bookedOrders, expectSettled, fakeOpen, fakePositions, finalSignal, warmUp } from './alpaca-helpers.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function spawn(dir: string, configPath: string): Promise<Child> {
  const child = await spawnSluice({ dir, configPath });
  cleanup.push(() => killChild(child));
  return child;
}

const BUYS = [
  { instrument: 'KA', quantity: 10 },
  { instrument: 'KA', quantity: 6 },
  { instrument: 'KB', quantity: 10 },
  { instrument: 'KC', quantity: 4 },
];

/**
 * Starts the CLI, places BUYS (accepted at the fake, nothing filled yet), kills it with SIGKILL
 * and waits until the fake has filled everything. Returns the signals and how much had filled
 * at the kill.
 */
async function placeThenKill(fake: FakeAlpaca, dir: string, configPath: string): Promise<{ signals: Array<{ signal_id: string; coid: string; quantity: number }>; filledAtKill: number }> {
  const first = await spawn(dir, configPath);
  await eventually(async () => (fake.streamStats().listening >= 1 ? true : undefined), 10_000, 'the first process listening');
  const signals = await Promise.all(
    BUYS.map(async (b) => {
      const a = await sendAccepted(first.url, { action: 'buy', instrument: b.instrument, quantity: b.quantity, price: 100 });
      return { signal_id: a.signal_id, coid: clientOrderId(a.signal_id), quantity: b.quantity };
    }),
  );
  // Placed: at the fake, and executed in sluice (its order recorded, open).
  for (const sig of signals) {
    await eventually(async () => (fake.order(sig.coid) !== undefined ? true : undefined), 10_000, `order ${sig.coid} at the fake`);
    expect((await finalSignal(first.url, sig.signal_id)).status).toBe('executed');
  }
  const filledAtKill = signals.reduce((sum, sig) => sum + Number(fake.order(sig.coid)?.filled_qty ?? 0), 0);
  first.proc.kill('SIGKILL');
  await first.exited;
  // The outage: the broker goes on filling what sluice placed.
  await eventually(async () => (fakeOpen(fake).length === 0 ? true : undefined), 15_000, 'the fake to fill everything');
  return { signals, filledAtKill };
}

async function expectAllBookedOnce(
  url: string,
  dir: string,
  fake: FakeAlpaca,
  signals: Array<{ coid: string; quantity: number }>,
  positions: Record<string, number> = { KA: 16, KB: 10, KC: 4 },
): Promise<void> {
  const { booked } = await expectSettled(url, fake, { maxFillsPerOrder: 2 });
  for (const sig of signals) {
    expect(fake.order(sig.coid)).toMatchObject({ status: 'filled', filled_qty: String(sig.quantity) });
    expect(booked.get(sig.coid)).toMatchObject({ filled: sig.quantity, last: 'filled' });
  }
  expect(fakePositions(fake)).toEqual(positions);
  expect(queryDb<{ n: number }>(dir, 'SELECT count(*) AS n FROM orders WHERE open = 1')).toEqual([{ n: 0 }]);
  expect(queryDb<{ n: number }>(dir, 'SELECT count(*) AS n FROM orders')).toEqual([{ n: signals.length }]);
}

describe('kill -9 with orders open, filled during the outage (the built CLI, SQLite)', () => {
  test('restarted with the stream up: every fill booked once, positions equal the broker\'s, nothing open', async () => {
    const fake = await startFakeAlpaca({ fills: { delay_ms: 1000, parts: 2 } });
    cleanup.push(() => fake.close());
    await warmUp(fake);
    const dir = tempDir();
    const configPath = writeConfig(dir, alpacaOrdersConfig(fake, { order_poll_seconds: 0.5 }));
    const { signals, filledAtKill } = await placeThenKill(fake, dir, configPath);
    const total = BUYS.reduce((sum, b) => sum + b.quantity, 0);
    expect(filledAtKill).toBeLessThan(total); // fills did happen during the outage

    const second = await spawn(dir, configPath);
    await expectAllBookedOnce(second.url, dir, fake, signals);
  }, 60_000);

  test('restarted with the stream refused and polling hourly: the start-up lookups alone book the outage\'s fills, once, before the lane decides', async () => {
    const fake = await startFakeAlpaca({ fills: { delay_ms: 1000, parts: 2 } });
    cleanup.push(() => fake.close());
    await warmUp(fake);
    const dir = tempDir();
    const configPath = writeConfig(dir, alpacaOrdersConfig(fake, { order_poll_seconds: 3600 }));
    const { signals, filledAtKill } = await placeThenKill(fake, dir, configPath);
    expect(filledAtKill).toBeLessThan(BUYS.reduce((sum, b) => sum + b.quantity, 0));

    fake.refuseStream(true, 'connection');
    const authorizedBefore = fake.streamStats().authorized;
    const second = await spawn(dir, configPath);
    // Sent at once: KA's open orders are looked up before it is decided, so selling the 16 the
    // broker filled meanwhile is an exit, not a short.
    const sell = await sendAccepted(second.url, { action: 'sell', instrument: 'KA', quantity: 16, price: 100 });
    await finalSignal(second.url, sell.signal_id);
    const sold = await signalDetail(second.url, sell.signal_id);
    expect(sold.status).toBe('executed');
    expect(sold.decision).toMatchObject({ allowed: true, side: 'sell', quantity: 16, exit: true });
    // The outage's fills booked with no stream at all: by the lookups made at start.
    await eventually(async () => {
      const booked = bookedOrders(await allEvents(second.url));
      return signals.every((sig) => booked.get(sig.coid)?.filled === sig.quantity) ? true : undefined;
    }, 15_000, "the outage's fills booked");
    expect(fake.streamStats().authorized).toBe(authorizedBefore);
    // The sell's own fills come once the stream is back (polling is hourly).
    fake.refuseStream(false);
    await expectAllBookedOnce(second.url, dir, fake, [...signals, { coid: clientOrderId(sell.signal_id), quantity: 16 }], { KB: 10, KC: 4 });
  }, 60_000);
});
