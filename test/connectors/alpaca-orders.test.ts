/**
 * An order's life at the fake Alpaca (test/fakes/alpaca-book.ts), seen through the connector: the
 * REST answers (place, getOrder, cancel, positions) and the `trade_updates` stream together. As at
 * Alpaca, an order is answered `accepted` with nothing filled and fills later; sluice's mapping
 * reads `accepted` as `new`.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { CallResult, PlacedOrderRequest } from '../../src/connectors/connector.js';
import type { OrderType } from '../../src/domain/types.js';
import { startFakeAlpaca, type FakeAlpaca, type FakeAlpacaOptions } from '../fakes/alpaca-server.js';
import { expectNoKeys, recorder, sleep, streamConnector, type Recorder } from '../helpers/alpaca-stream.js';
import { createAlpacaConnector, type AlpacaConnector } from '../../src/connectors/alpaca.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A fake, a connector on it and a listening stream. */
async function setup(opts: FakeAlpacaOptions): Promise<{ fake: FakeAlpaca; c: AlpacaConnector; rec: Recorder }> {
  const fake = await startFakeAlpaca(opts);
  const c = streamConnector(fake);
  const rec = recorder();
  c.subscribe?.(rec);
  cleanup.push(async () => {
    await c.close?.();
    const violations = fake.violations();
    await fake.close();
    expect(violations).toEqual([]);
    expectNoKeys(fake, rec);
  });
  await rec.connections(1);
  return { fake, c, rec };
}

let seq = 0;
const request = (over: Partial<PlacedOrderRequest> = {}): PlacedOrderRequest => {
  seq += 1;
  const instrument = over.instrument ?? 'AAPL';
  const order_type: OrderType = over.order_type ?? 'market';
  return {
    action: 'buy',
    client_order_id: `sl-orders-${seq}-${Date.now()}`,
    signal_id: `sig_${seq}`,
    instrument,
    side: 'buy',
    quantity: 9,
    order_type,
    time_in_force: 'day',
    signal: { action: 'buy', instrument, quantity: 9, order_type, time_in_force: 'day', meta: {} },
    ...over,
  };
};

const value = <T>(r: CallResult<T>): T => {
  if (!r.ok) throw new Error(`expected ok, got ${r.reason}`);
  return r.value;
};

const statusesOf = (rec: Recorder, coid: string) => rec.updates.filter((o) => o.client_order_id === coid).map((o) => `${o.status}:${o.filled_quantity}`);

