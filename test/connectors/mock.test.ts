/**
 * The mock broker filling like a broker (docs/execution.md#the-mock-connector), on real stores:
 * delayed and partial fills pushed to subscribers, resting orders filled by a price posted over
 * HTTP, day orders expiring (an injected clock, no waiting), a restart resuming a due part, and
 * two instances on one PostgreSQL database filling each part once.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import type { OrderRequest, OrderStreamListener, PlacedOrderRequest } from '../../src/connectors/connector.js';
import { createMockConnector, NO_FAULTS, type MockConnector, type MockSettings } from '../../src/connectors/mock.js';
import type { Order, Side } from '../../src/domain/types.js';
import { createPostgresStore } from '../../src/store/postgres/store.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const POSTGRES_URL = process.env.SLUICE_TEST_POSTGRES_URL;

/** Monday 2026-11-23 15:00 UTC, 10:00 in New York. */
const T0 = new Date('2026-11-23T15:00:00Z');
const NY = 'America/New_York';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let n = 0;
function request(o: Partial<PlacedOrderRequest> = {}): PlacedOrderRequest {
  n += 1;
  const side: Side = o.side ?? 'buy';
  return {
    action: side,
    client_order_id: `sl-test-${n}`,
    signal_id: `sig_${n}`,
    instrument: 'AAPL',
    side,
    quantity: 9,
    order_type: 'market',
    time_in_force: 'gtc',
    reference_price: 100,
    signal: { action: side, instrument: o.instrument ?? 'AAPL', order_type: 'market', time_in_force: 'gtc', meta: {} },
    ...o,
  };
}

function sqliteStore(clock?: () => Date, dir = tempDir('sluice-mock-')): { store: Store; dir: string } {
  const store = createSqliteStore({ path: join(dir, 'sluice.db'), ...(clock === undefined ? {} : { now: clock }) });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => store.close());
  return { store, dir };
}

function mock(store: Store, settings: Partial<MockSettings>, now: () => Date = () => new Date()): MockConnector {
  const connector = createMockConnector('mock', { ...NO_FAULTS, ...settings }, { store: store.mock, now, tradingDayTz: NY });
  cleanups.push(() => connector.close());
  return connector;
}

/** A listener that keeps every update it is sent. */
function recorder(): OrderStreamListener & { updates: Order[]; states: boolean[] } {
  const updates: Order[] = [];
  const states: boolean[] = [];
  return { updates, states, onUpdate: (order) => updates.push(order), onState: (state) => states.push(state.connected) };
}

async function placed(connector: MockConnector, req: OrderRequest): Promise<Order> {
  const result = await connector.place(req);
  if (!result.ok) throw new Error(`place failed: ${result.reason}`);
  return result.value;
}

const progress = (updates: Order[]) => updates.map((o) => [o.status, o.filled_quantity]);

describe('the mock with its defaults', () => {
  test('fills at once in the placement answer and reports nothing afterwards', async () => {
    const { store } = sqliteStore();
    const connector = mock(store, {});
    const listener = recorder();
    connector.subscribe(listener);
    expect(await placed(connector, request())).toMatchObject({ status: 'filled', filled_quantity: 9, fill_price: 100 });
    expect(await placed(connector, request({ order_type: 'limit', limit_price: 99 }))).toMatchObject({ status: 'filled', fill_price: 99 });
    expect(listener.states).toEqual([true]);
    expect(listener.updates).toEqual([]);
    expect(await connector.getPositions()).toEqual({ ok: true, value: [{ instrument: 'AAPL', quantity: 18, avg_price: 99.5 }] });
  });
});

