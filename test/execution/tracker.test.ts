/**
 * The order tracker on a real SQLite store with the scripted connector (harness.ts): a stream's
 * updates booked, a report that arrives before its placement is recorded applied once it is,
 * polling of a connector without a stream and of one whose stream is down, one poll after a
 * reconnect, a lane's open orders looked up before its first signal since start, and a close that
 * first cancels the lane's open order and waits until it is terminal. Conditions are waited for
 * with bounded polling; nothing depends on how long anything took.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import { Executor } from '../../src/execution/executor.js';
import { OrderTracker } from '../../src/execution/tracker.js';
import type { OrderRecord, SignalRecord } from '../../src/store/store.js';
import { DAY, T0, must, openHarness, removeHarnessDirs, until, type Harness } from './harness.js';
import { ScriptedConnector } from './scripted-connector.js';

let open: Harness[] = [];

async function harness(...args: Parameters<typeof openHarness>): Promise<Harness> {
  const h = await openHarness(...args);
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open) await h.close();
  open = [];
  removeHarnessDirs();
});

async function ledger(h: Harness): Promise<{ positions: Array<{ instrument: string; quantity: number; avg_price: number }>; reserved: number }> {
  const l = await h.store.getLedger('broker', DAY);
  return { positions: l.positions.map(({ instrument, quantity, avg_price }) => ({ instrument, quantity, avg_price })), reserved: l.reserved_exposure };
}

async function orderOf(h: Harness, record: SignalRecord): Promise<OrderRecord> {
  return must((await h.store.ordersOfSignal(record.signal_id))[0], `the order of ${record.signal_id}`);
}

/** A buy of 10 AAPL at 100 that the broker takes (`new`) and leaves open: executed, its order followed. */
async function openBuy(h: Harness, instrument = 'AAPL'): Promise<SignalRecord> {
  h.connector.script({ kind: 'ok', status: 'new' });
  const final = await h.run(await h.accept({ instrument, quantity: 10, price: 100 }));
  expect(final.status).toBe('executed');
  expect(await orderOf(h, final)).toMatchObject({ status: 'new', filled_quantity: 0 });
  return final;
}

/** A connector that did not answer, or a position that did not move, fails after `until`'s bound. */
const positionIs = (h: Harness, quantity: number) => async () => (await ledger(h)).positions.find((p) => p.instrument === 'AAPL')?.quantity === quantity;

