/**
 * The alpaca connector against the fake Trading API (test/fakes/alpaca-server.ts), which checks
 * every request against Alpaca's OpenAPI document: after each test no violation may be recorded
 * and no API key may appear in any result.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { AlpacaConnectorConfig } from '../../src/connectors/alpaca.js';
import { createAlpacaConnector, createTokenBucket } from '../../src/connectors/alpaca.js';
import type { CallResult, PlacedOrderRequest } from '../../src/connectors/connector.js';
import type { OrderType } from '../../src/domain/types.js';
import type { FakeAlpaca } from '../fakes/alpaca-server.js';
import { startFakeAlpaca } from '../fakes/alpaca-server.js';

let fake: FakeAlpaca;
/** Every result a test saw: afterEach checks that no key leaked into any of them. */
let seen: CallResult<unknown>[] = [];
const track = <T>(r: CallResult<T>): CallResult<T> => {
  seen.push(r);
  return r;
};

beforeEach(async () => {
  // These tests are about the calls, not about fills: orders fill (or rest) inside the POST.
  fake = await startFakeAlpaca({ fills: 'immediate', limit_orders: 'rest' });
  seen = [];
});

afterEach(async () => {
  const violations = fake.violations();
  await fake.close();
  expect(violations).toEqual([]);
  for (const r of seen) {
    const text = JSON.stringify(r);
    expect(text).not.toContain(fake.key_id);
    expect(text).not.toContain(fake.secret_key);
  }
});

const config = (over: Partial<AlpacaConnectorConfig> = {}): AlpacaConnectorConfig => ({
  type: 'alpaca',
  base_url: fake.url,
  key_id: fake.key_id,
  secret_key: fake.secret_key,
  live: false,
  timeout_ms: 2000,
  ...over,
});
const connector = (over: Partial<AlpacaConnectorConfig> = {}) => createAlpacaConnector('alpaca', config(over), { now: () => new Date() });

let seq = 0;
const request = (over: Partial<PlacedOrderRequest> = {}): PlacedOrderRequest => {
  seq += 1;
  const instrument = over.instrument ?? 'AAPL';
  const order_type: OrderType = over.order_type ?? 'market';
  return {
    client_order_id: `sl-test-${seq}-${Date.now()}`,
    signal_id: `sig_${seq}`,
    instrument,
    action: 'buy',
    side: 'buy',
    quantity: 10,
    order_type,
    time_in_force: 'day',
    signal: { action: 'buy', instrument, quantity: 10, order_type, time_in_force: 'day', meta: {} },
    ...over,
  };
};

const value = <T>(r: CallResult<T>): T => {
  if (!r.ok) throw new Error(`expected ok, got ${r.reason}`);
  return r.value;
};

