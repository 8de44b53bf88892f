/**
 * The `trade_updates` stream drops between the parts of orders filling in parts
 * (docs/execution.md#where-order-updates-come-from, docs/execution.md#how-alpaca-reports-fills):
 * Alpaca does not replay what it sent while nobody listened, so the parts filled meanwhile are
 * found by the lookup made once after the reconnect, and booked once each. Polling is hourly here,
 * so that lookup is the only way they can be found.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { startFakeAlpaca, type FakeAlpaca, type FakeAlpacaOptions } from '../fakes/alpaca-server.js';
import { sendAccepted, sleep } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { alpacaOrdersConfig, expectSettled, fakePositions, finalSignal, sluicePositions, warmUp } from './alpaca-helpers.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(fills: FakeAlpacaOptions['fills'], execution: Record<string, unknown> = {}): Promise<{ fake: FakeAlpaca; s: TestServer }> {
  const fake = await startFakeAlpaca({ fills });
  cleanup.push(() => fake.close());
  await warmUp(fake);
  const s = await startTestServer({ config: alpacaOrdersConfig(fake, { order_poll_seconds: 3600, ...execution }) });
  cleanup.push(() => s.close());
  await eventually(async () => (fake.streamStats().listening === 1 ? true : undefined), 10_000, 'sluice listening');
  return { fake, s };
}

/** Buys 9 of each instrument, all at once; resolves once each order is placed and executed. */
async function buyEach(s: TestServer, fake: FakeAlpaca, instruments: string[]): Promise<string[]> {
  const signals = await Promise.all(instruments.map((instrument) => sendAccepted(s.url, { action: 'buy', instrument, quantity: 9, price: 100 })));
  for (const a of signals) expect((await finalSignal(s.url, a.signal_id)).status).toBe('executed');
  const coids = signals.map((a) => clientOrderId(a.signal_id));
  for (const coid of coids) await eventually(async () => (fake.order(coid) !== undefined ? true : undefined), 10_000, `order ${coid} at the fake`);
  return coids;
}

/** Waits until sluice's positions of `instruments` are each at least `qty`. */
async function sluiceAt(s: TestServer, instruments: string[], qty: number, what: string): Promise<void> {
  await eventually(async () => {
    const p = await sluicePositions(s.url);
    return instruments.every((i) => (p[i] ?? 0) >= qty) ? true : undefined;
  }, 15_000, what);
}

describe('a stream that drops between the parts of fills', () => {
  test('a part filled while the stream was down is booked by the lookup after the reconnect, once; the next part comes on the stream', async () => {
    const { fake, s } = await setup('never');
    const instruments = ['DA', 'DB', 'DC'];
    const coids = await buyEach(s, fake, instruments);
    for (const coid of coids) await eventually(async () => (fake.order(coid)?.status === 'new' ? true : undefined), 10_000, 'routed');

    for (const coid of coids) fake.fill(coid, 3, 100);
    await sluiceAt(s, instruments, 3, 'the first parts booked from the stream');

    fake.refuseStream(true, 'connection');
    fake.dropStream();
    await eventually(async () => (fake.streamStats().open === 0 ? true : undefined), 10_000, 'the stream down');
    for (const coid of coids) fake.fill(coid, 3, 101); // sent to nobody: lost
    expect(fake.streamStats().listening).toBe(0);
    expect(await sluicePositions(s.url)).toMatchObject({ DA: 3, DB: 3, DC: 3 });

    const lookupsBefore = fake.requests().filter((r) => r.path === '/v2/orders:by_client_order_id').length;
    fake.refuseStream(false);
    await sluiceAt(s, instruments, 6, 'the missed parts booked after the reconnect');
    // They were found by lookups (nothing replays them on the stream).
    expect(fake.requests().filter((r) => r.path === '/v2/orders:by_client_order_id').length).toBeGreaterThanOrEqual(lookupsBefore + coids.length);
    await eventually(async () => (fake.streamStats().listening === 1 ? true : undefined), 10_000, 'listening again');

    for (const coid of coids) fake.fill(coid, 3, 102);
    const { booked } = await expectSettled(s.url, fake, { maxFillsPerOrder: 3 });
    for (const coid of coids) {
      // Three parts, three bookings: none twice, none merged away.
      expect(booked.get(coid)).toMatchObject({ fills: 3, filled: 9, last: 'filled' });
    }
    expect(fakePositions(fake)).toEqual({ DA: 9, DB: 9, DC: 9 });
  });

  test('dropStream() between automatic parts (3 parts, 500 ms apart), the reconnect held until a part was missed: every part booked once', async () => {
    const { fake, s } = await setup({ delay_ms: 500, parts: 3 });
    const instruments = ['DD', 'DE', 'DF', 'DG'];
    const coids = await buyEach(s, fake, instruments);

    // The first part of each on the stream, then the drop; the reconnect is refused until the
    // second part of every order has filled at the broker, unseen.
    await sluiceAt(s, instruments, 3, 'the first parts booked');
    fake.refuseStream(true, 'connection');
    fake.dropStream();
    // The test's point: a part fills while nobody listens (the second is 500 ms after the first).
    expect(coids.filter((c) => Number(fake.order(c)?.filled_qty) < 6).length).toBeGreaterThan(0);
    await eventually(async () => (coids.every((c) => Number(fake.order(c)?.filled_qty) >= 6) ? true : undefined), 10_000, 'second parts filled at the fake');
    fake.refuseStream(false);

    const { booked } = await expectSettled(s.url, fake, { maxFillsPerOrder: 3 });
    for (const coid of coids) expect(booked.get(coid)).toMatchObject({ filled: 9, last: 'filled' });
    expect(fakePositions(fake)).toEqual({ DD: 9, DE: 9, DF: 9, DG: 9 });
    expect(fake.streamStats().listening).toBe(1);
  });

  test('with the position check every 200 ms meanwhile: parts the broker filled unseen are never taken for drift, and booked once', async () => {
    const { fake, s } = await setup({ delay_ms: 300, parts: 3 }, { reconcile_interval_seconds: 0.2 });
    const instruments = ['DH', 'DI', 'DJ', 'DK'];
    const coids = await buyEach(s, fake, instruments);
    await sluiceAt(s, instruments, 3, 'the first parts booked');
    fake.refuseStream(true, 'connection');
    fake.dropStream();
    // The broker fills the rest while nobody listens; several position checks see it meanwhile.
    await eventually(async () => (coids.every((c) => fake.order(c)?.status === 'filled') ? true : undefined), 10_000, 'everything filled at the fake');
    await sleep(500);
    expect(await sluicePositions(s.url)).not.toEqual(fakePositions(fake)); // not booked yet, and not adopted either
    fake.refuseStream(false);

    const { booked } = await expectSettled(s.url, fake, { maxFillsPerOrder: 3 });
    for (const coid of coids) expect(booked.get(coid)).toMatchObject({ filled: 9, last: 'filled' });
    expect(fakePositions(fake)).toEqual({ DH: 9, DI: 9, DJ: 9, DK: 9 });
  });
});