describe('the stream', () => {
  test('a stream update books a fill; the next books the rest and ends the order', async () => {
    const h = await harness({}, {}, { stream: true });
    await h.executor.start();
    h.connector.streamState(true);
    const buy = await openBuy(h);
    expect(await ledger(h)).toEqual({ positions: [], reserved: 1000 });

    h.connector.update(buy.client_order_id, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 });
    h.connector.push(buy.client_order_id);
    await until(positionIs(h, 4), 'the partial fill booked');
    expect(await ledger(h)).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 600 });

    h.connector.update(buy.client_order_id, { status: 'filled', filled_quantity: 10, fill_price: 103 });
    h.connector.push(buy.client_order_id);
    await until(positionIs(h, 10), 'the rest booked');
    expect(await ledger(h)).toEqual({ positions: [{ instrument: 'AAPL', quantity: 10, avg_price: 103 }], reserved: 0 });
    expect(await orderOf(h, buy)).toMatchObject({ status: 'filled', filled_quantity: 10, avg_fill_price: 103 });
    // The stream told it all: the order was never looked up.
    expect(h.connector.lookupsOf(buy.client_order_id)).toBe(0);
    expect(h.executor.tracker.streamStatus()).toEqual([{ connector: 'broker', connected: true, reason: null, since: T0.toISOString() }]);
  });

  test('an update that arrives before the placement is recorded is applied once the order is recorded', async () => {
    const h = await harness({}, {}, { stream: true });
    await h.executor.start();
    h.connector.streamState(true);
    h.connector.script({ kind: 'ok', status: 'new' });
    h.connector.hold();
    const record = await h.accept({ instrument: 'AAPL', quantity: 10, price: 100 });
    h.executor.submit(record);
    await until(() => h.connector.inFlight.includes('AAPL'), 'the order in flight');
    // The broker filled it and streamed that before its answer to the placement came back: the
    // report reaches the store (queued ahead of the finish) when sluice has no row for it yet.
    const filled: Order = { client_order_id: record.client_order_id, order_id: 'broker-1', instrument: 'AAPL', side: 'buy', quantity: 10, order_type: 'market', limit_price: null, status: 'filled', filled_quantity: 10, fill_price: 100 };
    must(h.connector.listener, 'the tracker subscribed').onUpdate(filled);
    h.connector.release();

    const final = must(await h.executor.waitForFinal(record.signal_id, 10_000), 'the final record');
    expect(final.result).toMatchObject({ status: 'new', filled_quantity: 0 });
    await until(positionIs(h, 10), 'the early report applied');
    expect(await orderOf(h, final)).toMatchObject({ status: 'filled', filled_quantity: 10, avg_fill_price: 100 });
    expect(await ledger(h)).toEqual({ positions: [{ instrument: 'AAPL', quantity: 10, avg_price: 100 }], reserved: 0 });
    // Neither a poll nor a sweep found it: the kept report did.
    expect(h.connector.lookupsOf(record.client_order_id)).toBe(0);
  });

  test('while the stream is down the open orders are polled', async () => {
    const h = await harness({ execution: { order_poll_seconds: 0.05 } }, {}, { stream: true });
    await h.executor.start();
    h.connector.streamState(true);
    const buy = await openBuy(h);
    h.connector.streamState(false, 'socket closed');
    expect(h.executor.tracker.streamStatus()).toEqual([{ connector: 'broker', connected: false, reason: 'socket closed', since: T0.toISOString() }]);
    // Filled while nothing streams: a poll finds it.
    h.connector.update(buy.client_order_id, { status: 'filled', filled_quantity: 10, fill_price: 100 });
    await until(positionIs(h, 10), 'the fill found by polling');
    expect(h.connector.lookupsOf(buy.client_order_id)).toBeGreaterThanOrEqual(1);
    expect(await orderOf(h, buy)).toMatchObject({ status: 'filled' });
  });

  test('a reconnect asks once about every open order (what was sent while down is lost)', async () => {
    // No timed polls in this test: only the reconnect may ask.
    const h = await harness({ execution: { order_poll_seconds: 3600 } }, {}, { stream: true });
    await h.executor.start();
    h.connector.streamState(true);
    const buy = await openBuy(h);
    h.connector.streamState(false, 'socket closed');
    h.connector.update(buy.client_order_id, { status: 'filled', filled_quantity: 10, fill_price: 100 });
    expect(h.connector.lookupsOf(buy.client_order_id)).toBe(0);

    h.connector.streamState(true);
    await until(positionIs(h, 10), 'the fill found by the poll after the reconnect');
    expect(h.connector.lookupsOf(buy.client_order_id)).toBe(1);
    const reconnects = await h.deps.metrics.streamReconnects.get();
    expect(reconnects.values).toEqual([expect.objectContaining({ labels: { connector: 'broker' }, value: 1 })]);
  });
});

describe('polling', () => {
  test('a connector without a stream is polled until its order is terminal', async () => {
    const h = await harness({ execution: { order_poll_seconds: 0.05 } }, {}, { orderUpdates: 'poll' });
    await h.executor.start();
    const buy = await openBuy(h);
    h.connector.update(buy.client_order_id, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 });
    await until(positionIs(h, 4), 'the partial fill found by polling');
    h.connector.update(buy.client_order_id, { status: 'canceled' });
    await until(async () => (await h.store.openOrders()).length === 0, 'the cancel found by polling');
    expect(await ledger(h)).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 0 });
    expect(await orderOf(h, buy)).toMatchObject({ status: 'canceled', filled_quantity: 4 });
  });

  test('more filled without a price is said (an error log) on every report, though nothing is booked or changed', async () => {
    const lines: Array<{ level: number; msg: string; client_order_id?: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const h = await harness({ execution: { order_poll_seconds: 0.05 } }, { logger }, { orderUpdates: 'poll' });
    await h.executor.start();
    const buy = await openBuy(h);
    h.connector.update(buy.client_order_id, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 });
    await until(positionIs(h, 4), 'the partial fill booked');
    // Still partially filled, more filled, no price: nothing changes in sluice's books.
    h.connector.update(buy.client_order_id, { filled_quantity: 6, fill_price: null });
    const unusable = () => lines.filter((l) => l.msg === 'connector reported an unusable fill; not booked' && l.client_order_id === buy.client_order_id);
    await until(() => unusable().length >= 2, 'the unusable fill said on each poll');
    expect(unusable()[0]?.level).toBe(50);
    expect(await ledger(h)).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 600 });
    expect(await orderOf(h, buy)).toMatchObject({ status: 'partially_filled', filled_quantity: 4 });
  });
});