describe('alpaca connector against the fake Trading API', () => {
  test('place a market order: POST /v2/orders with string numbers; filled at the fake price', async () => {
    const c = connector();
    const req = request({ quantity: 10 });
    const order = value(track(await c.place(req)));

    expect(order).toMatchObject({
      client_order_id: req.client_order_id,
      instrument: 'AAPL',
      side: 'buy',
      quantity: 10,
      order_type: 'market',
      limit_price: null,
      status: 'filled',
      filled_quantity: 10,
      fill_price: 100,
    });
    expect(order.order_id).toMatch(/^[0-9a-f-]{36}$/);
    const sent = fake.requests().find((r) => r.method === 'POST');
    expect(sent?.body).toEqual({
      symbol: 'AAPL',
      qty: '10',
      side: 'buy',
      type: 'market',
      time_in_force: 'day',
      client_order_id: req.client_order_id,
    });
    expect(sent?.headers['apca-api-key-id']).toBe(fake.key_id);
  });

  test('a limit bracket order stays open as accepted; take_profit/stop_loss sent as strings', async () => {
    const c = connector();
    const req = request({
      order_type: 'limit',
      limit_price: 150.1,
      quantity: 0.5,
      take_profit: { limit_price: 160 },
      stop_loss: { stop_price: 145, limit_price: 144.5 },
      time_in_force: 'gtc',
    });
    const order = value(track(await c.place(req)));
    expect(order).toMatchObject({ status: 'new', limit_price: 150.1, quantity: 0.5, filled_quantity: 0, fill_price: null });
    expect(fake.requests().find((r) => r.method === 'POST')?.body).toMatchObject({
      qty: '0.5',
      limit_price: '150.1',
      order_class: 'bracket',
      take_profit: { limit_price: '160' },
      stop_loss: { stop_price: '145', limit_price: '144.5' },
    });
  });

  test('one bracket leg alone goes as an oto order', async () => {
    const c = connector();
    value(track(await c.place(request({ order_type: 'stop', stop_price: 99, stop_loss: { stop_price: 90 } }))));
    expect(fake.requests().find((r) => r.method === 'POST')?.body).toMatchObject({ order_class: 'oto', stop_price: '99' });
  });

  test('getOrder by client_order_id; an unknown id is ok(null)', async () => {
    const c = connector();
    const req = request({ order_type: 'limit', limit_price: 10 });
    const placed = value(await c.place(req));
    expect(value(track(await c.getOrder(req.client_order_id)))).toEqual(placed);
    expect(track(await c.getOrder('never-placed'))).toEqual({ ok: true, value: null });
    expect(fake.requests().some((r) => r.path === '/v2/orders:by_client_order_id' && r.query['client_order_id'] === 'never-placed')).toBe(true);
  });

  test('cancel lists the open orders of the symbol and DELETEs each', async () => {
    const c = connector();
    value(await c.place(request({ order_type: 'limit', limit_price: 10 })));
    value(await c.place(request({ order_type: 'limit', limit_price: 11 })));
    value(await c.place(request({ instrument: 'MSFT', order_type: 'limit', limit_price: 12 })));
    value(await c.place(request())); // market: filled, nothing to cancel

    expect(track(await c.cancel('AAPL'))).toEqual({ ok: true, value: { cancelled: 2 } });
    const statuses = fake.orders().map((o) => `${o.symbol}:${o.status}`).sort();
    expect(statuses).toEqual(['AAPL:canceled', 'AAPL:canceled', 'AAPL:filled', 'MSFT:new']);
    expect(fake.requests().filter((r) => r.method === 'DELETE')).toHaveLength(2);
    const list = fake.requests().find((r) => r.method === 'GET' && r.path === '/v2/orders');
    expect(list?.query).toMatchObject({ status: 'open', symbols: 'AAPL' });

    expect(track(await c.cancel('AAPL'))).toEqual({ ok: true, value: { cancelled: 0 } });
  });

  test('positions: qty strings become numbers, shorts negative', async () => {
    const c = connector();
    fake.setPrice('MSFT', 50);
    value(await c.place(request({ quantity: 10 })));
    value(await c.place(request({ instrument: 'MSFT', side: 'sell', quantity: 15 })));
    const positions = value(track(await c.getPositions()));
    expect(positions.sort((a, b) => a.instrument.localeCompare(b.instrument))).toEqual([
      { instrument: 'AAPL', quantity: 10, avg_price: 100 },
      { instrument: 'MSFT', quantity: -15, avg_price: 50 },
    ]);
  });

  test('account flags; account_blocked is reported', async () => {
    const c = connector();
    expect(track(await c.getAccount())).toEqual({ ok: true, value: { trading_blocked: false, account_blocked: false } });
    fake.failNext('account_blocked');
    expect(track(await c.getAccount())).toEqual({ ok: true, value: { trading_blocked: true, account_blocked: true } });
  });

  test('422 "client_order_id must be unique" → the existing order is looked up and adopted', async () => {
    const c = connector();
    const req = request({ order_type: 'limit', limit_price: 10 });
    const first = value(await c.place(req));
    const again = value(track(await c.place(req)));
    expect(again).toEqual(first);
    expect(fake.orders()).toHaveLength(1);
    expect(fake.requests().map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v2/orders',
      'POST /v2/orders',
      'GET /v2/orders:by_client_order_id',
    ]);
  });

  test('500 after place → ambiguous retryable failure; getOrder then finds it; a re-place adopts it', async () => {
    const c = connector();
    const req = request();
    fake.failNext('500_after_place');
    const failed = track(await c.place(req));
    expect(failed).toMatchObject({ ok: false, retryable: true, ambiguous: true, http_status: 500 });

    const found = value(track(await c.getOrder(req.client_order_id)));
    expect(found).toMatchObject({ client_order_id: req.client_order_id, status: 'filled' });
    const replaced = value(track(await c.place(req)));
    expect(replaced.order_id).toBe(found?.order_id);
    expect(fake.orders()).toHaveLength(1);
  });

  test('429 → retryable, not ambiguous, retry_after_ms until X-RateLimit-Reset', async () => {
    const c = connector();
    fake.failNext('429');
    const result = track(await c.place(request()));
    expect(result).toMatchObject({ ok: false, retryable: true, ambiguous: false, http_status: 429 });
    const wait = result.ok ? -1 : (result.retry_after_ms ?? -1);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(2000);
    expect(fake.orders()).toHaveLength(0);
  });

  test('hang after place → timeout, ambiguous; the order is found afterwards', async () => {
    const c = connector({ timeout_ms: 200 });
    const req = request();
    fake.failNext('hang_after_place');
    const result = track(await c.place(req));
    expect(result).toMatchObject({ ok: false, retryable: true, ambiguous: true });
    expect(result.ok ? '' : result.reason).toContain('timeout');
    expect(value(track(await c.getOrder(req.client_order_id)))).toMatchObject({ client_order_id: req.client_order_id });
  });

  test('403 insufficient buying power → permanent with Alpaca’s message', async () => {
    const c = connector();
    fake.failNext('403_buying_power');
    expect(track(await c.place(request()))).toEqual({
      ok: false,
      retryable: false,
      ambiguous: false,
      reason: 'insufficient buying power',
      http_status: 403,
    });
    expect(fake.orders()).toHaveLength(0);
  });

  test('capabilities', () => {
    expect(connector().capabilities).toEqual({
      order_types: ['market', 'limit', 'stop', 'stop_limit'],
      brackets: true,
      fractional: true,
      short: true,
      lookup: true,
      positions: true,
      order_updates: 'stream',
    });
  });

  test('throttle: no 60 s window holds more than 190 requests (injected clock, no real waiting)', async () => {
    let clock = Date.parse('2026-11-22T14:30:00Z');
    const times: number[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      times.push(clock);
      return fetch(input, init);
    };
    const c = createAlpacaConnector('alpaca', config(), {
      now: () => new Date(clock),
      sleep: async (ms) => {
        clock += ms;
      },
      fetch: recordingFetch,
    });
    const started = Date.now();
    const total = 450;
    for (let i = 0; i < total; i++) value(await c.getPositions());

    expect(times).toHaveLength(total);
    let busiest = 0;
    for (let i = 0; i < times.length; i++) {
      const from = times[i] ?? 0;
      const inWindow = times.filter((t) => t >= from && t < from + 60_000).length;
      busiest = Math.max(busiest, inWindow);
    }
    expect(busiest).toBeLessThanOrEqual(190);
    // …and it is not needlessly slow: the busiest minute is close to the budget.
    expect(busiest).toBeGreaterThanOrEqual(180);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('keys never leak', () => {
  test('a server that echoes the keys: the reason is redacted', async () => {
    const echo: typeof fetch = async () =>
      new Response(JSON.stringify({ message: `forbidden for ${fake.key_id}/${fake.secret_key}` }), {
        status: 403,
        headers: { 'content-type': 'application/json' },
      });
    const c = createAlpacaConnector('alpaca', config(), { now: () => new Date(), fetch: echo });
    const result = track(await c.place(request()));
    expect(result).toMatchObject({ ok: false, retryable: false, reason: 'forbidden for [redacted]/[redacted]' });
  });

  test('wrong keys: 401 is permanent and names no key', async () => {
    const other = await startFakeAlpaca({ key_id: 'PKOTHER', secret_key: 'othersecret' });
    try {
      const c = createAlpacaConnector('alpaca', config({ base_url: other.url }), { now: () => new Date() });
      const result = track(await c.getPositions());
      expect(result).toMatchObject({ ok: false, retryable: false, ambiguous: false, http_status: 401 });
      expect(other.violations().map((v) => v.kind)).toEqual(['auth']);
    } finally {
      await other.close();
    }
  });
});

describe('the fake validates what it receives', () => {
  test('a body off the schema is refused 400 and recorded as a violation', async () => {
    const other = await startFakeAlpaca();
    try {
      const headers = { 'APCA-API-KEY-ID': other.key_id, 'APCA-API-SECRET-KEY': other.secret_key, 'content-type': 'application/json' };
      const bad = await fetch(`${other.url}/v2/orders`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ symbol: 'AAPL', qty: 10, side: 'buy', type: 'market', time_in_force: 'day' }),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { message: string }).message).toMatch(/^validation: body: \/qty must be string/);
      const unknownPath = await fetch(`${other.url}/v2/nope`, { headers });
      expect(unknownPath.status).toBe(400);
      const badQuery = await fetch(`${other.url}/v2/orders?status=sideways`, { headers });
      expect(badQuery.status).toBe(400);
      const badId = await fetch(`${other.url}/v2/orders/not-a-uuid`, { method: 'DELETE', headers });
      expect(badId.status).toBe(400);
      expect(other.violations().map((v) => v.kind)).toEqual(['request', 'unknown_operation', 'request', 'request']);
    } finally {
      await other.close();
    }
  });
});

describe('throttle', () => {
  test('token bucket: a burst of 10, then one every 333 ms, reserved without races', () => {
    const now = new Date('2026-11-22T10:00:00Z');
    const bucket = createTokenBucket({ burst: 10, refill_per_minute: 180, now: () => now });
    const waits = Array.from({ length: 13 }, () => bucket.reserve());
    expect(waits.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(waits.slice(10)).toEqual([334, 667, 1000]);
  });
});