describe('delayed and partial fills', () => {
  test('a delayed fill: the answer is new, the fill reaches subscribers later and moves the position', async () => {
    const { store } = sqliteStore();
    const connector = mock(store, { fill_delay_ms: 30 });
    const listener = recorder();
    connector.subscribe(listener);
    const req = request();
    expect(await placed(connector, req)).toMatchObject({ status: 'new', filled_quantity: 0, fill_price: null });
    await eventually(async () => (listener.updates.length > 0 ? true : undefined), 5000, 'the fill');
    expect(listener.updates).toEqual([expect.objectContaining({ client_order_id: req.client_order_id, status: 'filled', filled_quantity: 9, fill_price: 100 })]);
    expect(await connector.getOrder(req.client_order_id)).toEqual({ ok: true, value: listener.updates[0] });
    expect(await store.mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 9, avg_price: 100 }]);
  });

  test('three partial fills with cumulative quantities, the position moving with each', async () => {
    const { store } = sqliteStore();
    const connector = mock(store, { fill_delay_ms: 20, partial_fills: 3 });
    const positions: number[] = [];
    const listener = recorder();
    connector.subscribe({
      onState: listener.onState,
      onUpdate: (order) => {
        listener.onUpdate(order);
        void store.mock.getPositions('mock').then((p) => positions.push(p[0]?.quantity ?? 0));
      },
    });
    await placed(connector, request({ side: 'sell', reference_price: 50 }));
    await eventually(async () => (listener.updates.length === 3 ? true : undefined), 5000, 'three parts');
    expect(progress(listener.updates)).toEqual([
      ['partially_filled', 3],
      ['partially_filled', 6],
      ['filled', 9],
    ]);
    expect(listener.updates.every((o) => o.fill_price === 50)).toBe(true);
    await eventually(async () => (positions.length === 3 ? true : undefined), 5000, 'positions read');
    expect(positions).toEqual([-3, -6, -9]);
  });

  test('cancel stops what has not filled; what filled stays filled', async () => {
    const { store } = sqliteStore();
    const connector = mock(store, { fill_delay_ms: 60_000 });
    const listener = recorder();
    connector.subscribe(listener);
    const req = request();
    await placed(connector, req);
    expect(await connector.cancel('AAPL')).toEqual({ ok: true, value: { cancelled: 1 } });
    expect(progress(listener.updates)).toEqual([['canceled', 0]]);
    expect(await connector.getOrder(req.client_order_id)).toMatchObject({ value: { status: 'canceled', filled_quantity: 0 } });
    expect(await connector.cancel('AAPL')).toEqual({ ok: true, value: { cancelled: 0 } });
  });
});

describe('an injected clock', () => {
  test('a day order still open expires at the end of its trading day in policy.trading_day_tz', async () => {
    let clock = T0;
    const { store } = sqliteStore(() => clock);
    const connector = mock(store, { resting_orders: true }, () => clock);
    const listener = recorder();
    connector.subscribe(listener);
    const day = request({ order_type: 'limit', limit_price: 90, time_in_force: 'day' });
    const gtc = request({ order_type: 'limit', limit_price: 90, time_in_force: 'gtc' });
    await placed(connector, day);
    await placed(connector, gtc);
    // 23:59:59 in New York: still the same day.
    clock = new Date('2026-11-24T04:59:59Z');
    await connector.resume();
    expect(listener.updates).toEqual([]);
    clock = new Date('2026-11-24T05:00:00Z');
    await connector.resume();
    expect(listener.updates).toEqual([expect.objectContaining({ client_order_id: day.client_order_id, status: 'expired', filled_quantity: 0 })]);
    expect(await connector.getOrder(gtc.client_order_id)).toMatchObject({ value: { status: 'new' } });
  });

  test('a restart resumes a part that came due while nothing ran', async () => {
    let clock = T0;
    const first = sqliteStore(() => clock);
    const before = createMockConnector('mock', { ...NO_FAULTS, fill_delay_ms: 60_000 }, { store: first.store.mock, now: () => clock, tradingDayTz: NY });
    const req = request();
    await placed(before, req);
    await before.close();
    await first.store.close();

    clock = new Date(T0.getTime() + 61_000);
    const { store } = sqliteStore(() => clock, first.dir);
    const after = mock(store, { fill_delay_ms: 60_000 }, () => clock);
    // Creation resumes what is due: no subscriber, no timer wait needed.
    const filled = await eventually(async () => {
      const found = await after.getOrder(req.client_order_id);
      return found.ok && found.value?.status === 'filled' ? found.value : undefined;
    }, 5000, 'the resumed fill');
    expect(filled).toMatchObject({ filled_quantity: 9, fill_price: 100 });
    expect(await store.mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 9, avg_price: 100 }]);
  });
});

