/**
 * `close` and `target` sent while a buy is still open at the broker (docs/execution.md#close-and-target-with-open-orders),
 * against the fake Alpaca that answers `accepted` and fills 500 ms later: whatever the race,
 * the account ends at the requested position with nothing of the instrument open, and sluice's
 * position is the broker's. Each case runs three ways: stream and polling both working; fills
 * known only by polling (the stream refused for the whole run); only by the stream (polling every
 * hour, so never within the test).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { sendAccepted, sleep } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { alpacaOrdersConfig, expectSettled, fakePositions, finalSignal, sluicePositions, warmUp } from './alpaca-helpers.js';

interface Variant {
  name: string;
  tag: string;
  order_poll_seconds: number;
  /** The stream is refused from before start to the end: every update comes from a lookup. */
  refuse: boolean;
  /** Nothing but the stream may report the placed orders' fills: no lookup of them is made. */
  streamOnly: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'stream and polling both working', tag: 'A', order_poll_seconds: 0.1, refuse: false, streamOnly: false },
  { name: 'fills known only by polling (stream refused)', tag: 'P', order_poll_seconds: 0.2, refuse: true, streamOnly: false },
  { name: 'fills known only by the stream (order_poll_seconds 3600)', tag: 'S', order_poll_seconds: 3600, refuse: false, streamOnly: true },
];

describe.each(VARIANTS)('close and target with a buy still open, $name', (variant) => {
  let fake: FakeAlpaca;
  let s: TestServer;

  beforeAll(async () => {
    fake = await startFakeAlpaca({ fills: { delay_ms: 500, parts: 1 } });
    if (variant.refuse) fake.refuseStream(true, 'connection');
    await warmUp(fake);
    s = await startTestServer({ config: alpacaOrdersConfig(fake, { order_poll_seconds: variant.order_poll_seconds }) });
    if (!variant.refuse) await eventually(async () => (fake.streamStats().listening >= 1 ? true : undefined), 10_000, 'sluice listening on the stream');
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  /** A lookup by client_order_id of `coid` was made (what polling and settling do). */
  const lookedUp = (coid: string): boolean =>
    fake.requests().some((r) => r.method === 'GET' && r.path === '/v2/orders:by_client_order_id' && r.query['client_order_id'] === coid);

  /** What every case ends with: the variant's source was the only one. */
  function expectSource(placedAfterSettling: string[]): void {
    if (variant.refuse) expect(fake.streamStats().authorized).toBe(0);
    // The orders placed after the open ones were settled are followed by the stream alone.
    if (variant.streamOnly) for (const coid of placedAfterSettling) expect(lookedUp(coid), `lookup of ${coid}`).toBe(false);
  }

  test('buy 10 (fills after 500 ms), close 100 ms later: flat at the broker and in sluice, nothing open', async () => {
    const sym = `CL${variant.tag}`;
    const buy = await sendAccepted(s.url, { action: 'buy', instrument: sym, quantity: 10, price: 100 });
    await sleep(100);
    const close = await sendAccepted(s.url, { action: 'close', instrument: sym });
    expect((await finalSignal(s.url, buy.signal_id)).status).toBe('executed');
    const closed = await finalSignal(s.url, close.signal_id);
    expect(closed.status).toBe('executed');

    await expectSettled(s.url, fake, { maxFillsPerOrder: 1 });
    expect(fakePositions(fake)[sym]).toBeUndefined();
    expect((await sluicePositions(s.url))[sym]).toBeUndefined();
    expectSource([clientOrderId(close.signal_id)]);
  });

  test('buy 10 with 4 filled by hand, close: the close sells exactly what filled, flat at the end', async () => {
    const sym = `CP${variant.tag}`;
    const buy = await sendAccepted(s.url, { action: 'buy', instrument: sym, quantity: 10, price: 100 });
    const coid = clientOrderId(buy.signal_id);
    await eventually(async () => (fake.order(coid)?.status === 'new' ? true : undefined), 10_000, 'the buy routed at the fake');
    fake.fill(coid, 4, 100);
    const close = await sendAccepted(s.url, { action: 'close', instrument: sym });
    expect((await finalSignal(s.url, close.signal_id)).status).toBe('executed');

    await expectSettled(s.url, fake, { maxFillsPerOrder: 2 });
    expect(Number(fake.order(coid)?.filled_qty)).toBeGreaterThanOrEqual(4);
    expect(fakePositions(fake)[sym]).toBeUndefined();
    expect((await sluicePositions(s.url))[sym]).toBeUndefined();
    // The close sold what the buy had filled by the time it was canceled, not more.
    const sold = fake.orders().filter((o) => o.symbol === sym && o.side === 'sell');
    expect(sold.map((o) => Number(o.filled_qty))).toEqual([Number(fake.order(coid)?.filled_qty)]);
    expectSource([clientOrderId(close.signal_id)]);
  });

  test('buy 10, target 4 100 ms later: exactly 4 at the broker and in sluice, nothing open', async () => {
    const sym = `TG${variant.tag}`;
    const buy = await sendAccepted(s.url, { action: 'buy', instrument: sym, quantity: 10, price: 100 });
    await sleep(100);
    const target = await sendAccepted(s.url, { action: 'target', instrument: sym, target_position: 4, price: 100 });
    expect((await finalSignal(s.url, buy.signal_id)).status).toBe('executed');
    expect((await finalSignal(s.url, target.signal_id)).status).toBe('executed');

    await eventually(async () => (fakePositions(fake)[sym] === 4 ? true : undefined), 10_000, 'the broker at 4');
    await expectSettled(s.url, fake, { maxFillsPerOrder: 1 });
    expect(fakePositions(fake)[sym]).toBe(4);
    expect((await sluicePositions(s.url))[sym]).toBe(4);
    expectSource([clientOrderId(target.signal_id)]);
  });
});
