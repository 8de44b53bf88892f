/**
 * The executor's outcome policy, pure: the order a decision places, how a placement, a cancel
 * or an error settles a signal, the sane-fill rule, and the store-failure retry delay. One table
 * per function.
 */
import { describe, expect, test } from 'vitest';
import type { Decision, Order, Signal } from '../../src/domain/types.js';
import {
  errorSettlement,
  failsSignal,
  isUnusableFill,
  laneBlockedDelay,
  noOrderSettlement,
  orderRequest,
  saneFill,
  settleCancel,
  settlePlacement,
  storeRetryDelay,
  unknownConnectorDecision,
  type Settlement,
} from '../../src/execution/outcome.js';
import type { PlaceOutcome } from '../../src/execution/place.js';
import type { SignalRecord } from '../../src/store/store.js';

const AT = new Date('2026-11-23T15:00:00.000Z');
const TARGET = { connector: 'broker', client_order_id: 'tv-key-1' };

function record(signal: Partial<Signal> = {}): SignalRecord {
  return {
    signal_id: 'sig_1',
    source: 'tv',
    idempotency_key: 'key-1',
    fingerprint: 'fp-1',
    status: 'executing',
    connector: 'broker',
    instrument: 'AAPL',
    client_order_id: 'tv-key-1',
    request_id: 'req-1',
    received_at: AT.toISOString(),
    updated_at: AT.toISOString(),
    signal: { action: 'buy', instrument: 'AAPL', quantity: 10, order_type: 'market', time_in_force: 'day', meta: {}, ...signal },
    decision: null,
    result: null,
    trace_parent: null,
  };
}

function decision(o: Partial<Decision> = {}): Decision {
  return { allowed: true, failures: [], quantity: 10, side: 'buy', exit: false, trimmed: false, reserved_notional: 1000, reference_price: 100, ...o };
}

function order(o: Partial<Order> = {}): Order {
  return {
    client_order_id: 'tv-key-1',
    order_id: 'o-1',
    instrument: 'AAPL',
    side: 'buy',
    quantity: 10,
    order_type: 'market',
    limit_price: null,
    status: 'filled',
    filled_quantity: 10,
    fill_price: 100,
    ...o,
  };
}

describe('orderRequest', () => {
  test('a decision without side or quantity places nothing (cancel, close when flat, target reached)', () => {
    expect(orderRequest(record(), decision({ side: null }))).toBeNull();
    expect(orderRequest(record(), decision({ quantity: null }))).toBeNull();
  });

  const cases: { name: string; signal: Partial<Signal>; decision: Partial<Decision>; want: Record<string, unknown> }[] = [
    {
      name: 'market: side and quantity from the decision, reference price from the decision',
      signal: { price: 99 },
      decision: { side: 'sell', quantity: 4, reference_price: 101 },
      want: { side: 'sell', quantity: 4, order_type: 'market', time_in_force: 'day', reference_price: 101 },
    },
    {
      name: 'no reference price in the decision: the signal price',
      signal: { price: 99 },
      decision: { reference_price: null },
      want: { reference_price: 99 },
    },
    {
      name: 'limit, stop and bracket legs are carried over',
      signal: { order_type: 'stop_limit', limit_price: 10, stop_price: 11, take_profit: { limit_price: 12 }, stop_loss: { stop_price: 9 }, time_in_force: 'gtc' },
      decision: {},
      want: { order_type: 'stop_limit', limit_price: 10, stop_price: 11, take_profit: { limit_price: 12 }, stop_loss: { stop_price: 9 }, time_in_force: 'gtc' },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = record(c.signal);
      const request = orderRequest(r, decision(c.decision));
      expect(request).toMatchObject({ client_order_id: 'tv-key-1', signal_id: 'sig_1', instrument: 'AAPL', signal: r.signal, ...c.want });
    });
  }

  test('no price anywhere: no reference price; absent optional fields are absent, not undefined', () => {
    const request = orderRequest(record(), decision({ reference_price: null }));
    expect(Object.keys(request ?? {}).sort()).toEqual(['action', 'client_order_id', 'instrument', 'order_type', 'quantity', 'side', 'signal', 'signal_id', 'time_in_force']);
  });

  test("action is the signal's: a close resolved against the ledger is placed as a close with its side", () => {
    expect(orderRequest(record({ action: 'close' }), decision({ side: 'sell', quantity: 10 }))).toMatchObject({ action: 'close', side: 'sell', quantity: 10 });
    expect(orderRequest(record({ action: 'cancel' }), decision({ side: null, quantity: null }))).toBeNull();
  });

  // A forwarded close or target goes as the action: no side, the close's quantity or the target.
  const forwarded = decision({ side: null, quantity: null, exit: true, reserved_notional: 0, forwarded: true });
  test('forwarded close: no side, no quantity', () => {
    const request = orderRequest(record({ action: 'close', quantity: undefined }), forwarded);
    expect(request).toMatchObject({ action: 'close', forwarded: true, client_order_id: 'tv-key-1', order_type: 'market' });
    expect(request).not.toHaveProperty('side');
    expect(request).not.toHaveProperty('quantity');
  });
  test('forwarded partial close: its quantity, no side', () => {
    const request = orderRequest(record({ action: 'close', quantity: 4 }), forwarded);
    expect(request).toMatchObject({ action: 'close', forwarded: true, quantity: 4 });
    expect(request).not.toHaveProperty('side');
  });
  test('forwarded target: the target position, no side, no quantity', () => {
    const request = orderRequest(record({ action: 'target', quantity: undefined, target_position: -3 }), { ...forwarded, exit: false });
    expect(request).toMatchObject({ action: 'target', forwarded: true, target_position: -3, reference_price: 100 });
    expect(request).not.toHaveProperty('side');
    expect(request).not.toHaveProperty('quantity');
  });
});

