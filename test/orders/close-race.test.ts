/**
 * `close` and `target` sent while the buy before them has not filled (docs/execution.md#close-and-target-with-open-orders):
 * whatever the race between the buy's fill and the cancel that the close sends first, the end is
 * the requested position at the mock and in sluice's book, no order left open, and the close (or
 * target) ordered exactly the difference from what the buy really filled: nothing when it was
 * canceled unfilled, its whole fill when it filled, its partial fill when the cancel landed
 * between parts.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { sendAccepted, sendFinal, signalDetail, sleep } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { expectSettledAndBookedOnce, mockBook, mockConfig, round9, type MockOrder } from './helpers.js';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

async function start(mock: Record<string, unknown>): Promise<TestServer> {
  s = await startTestServer({ config: mockConfig(mock) });
  return s;
}

function orderOf(orders: readonly MockOrder[], signalId: string): MockOrder | undefined {
  return orders.find((o) => o.client_order_id === clientOrderId(signalId));
}

/**
 * Buys 10 of `instrument`, waits for `before` (a moment, or the first part booked), sends
 * `second` (a close or a target) and follows everything to its end. Checks the shared end state
 * and that the second signal ordered exactly `target − what the buy filled`, and returns the
 * buy's final filled quantity and the mock's positions.
 */
async function buyThen(server: TestServer, instrument: string, second: Record<string, unknown>, target: number, before: () => Promise<void>): Promise<{ buyFilled: number }> {
  const buy = await sendAccepted(server.url, { action: 'buy', instrument, quantity: 10, price: 100 });
  await before();
  const answer = await sendFinal(server.url, { instrument, price: 100, ...second });
  expect(answer.status).toBe('executed');

  const { orders } = await expectSettledAndBookedOnce(server.url, async () => Object.fromEntries((await server.deps.store.mock.getPositions('mock')).map((p) => [p.instrument, p.quantity])));
  const mine = orders.filter((o) => o.instrument === instrument);
  const buyOrder = orderOf(mine, buy.signal_id);
  if (buyOrder === undefined) throw new Error('the buy reached no mock order');
  const buyFilled = buyOrder.filled_quantity;
  // Only a canceled buy can have filled less than its quantity.
  expect(buyOrder.status).toBe(buyFilled === 10 ? 'filled' : 'canceled');

  const detail = await signalDetail(server.url, answer.signal_id);
  const secondOrder = orderOf(mine, answer.signal_id);
  const difference = round9(target - buyFilled);
  if (difference === 0) {
    // Nothing left to order: the signal says so and the mock got no order from it.
    expect(detail.result?.status).toBe('no_op');
    expect(secondOrder).toBeUndefined();
    expect(mine).toHaveLength(1);
  } else {
    const side = difference > 0 ? 'buy' : 'sell';
    expect(detail.decision).toMatchObject({ allowed: true, side, quantity: Math.abs(difference) });
    expect(secondOrder).toMatchObject({ side, quantity: Math.abs(difference), status: 'filled', filled_quantity: Math.abs(difference) });
    expect(mine).toHaveLength(2);
  }
  // Both books end at the requested position.
  const mockPosition = (await server.deps.store.mock.getPositions('mock')).find((p) => p.instrument === instrument)?.quantity ?? 0;
  expect(mockPosition).toBe(target);
  return { buyFilled };
}

/** Waits until the mock has filled the first part of the instrument's only order. */
async function firstPartFilled(server: TestServer, instrument: string): Promise<void> {
  await eventually(async () => ((await mockBook(server.url)).some((o) => o.instrument === instrument && o.filled_quantity > 0) ? true : undefined), 10_000, 'the first part');
}

describe('close and target after a buy that has not filled yet (mock fill_delay_ms 500)', () => {
  test('close 100 ms after buy 10: flat at the mock and in sluice, no order open, the close ordered what the buy filled', async () => {
    const server = await start({ fill_delay_ms: 500 });
    await buyThen(server, 'CLOSE1', { action: 'close' }, 0, () => sleep(100));
  });

  test('target 3 100 ms after buy 10: exactly 3 at both, the target ordered 3 minus what the buy filled', async () => {
    const server = await start({ fill_delay_ms: 500 });
    await buyThen(server, 'TGT1', { action: 'target', target_position: 3 }, 3, () => sleep(100));
  });

  test('close after the buy filled (the buy was not open any more): it sells all 10', async () => {
    const server = await start({ fill_delay_ms: 500 });
    const { buyFilled } = await buyThen(server, 'CLOSE2', { action: 'close' }, 0, async () => {
      await eventually(async () => ((await mockBook(server.url)).some((o) => o.instrument === 'CLOSE2' && o.status === 'filled') ? true : undefined), 10_000, 'the buy filled');
    });
    expect(buyFilled).toBe(10);
  });
});

describe('in parts (mock partial_fills 2, fill_delay_ms 300): the cancel may land between parts', () => {
  test('close 100 ms after buy 10: the close sells exactly what filled', async () => {
    const server = await start({ fill_delay_ms: 300, partial_fills: 2 });
    await buyThen(server, 'PART1', { action: 'close' }, 0, () => sleep(100));
  });

  test('close once the first part filled: the close sells exactly the partial (or all, had the second part won the race)', async () => {
    const server = await start({ fill_delay_ms: 300, partial_fills: 2 });
    const { buyFilled } = await buyThen(server, 'PART2', { action: 'close' }, 0, () => firstPartFilled(server, 'PART2'));
    expect([5, 10]).toContain(buyFilled);
  });

  test('target 3 once the first part filled: ends at exactly 3, the target ordered 3 minus the partial', async () => {
    const server = await start({ fill_delay_ms: 300, partial_fills: 2 });
    const { buyFilled } = await buyThen(server, 'PART3', { action: 'target', target_position: 3 }, 3, () => firstPartFilled(server, 'PART3'));
    expect([5, 10]).toContain(buyFilled);
  });
});

describe('many races at once (mock partial_fills 2, fill_delay_ms 300)', () => {
  test('20 instruments, each a buy of 10 then a close or a target after 0–600 ms: each ends exactly where it was sent, nothing open, every fill booked once', async () => {
    const server = await start({ fill_delay_ms: 300, partial_fills: 2 });
    const cases = Array.from({ length: 20 }, (_, k) => ({ instrument: `RACE${k}`, delay: (k * 37) % 601, target: k % 3 === 0 ? 0 : k % 3 === 1 ? 3 : -2 }));
    await Promise.all(
      cases.map(async (c) => {
        await sendAccepted(server.url, { action: 'buy', instrument: c.instrument, quantity: 10, price: 100 });
        await sleep(c.delay);
        const body = c.target === 0 ? { action: 'close' } : { action: 'target', target_position: c.target };
        await sendAccepted(server.url, { instrument: c.instrument, price: 100, ...body });
      }),
    );
    const mockPositions = async () => Object.fromEntries((await server.deps.store.mock.getPositions('mock')).map((p) => [p.instrument, p.quantity]));
    await expectSettledAndBookedOnce(server.url, mockPositions);
    const expected = Object.fromEntries(cases.filter((c) => c.target !== 0).map((c) => [c.instrument, c.target]));
    expect(await mockPositions()).toEqual(expected);
  });
});