describe('fills follow the plan', () => {
  test('a plan in three parts: answered accepted (new, 0 filled), then new, partial, partial, fill on the stream', async () => {
    const { fake, c, rec } = await setup({ fills: { delay_ms: 30, parts: 3 } });
    const req = request();
    const placed = value(await c.place(req));
    expect(placed).toMatchObject({ status: 'new', filled_quantity: 0, fill_price: null });
    expect(fake.requests().length).toBe(1);

    await rec.update(req.client_order_id, (o) => o.status === 'filled', 'the last fill');
    expect(statusesOf(rec, req.client_order_id)).toEqual(['new:0', 'partially_filled:3', 'partially_filled:6', 'filled:9']);
    expect(value(await c.getOrder(req.client_order_id))).toMatchObject({ status: 'filled', filled_quantity: 9, fill_price: 100 });
    expect(value(await c.getPositions())).toEqual([{ instrument: 'AAPL', quantity: 9, avg_price: 100 }]);
  });

  test('the answer itself, as Alpaca sends it: accepted, filled_qty "0", no average price; GET /v2/orders/{id} finds it', async () => {
    const { fake, rec } = await setup({ fills: { delay_ms: 20, parts: 1 } });
    const headers = { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key, 'content-type': 'application/json' };
    const res = await fetch(`${fake.url}/v2/orders`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ symbol: 'AAPL', qty: '2', side: 'buy', type: 'market', time_in_force: 'day', client_order_id: 'raw-1' }),
    });
    const answer = (await res.json()) as Record<string, unknown>;
    expect(answer).toMatchObject({ status: 'accepted', filled_qty: '0', filled_avg_price: null });
    await rec.update('raw-1', (o) => o.status === 'filled', 'the fill');
    const byId = await fetch(`${fake.url}/v2/orders/${String(answer['id'])}`, { headers });
    expect(await byId.json()).toMatchObject({ client_order_id: 'raw-1', status: 'filled', filled_qty: '2', filled_avg_price: '100' });
  });

  test('fills: immediate answers a market order filled, as the fake did before the stream', async () => {
    const { c, rec } = await setup({ fills: 'immediate' });
    const req = request();
    expect(value(await c.place(req))).toMatchObject({ status: 'filled', filled_quantity: 9, fill_price: 100 });
    await rec.update(req.client_order_id, (o) => o.status === 'filled', 'the fill on the stream');
    expect(statusesOf(rec, req.client_order_id)).toEqual(['new:0', 'filled:9']);
  });

  test('fills: never: the order rests until canceled; cancel() lists the symbol\'s open orders and deletes each', async () => {
    const { fake, c, rec } = await setup({ fills: 'never' });
    const a = request();
    const b = request();
    const other = request({ instrument: 'MSFT' });
    for (const r of [a, b, other]) value(await c.place(r));
    await rec.update(b.client_order_id, (o) => o.status === 'new', 'b routed');
    expect(fake.openOrders()).toHaveLength(3);

    expect(value(await c.cancel('AAPL'))).toEqual({ cancelled: 2 });
    await rec.update(a.client_order_id, (o) => o.status === 'canceled', 'a canceled on the stream');
    await rec.update(b.client_order_id, (o) => o.status === 'canceled', 'b canceled on the stream');
    expect(fake.openOrders().map((o) => o.symbol)).toEqual(['MSFT']);
    const list = fake.requests().find((r) => r.method === 'GET' && r.path === '/v2/orders');
    expect(list?.query).toMatchObject({ status: 'open', symbols: 'AAPL' });
    expect(value(await c.cancel('AAPL'))).toEqual({ cancelled: 0 });
  });

  test('a partly filled order that is canceled keeps its fills; one that filled meanwhile stays filled', async () => {
    const { fake, c, rec } = await setup({ fills: 'never' });
    const partly = request();
    value(await c.place(partly));
    await rec.update(partly.client_order_id, (o) => o.status === 'new', 'routed');
    fake.fill(partly.client_order_id, 4, 101);
    expect(value(await c.cancel('AAPL'))).toEqual({ cancelled: 1 });
    const canceled = await rec.update(partly.client_order_id, (o) => o.status === 'canceled', 'canceled');
    expect(canceled).toMatchObject({ filled_quantity: 4, fill_price: 101 });

    const done = request({ instrument: 'TSLA' });
    value(await c.place(done));
    await rec.update(done.client_order_id, (o) => o.status === 'new', 'routed');
    fake.fill(done.client_order_id, 9, 50);
    // An order that filled between the listing and the DELETE is refused 422, which cancel() skips.
    const id = fake.order(done.client_order_id)?.id ?? '';
    const del = await fetch(`${fake.url}/v2/orders/${id}`, { method: 'DELETE', headers: { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key } });
    expect(del.status).toBe(422);
    expect(value(await c.cancel('TSLA'))).toEqual({ cancelled: 0 });
    expect(value(await c.getOrder(done.client_order_id))).toMatchObject({ status: 'filled', filled_quantity: 9 });
  });

  test('expire, reject by hand and a rejected placement arrive as expired and rejected', async () => {
    const { fake, c, rec } = await setup({ fills: 'never' });
    const exp = request();
    const rej = request();
    value(await c.place(exp));
    value(await c.place(rej));
    await rec.update(rej.client_order_id, (o) => o.status === 'new', 'routed');
    fake.expire(exp.client_order_id);
    fake.reject(rej.client_order_id);
    await rec.update(exp.client_order_id, (o) => o.status === 'expired', 'expired');
    await rec.update(rej.client_order_id, (o) => o.status === 'rejected', 'rejected');

    fake.failNext('reject');
    const refused = request();
    expect(value(await c.place(refused))).toMatchObject({ status: 'new', filled_quantity: 0 });
    await rec.update(refused.client_order_id, (o) => o.status === 'rejected', 'rejected after acceptance');
    expect(value(await c.getOrder(refused.client_order_id))).toMatchObject({ status: 'rejected' });
  });
});