describe('resting orders over HTTP: POST /admin/connectors/mock/prices', () => {
  let s: TestServer | null = null;
  afterEach(async () => {
    await s?.close();
    s = null;
  });

  test('a resting limit waits; a price that crosses it fills it, answered with the order', async () => {
    const server = await startTestServer();
    s = server;
    expect((await server.admin('/connectors/mock/faults', { body: { resting_orders: true } })).status).toBe(200);
    const sent = await server.send({ id: `rest-${Date.now()}`, action: 'buy', instrument: 'AAPL', quantity: 5, order_type: 'limit', limit_price: 99, price: 100 }, { headers: { prefer: 'wait=5' } });
    const signal = (await sent.json()) as { status: string; result: { client_order_id: string; status: string } | null };
    expect(signal).toMatchObject({ status: 'executed', result: { status: 'new' } });
    const id = signal.result?.client_order_id;

    // Above the limit: nothing crosses; the price is kept all the same.
    const above = await server.admin('/connectors/mock/prices', { body: { aapl: 99.5 } });
    expect(await above.json()).toEqual({ connector: 'mock', prices: { AAPL: 99.5 }, orders: [] });
    expect(await server.deps.store.mock.getPrice('mock', 'AAPL')).toBe(99.5);

    const crossing = await server.admin('/connectors/mock/prices', { body: { ' aapl ': 98.75, MSFT: 300 } });
    expect(crossing.status).toBe(200);
    expect(await crossing.json()).toEqual({
      connector: 'mock',
      prices: { AAPL: 98.75, MSFT: 300 },
      orders: [expect.objectContaining({ client_order_id: id, status: 'filled', filled_quantity: 5, fill_price: 99 })],
    });
    expect(await server.deps.store.mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 5, avg_price: 99 }]);
    const listed = (await (await server.admin('/connectors/mock/orders')).json()) as { items: Array<{ client_order_id: string; status: string }> };
    expect(listed.items.find((o) => o.client_order_id === id)?.status).toBe('filled');
  });

  test('a bad body is a precise 400; an unknown mock is 404', async () => {
    const server = await startTestServer();
    s = server;
    const cases: Array<{ body: unknown; path: string; message: string }> = [
      { body: {}, path: '', message: 'expected at least one instrument' },
      { body: [1, 2], path: '', message: 'expected an object of instrument → price' },
      { body: { AAPL: -1 }, path: 'AAPL', message: 'expected a price from 0.000001 to 1000000000' },
      { body: { AAPL: '151' }, path: 'AAPL', message: 'expected a price from 0.000001 to 1000000000' },
      { body: { AAPL: 1e10 }, path: 'AAPL', message: 'expected a price from 0.000001 to 1000000000' },
      { body: { 'AA$PL': 1 }, path: 'AA$PL', message: 'expected an instrument: 1-32 characters of A-Z a-z 0-9 . / : - _ ! space, not only spaces' },
      { body: { '   ': 1 }, path: '   ', message: 'expected an instrument: 1-32 characters of A-Z a-z 0-9 . / : - _ ! space, not only spaces' },
    ];
    for (const c of cases) {
      const res = await server.admin('/connectors/mock/prices', { body: c.body });
      const body = (await res.json()) as { error: { code: string; issues: Array<{ path: string; message: string }> } };
      expect({ status: res.status, body }, JSON.stringify(c.body)).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', issues: [{ path: c.path, message: c.message }] } } });
    }
    const notJson = await fetch(`${server.url}/admin/connectors/mock/prices`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' }, body: '{' });
    expect(notJson.status).toBe(400);
    const unknown = await server.admin('/connectors/nope/prices', { body: { AAPL: 1 } });
    expect(unknown.status).toBe(404);
    expect(await server.deps.store.mock.getPrice('mock', 'AAPL')).toBeNull();
  });
});

describe.skipIf(POSTGRES_URL === undefined || POSTGRES_URL === '')('two instances on one PostgreSQL database', () => {
  test('both run the timers of the same order; each part fills once', async () => {
    const url = POSTGRES_URL ?? '';
    const schema = `sluice_t_${randomBytes(6).toString('hex')}`;
    const admin = postgres(url, { max: 1, onnotice: () => undefined });
    cleanups.push(async () => {
      await admin.unsafe(`drop schema if exists "${schema}" cascade`);
      await admin.end({ timeout: 5 });
    });
    const storeA = await createPostgresStore({ url, schema, max: 4 });
    cleanups.push(() => storeA.close());
    const storeB = await createPostgresStore({ url, schema, max: 4 });
    cleanups.push(() => storeB.close());

    const settings = { fill_delay_ms: 40, partial_fills: 3 };
    const a = mock(storeA, settings);
    const seenA = recorder();
    a.subscribe(seenA);
    const req = request();
    await placed(a, req);
    // The second instance starts with the order open: it resumes it and arms its own timer.
    const b = mock(storeB, settings);
    const seenB = recorder();
    b.subscribe(seenB);

    await eventually(async () => ((await storeB.mock.getOrder('mock', req.client_order_id))?.status === 'filled' ? true : undefined), 10_000, 'the order filled');
    // Both timers have passed the last part; neither may have taken any part a second time.
    await Promise.all([a.resume(), b.resume()]);
    const reported = [...seenA.updates, ...seenB.updates].map((o) => o.filled_quantity).sort((x, y) => x - y);
    expect(reported).toEqual([3, 6, 9]);
    expect(await storeA.mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 9, avg_price: 100 }]);
  });
});