describe('a flapping stream', () => {
  test('ten reconnects during a slow poll: one poll of the connector at a time, and one more after it', async () => {
    const h = await harness({ execution: { order_poll_seconds: 3600 } }, {}, { stream: true });
    await h.executor.start();
    h.connector.streamState(true);
    for (const instrument of ['A1', 'A2', 'A3', 'A4', 'A5']) await openBuy(h, instrument);
    h.connector.lookupDelayMs = 30;
    const before = h.connector.calls.filter((c) => c.op === 'getOrder').length;
    for (let i = 0; i < 10; i += 1) {
      h.connector.streamState(false);
      h.connector.streamState(true);
    }
    await until(async () => h.connector.calls.filter((c) => c.op === 'getOrder').length - before >= 10 && h.connector.lookupsInFlight === 0, 'the polls after the reconnects');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(h.connector.maxLookupsInFlight).toBe(1);
    // The poll running at the first reconnect, then one more for all the reconnects during it.
    expect(h.connector.calls.filter((c) => c.op === 'getOrder').length - before).toBe(10);
  });
});

describe('an open order the broker does not know', () => {
  test('is said at each lookup, and ended as expired after three lookups over 30 s: its reservation released, a close no longer held by it', async () => {
    let clock = T0.getTime();
    const h = await harness({ execution: { order_poll_seconds: 0.05 } }, { now: () => new Date(clock) }, { orderUpdates: 'poll' });
    await h.executor.start();
    const buy = await openBuy(h);
    // The account was reset: the broker answers, and has no such order.
    h.connector.orders.delete(buy.client_order_id);
    const lookups = () => h.connector.calls.filter((c) => c.op === 'getOrder' && c.key === buy.client_order_id).length;
    await until(async () => lookups() >= 4, 'several lookups answered "not found"');
    expect(await orderOf(h, buy)).toMatchObject({ status: 'new' });
    expect((await ledger(h)).reserved).toBe(1000);
    clock += 31_000;
    await until(async () => (await orderOf(h, buy)).status === 'expired', 'the order ended as expired');
    expect(await ledger(h)).toEqual({ positions: [], reserved: 0 });
    expect((await h.run(await h.accept({ instrument: 'AAPL', action: 'close', price: 100 }))).status).toBe('executed');
  });
});