describe('limit orders', () => {
  test('marketable (default): a limit through the price fills by the plan; one below rests until the price comes to it', async () => {
    const { fake, c, rec } = await setup({ fills: { delay_ms: 20, parts: 1 } });
    const through = request({ order_type: 'limit', limit_price: 101 });
    const below = request({ order_type: 'limit', limit_price: 95 });
    value(await c.place(through));
    value(await c.place(below));
    await rec.update(through.client_order_id, (o) => o.status === 'filled', 'the marketable limit filled');
    expect(rec.updates.find((o) => o.client_order_id === through.client_order_id && o.status === 'filled')?.fill_price).toBe(100);
    await rec.update(below.client_order_id, (o) => o.status === 'new', 'the other routed');
    expect(fake.order(below.client_order_id)?.status).toBe('new');

    fake.setPrice('AAPL', 94);
    const filled = await rec.update(below.client_order_id, (o) => o.status === 'filled', 'filled once the price reached it');
    expect(filled.fill_price).toBe(94);
  });

  test('limit_orders: rest keeps every limit order open, whatever the price', async () => {
    const { fake, c, rec } = await setup({ fills: { delay_ms: 20, parts: 1 }, limit_orders: 'rest' });
    const req = request({ order_type: 'limit', limit_price: 150 });
    value(await c.place(req));
    await rec.update(req.client_order_id, (o) => o.status === 'new', 'routed');
    fake.setPrice('AAPL', 90);
    // Ten times the plan's delay: a fill would have come by now.
    await sleep(200);
    expect(fake.order(req.client_order_id)?.status).toBe('new');
    expect(statusesOf(rec, req.client_order_id)).toEqual(['new:0']);
  });
});

describe('cancel pages through the open orders', () => {
  /** 501 resting orders: one more than Alpaca lists in a page. */
  async function fakeWith501(): Promise<FakeAlpaca> {
    const fake = await startFakeAlpaca({ fills: 'never' });
    cleanup.push(async () => {
      const violations = fake.violations();
      await fake.close();
      expect(violations).toEqual([]);
    });
    const headers = { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key, 'content-type': 'application/json' };
    for (let batch = 0; batch < 501; batch += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, 501 - batch) }, (_, i) =>
          fetch(`${fake.url}/v2/orders`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ symbol: 'AAPL', qty: '1', side: 'buy', type: 'limit', limit_price: '1', time_in_force: 'gtc', client_order_id: `page-${batch + i}` }),
          }).then((r) => expect(r.status).toBe(200)),
        ),
      );
    }
    return fake;
  }
  /** The throttle's waits advance a clock instead of sleeping. */
  const unthrottled = (fake: FakeAlpaca, fetchImpl?: typeof fetch): AlpacaConnector => {
    let clock = Date.parse('2026-12-02T14:30:00Z');
    return createAlpacaConnector(
      'paper',
      { type: 'alpaca', base_url: fake.url, key_id: fake.key_id, secret_key: fake.secret_key, live: false, timeout_ms: 5000 },
      { now: () => new Date(clock), sleep: async (ms) => void (clock += ms), fetch: fetchImpl },
    );
  };
  const lists = (fake: FakeAlpaca) => fake.requests().filter((r) => r.method === 'GET' && r.path === '/v2/orders').length;

  test('501 open orders: a full page of 500, then the one left; all canceled', async () => {
    const fake = await fakeWith501();
    expect(value(await unthrottled(fake).cancel('AAPL'))).toEqual({ cancelled: 501 });
    expect(fake.openOrders()).toEqual([]);
    expect(lists(fake)).toBe(2);
  });

  test('orders still listed after their cancel (pending_cancel): the oldest-first page reaches the rest, and the cancel ends', async () => {
    const fake = await fakeWith501();
    // Every DELETE is answered 204 without reaching the fake: its orders stay open, as pending_cancel ones do.
    const pending: typeof fetch = async (input, init) => (init?.method === 'DELETE' ? new Response(null, { status: 204 }) : fetch(input, init));
    expect(value(await unthrottled(fake, pending).cancel('AAPL'))).toEqual({ cancelled: 501 });
    // Newest first (500 new), again (nothing new), then oldest first (the one left), again (nothing new).
    const directions = fake.requests().filter((r) => r.method === 'GET' && r.path === '/v2/orders').map((r) => r.query['direction']);
    expect(directions).toEqual(['desc', 'desc', 'asc', 'asc']);
  });
});