describe('the sane-fill rule', () => {
  const cases: { name: string; order: Partial<Order>; fill: boolean; unusable: boolean }[] = [
    { name: 'a full fill is booked', order: {}, fill: true, unusable: false },
    { name: 'a partial fill is booked', order: { status: 'partially_filled', filled_quantity: 3 }, fill: true, unusable: false },
    { name: 'nothing filled: nothing to book, nothing wrong', order: { status: 'new', filled_quantity: 0, fill_price: null }, fill: false, unusable: false },
    { name: 'a quantity without a price is unusable', order: { fill_price: null }, fill: false, unusable: true },
    { name: 'a zero price is unusable', order: { fill_price: 0 }, fill: false, unusable: true },
    { name: 'a negative price is unusable', order: { fill_price: -5 }, fill: false, unusable: true },
    { name: 'a negative quantity is unusable', order: { filled_quantity: -1 }, fill: false, unusable: true },
    { name: 'NaN quantity is unusable', order: { filled_quantity: Number.NaN }, fill: false, unusable: true },
    { name: 'an infinite price is unusable', order: { fill_price: Number.POSITIVE_INFINITY }, fill: false, unusable: true },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const o = order(c.order);
      expect(saneFill(o)).toEqual(c.fill ? { side: o.side, quantity: o.filled_quantity, price: o.fill_price } : null);
      expect(isUnusableFill(o)).toBe(c.unusable);
    });
  }
});

describe('failsSignal: an order the broker ended unfilled fails its signal', () => {
  const cases: { order: Partial<Order>; fails: boolean }[] = [
    { order: { status: 'filled' }, fails: false },
    { order: { status: 'new', filled_quantity: 0, fill_price: null }, fails: false },
    { order: { status: 'rejected', filled_quantity: 0, fill_price: null }, fails: true },
    { order: { status: 'canceled', filled_quantity: 0, fill_price: null }, fails: true },
    { order: { status: 'expired', filled_quantity: 0, fill_price: null }, fails: true },
    { order: { status: 'canceled', filled_quantity: 4, fill_price: 100 }, fails: false },
    { order: { status: 'expired', filled_quantity: 4, fill_price: null }, fails: true },
  ];
  for (const c of cases) {
    test(`${c.order.status ?? ''} with ${String(c.order.filled_quantity ?? 10)} filled at ${String(c.order.fill_price ?? 100)}: ${c.fails ? 'failed' : 'executed'}`, () => {
      expect(failsSignal(order(c.order))).toBe(c.fails);
    });
  }
});