describe('before a lane’s first signal since start', () => {
  test('ensureChecked is false while the lookups fail, true once they answer, and asks only once', async () => {
    const h = await harness({ execution: { order_poll_seconds: 3600 } }, {}, { orderUpdates: 'poll' });
    await h.executor.start();
    const buy = await openBuy(h);
    h.connector.update(buy.client_order_id, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 });

    // A tracker that has looked nothing up yet: this instance after a restart.
    const tracker = new OrderTracker(h.deps);
    h.connector.lookupsDown = 2;
    expect(await tracker.ensureChecked(h.connector, 'AAPL')).toBe(false);
    expect(await tracker.ensureChecked(h.connector, 'AAPL')).toBe(false);
    expect(await ledger(h)).toEqual({ positions: [], reserved: 1000 });
    expect(h.errors.filter((e) => e.component === 'connector:broker' && e.message === 'order lookup failed: connection refused')).toHaveLength(2);

    expect(await tracker.ensureChecked(h.connector, 'AAPL')).toBe(true);
    expect(await ledger(h)).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 600 });
    const asked = h.connector.lookupsOf(buy.client_order_id);
    expect(asked).toBe(3);
    expect(await tracker.ensureChecked(h.connector, 'AAPL')).toBe(true);
    expect(h.connector.lookupsOf(buy.client_order_id)).toBe(asked);
    // A lane without open orders, and a connector that reports nothing, need no lookup.
    expect(await tracker.ensureChecked(h.connector, 'MSFT')).toBe(true);
    expect(await tracker.ensureChecked(new ScriptedConnector('fire', { orderUpdates: 'none' }), 'AAPL')).toBe(true);
    tracker.stop();
  });

  test('after a restart the lane’s first signal waits until its open orders are looked up, then is decided on what they filled', async () => {
    const h = await harness({ execution: { order_poll_seconds: 3600 } }, {}, { orderUpdates: 'poll' });
    await h.executor.start();
    const buy = await openBuy(h);
    // Filled while sluice was down.
    h.connector.update(buy.client_order_id, { status: 'filled', filled_quantity: 10, fill_price: 100 });
    await h.executor.stop(5_000);
    h.connector.lookupsDown = 1_000_000;
    h.executor = new Executor(h.deps);
    await h.executor.start();

    const sell = await h.accept({ action: 'sell', instrument: 'AAPL', quantity: 10, price: 101 });
    h.executor.submit(sell);
    await until(() => h.errors.filter((e) => e.message === 'order lookup failed: connection refused').length >= 3, 'the lane asking and failing');
    expect(must(await h.store.getSignal(sell.signal_id), 'the sell').status).toBe('accepted');
    expect(h.connector.placedFor(sell.client_order_id)).toEqual([]);

    h.connector.lookupsDown = 0;
    const final = must(await h.executor.waitForFinal(sell.signal_id, 10_000), 'the sell final');
    expect(final.status).toBe('executed');
    // Decided on the settled position: the buy's fill was booked first, so the sell is an exit.
    expect(final.decision).toMatchObject({ side: 'sell', quantity: 10, exit: true });
    expect(await ledger(h)).toEqual({ positions: [], reserved: 0 });
  });
});

describe('close and target settle the lane’s open orders first', () => {
  test('a close cancels the open order, waits until it is terminal, then orders exactly the settled position', async () => {
    const h = await harness({ execution: { order_poll_seconds: 3600 } }, {}, { orderUpdates: 'poll' });
    await h.executor.start();
    const buy = await openBuy(h);
    // The broker filled 4 of it; the cancel it is about to get does not end the order at once.
    h.connector.update(buy.client_order_id, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 });
    h.connector.cancelTakesEffect = false;

    const close = await h.accept({ action: 'close', instrument: 'AAPL', quantity: undefined, price: 101 });
    h.executor.submit(close);
    await until(() => h.connector.calls.some((c) => c.op === 'cancel' && c.key === 'AAPL') && h.connector.lookupsOf(buy.client_order_id) >= 3, 'the close cancelling and asking');
    // Still waiting: the partial fill is booked, the order open, nothing decided or placed.
    expect(must(await h.store.getSignal(close.signal_id), 'the close').status).toBe('accepted');
    expect(h.connector.placedFor(close.client_order_id)).toEqual([]);
    expect(await orderOf(h, buy)).toMatchObject({ status: 'partially_filled', filled_quantity: 4 });

    // The cancel lands: the order ends with what filled before it.
    h.connector.update(buy.client_order_id, { status: 'canceled' });
    const final = must(await h.executor.waitForFinal(close.signal_id, 10_000), 'the close final');
    expect(final.status).toBe('executed');
    expect(final.decision).toMatchObject({ side: 'sell', quantity: 4, exit: true });
    expect(h.connector.orders.get(close.client_order_id)).toMatchObject({ side: 'sell', quantity: 4, status: 'filled' });
    expect(await orderOf(h, buy)).toMatchObject({ status: 'canceled', filled_quantity: 4 });
    expect(await ledger(h)).toEqual({ positions: [], reserved: 0 });
    expect((await h.store.getLedger('broker', DAY)).realized_pnl_today).toBe(4);
  });
});
