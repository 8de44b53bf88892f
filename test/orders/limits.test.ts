/**
 * Open orders count against the limits (docs/execution.md#reservations): an order that rests at
 * the broker holds its reservation until it is terminal, so ten concurrent buys that stay
 * unfilled cannot together pass `max_position_notional`; as it fills in part the reservation
 * shrinks to the unfilled remainder, and a cancel releases the rest, leaving exactly the partial
 * position: a buy that fits only without the old reservation is then allowed.
 *
 * The partial fill: the mock's resting limit orders are crossed with `fill_delay_ms` 1000 and
 * `partial_fills` 2, and the delay is raised to an hour right after the crossing (a part's
 * successor is scheduled with the delay in force when the part fills): the first part fills, the
 * second stays an hour away, and the cancel lands between them.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { readJson, sendFinal, type FinalOutcome } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { bookedOrders, allEvents, expectSettledAndBookedOnce, ledgerOf, mockBook, mockConfig } from './helpers.js';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

const LIMIT = 25_000;
/** A limit buy below the last price (100): it rests. 100 at a reference price of 100 is 10,000. */
const restingBuy = (quantity: number) => ({ action: 'buy', instrument: 'LIM', quantity, order_type: 'limit', limit_price: 99, price: 100 });

async function post(server: TestServer, path: string, body: unknown): Promise<void> {
  await readJson<unknown>(await server.admin(path, { body }));
}

const failedRules = (o: FinalOutcome) => (o.decision?.failures ?? []).map((f) => f.rule);

describe('open orders count against the limits (mock resting_orders, max_position_notional 25,000)', () => {
  test('ten concurrent unfilled buys of 10,000: two placed, eight rejected; a partial fill then a cancel leaves the partial and frees the rest', async () => {
    const server = await startTestServer({ config: mockConfig({ resting_orders: true }, { policy: { max_position_notional: { default: LIMIT } } }) });
    s = server;
    await post(server, '/connectors/mock/prices', { LIM: 100 });

    const answers = await Promise.all(Array.from({ length: 10 }, () => sendFinal(server.url, restingBuy(100))));
    const placed = answers.filter((a) => a.status === 'executed');
    const rejected = answers.filter((a) => a.status === 'rejected');
    expect(placed).toHaveLength(2);
    expect(rejected).toHaveLength(8);
    for (const a of placed) expect(a.result).toMatchObject({ status: 'new', filled_quantity: 0 });
    for (const a of rejected) expect(failedRules(a)).toEqual(['max_position_notional']);
    // The two rest at the mock, unfilled, and hold 20,000 of reserved exposure.
    const resting = await mockBook(server.url);
    expect(resting.map((o) => o.client_order_id).sort()).toEqual(placed.map((a) => clientOrderId(a.signal_id)).sort());
    expect(resting.every((o) => o.status === 'new' && o.filled_quantity === 0)).toBe(true);
    expect(await ledgerOf(server.url)).toMatchObject({ positions: {}, reserved_exposure: 20_000 });

    // Cross both; the first part of each fills, the second is an hour away.
    await post(server, '/connectors/mock/faults', { partial_fills: 2, fill_delay_ms: 1000 });
    await post(server, '/connectors/mock/prices', { LIM: 99 });
    await post(server, '/connectors/mock/faults', { fill_delay_ms: 3_600_000 });
    await eventually(async () => {
      const booked = bookedOrders(await allEvents(server.url));
      return placed.every((a) => booked.get(clientOrderId(a.signal_id))?.filled_quantity === 50) ? true : undefined;
    }, 10_000, 'the first part of both orders booked');
    const partial = await mockBook(server.url);
    expect(partial.map((o) => [o.status, o.filled_quantity])).toEqual([
      ['partially_filled', 50],
      ['partially_filled', 50],
    ]);
    // The reservation shrank to the unfilled remainder: 50 of 100 of each.
    expect(await ledgerOf(server.url)).toMatchObject({ positions: { LIM: 100 }, reserved_exposure: 10_000 });

    // 140 more: 240 × 100 = 24,000 fits only once the remainders are released.
    const tooEarly = await sendFinal(server.url, restingBuy(140));
    expect(tooEarly.status).toBe('rejected');
    expect(failedRules(tooEarly)).toEqual(['max_position_notional']);

    const cancel = await sendFinal(server.url, { action: 'cancel', instrument: 'LIM' });
    expect(cancel.status).toBe('executed');
    const { orders } = await expectSettledAndBookedOnce(server.url, async () => Object.fromEntries((await server.deps.store.mock.getPositions('mock')).map((p) => [p.instrument, p.quantity])));
    expect(orders.map((o) => [o.status, o.filled_quantity])).toEqual([
      ['canceled', 50],
      ['canceled', 50],
    ]);
    expect(await ledgerOf(server.url)).toMatchObject({ positions: { LIM: 100 }, reserved_exposure: 0 });

    const fits = await sendFinal(server.url, restingBuy(140));
    expect(fits.status).toBe('executed');
    expect(fits.decision?.failures).toEqual([]);
    expect(fits.result).toMatchObject({ status: 'new', filled_quantity: 0 });
    expect((await ledgerOf(server.url)).reserved_exposure).toBe(14_000);
  });
});