describe('settlePlacement', () => {
  const placed = (o: Partial<Order>, n: number, outcome: 'ok' | 'adopted' = 'ok'): PlaceOutcome => ({ ok: true, order: order(o), adopted: outcome === 'adopted', attempt: { n, outcome } });
  /** The result of a placed order: what the broker said, under the signal's client_order_id. */
  const result = (status: string, filled: number, price: number | null) => ({ connector: 'broker', client_order_id: 'tv-key-1', order_id: 'o-1', status, filled_quantity: filled, fill_price: price });
  const attempt = (n: number, outcome: string) => ({ n, at: AT.toISOString(), outcome, error: null });

  const cases: { name: string; outcome: PlaceOutcome; want: Settlement }[] = [
    {
      name: 'placed and filled: executed, the fill booked, the settling attempt stamped',
      outcome: placed({}, 1),
      want: { status: 'executed', result: result('filled', 10, 100), order: order({}), attempt: attempt(1, 'ok') },
    },
    {
      name: 'adopted after earlier attempts: the attempt number continues',
      outcome: placed({ side: 'sell' }, 3, 'adopted'),
      want: { status: 'executed', result: result('filled', 10, 100), order: order({ side: 'sell' }), attempt: attempt(3, 'adopted') },
    },
    {
      name: 'new, not filled yet: executed without a fill',
      outcome: placed({ status: 'new', filled_quantity: 0, fill_price: null }, 1),
      want: { status: 'executed', result: result('new', 0, null), order: order({ status: 'new', filled_quantity: 0, fill_price: null }), attempt: attempt(1, 'ok') },
    },
    {
      name: 'the broker rejected the order it answered with: failed, nothing booked',
      outcome: placed({ status: 'rejected', filled_quantity: 0, fill_price: null }, 2),
      want: { status: 'failed', result: result('rejected', 0, null), order: order({ status: 'rejected', filled_quantity: 0, fill_price: null }), attempt: attempt(2, 'ok') },
    },
    {
      name: 'an unusable fill is reported as is (the store books only usable fills)',
      outcome: placed({ fill_price: null }, 1),
      want: { status: 'executed', result: result('filled', 10, null), order: order({ fill_price: null }), attempt: attempt(1, 'ok') },
    },
    {
      name: 'gave up: failed with the reason, no attempt (failed ones are recorded as they happen)',
      outcome: { ok: false, reason: 'insufficient buying power', interrupted: false },
      want: {
        status: 'failed',
        result: { connector: 'broker', client_order_id: 'tv-key-1', order_id: null, status: 'error', filled_quantity: 0, fill_price: null, error: 'insufficient buying power' },
        order: null,
      },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(settlePlacement(TARGET, c.outcome, AT)).toStrictEqual(c.want);
    });
  }
});

describe('other settlements', () => {
  const empty = { connector: 'broker', client_order_id: 'tv-key-1', order_id: null, filled_quantity: 0, fill_price: null };
  const cases: { name: string; got: Settlement; want: Settlement }[] = [
    { name: 'a cancel that went through', got: settleCancel(TARGET, { ok: true, cancelled: 2 }), want: { status: 'executed', result: { ...empty, status: 'canceled' }, order: null } },
    {
      name: 'a cancel that did not',
      got: settleCancel(TARGET, { ok: false, reason: 'gave up after 5 attempts: 503', interrupted: false }),
      want: { status: 'failed', result: { ...empty, status: 'error', error: 'gave up after 5 attempts: 503' }, order: null },
    },
    { name: 'nothing to order', got: noOrderSettlement(TARGET), want: { status: 'executed', result: { ...empty, status: 'no_op' }, order: null } },
    { name: 'an error', got: errorSettlement(TARGET, 'gone'), want: { status: 'failed', result: { ...empty, status: 'error', error: 'gone' }, order: null } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(c.got).toStrictEqual(c.want);
    });
  }

  test('an unknown connector is a capability refusal that names it', () => {
    const d = unknownConnectorDecision('gone');
    expect(d).toMatchObject({ allowed: false, quantity: null, side: null, reserved_notional: 0 });
    expect(d.failures).toEqual([expect.objectContaining({ rule: 'connector_capability', code: 'connector_unknown', actual: 'gone' })]);
  });
});

describe('storeRetryDelay: doubling from 500 ms, at most 30 s', () => {
  const cases: [failures: number, ms: number][] = [
    [1, 500],
    [2, 1_000],
    [3, 2_000],
    [6, 16_000],
    [7, 30_000],
    [8, 30_000],
    [1_000, 30_000],
  ];
  for (const [failures, ms] of cases) {
    test(`after ${failures} failure(s): ${ms} ms`, () => {
      expect(storeRetryDelay(failures)).toBe(ms);
    });
  }
});

describe('laneBlockedDelay: a waiting lane pauses 50 ms doubling, at most 1 s', () => {
  const cases: [blocks: number, ms: number][] = [
    [0, 50],
    [1, 50],
    [2, 100],
    [5, 800],
    [6, 1_000],
    [1_000_000, 1_000],
  ];
  for (const [blocks, ms] of cases) {
    test(`blocked ${blocks} time(s) in a row: ${ms} ms`, () => {
      expect(laneBlockedDelay(blocks)).toBe(ms);
    });
  }
});
