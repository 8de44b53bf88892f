/** The mock broker's fill rule: table tests, no database. */
import { describe, expect, test } from 'vitest';
import type { LedgerEntry } from '../../../src/domain/ledger.js';
import type { Order } from '../../../src/domain/types.js';
import { tradingDayEnd } from '../../../src/guardrails/trading-time.js';
import type { MockOrderState } from '../../../src/store/contract/mock-broker.js';
import {
  crossing,
  IMMEDIATE_FILLS,
  mockOrderFills,
  mockOrderRow,
  MOCK_ORDER_COLUMNS,
  partSizes,
  planCross,
  planDue,
  planMockFill,
  planMockPart,
  planPlacement,
  type Crossing,
  type MockFillSettings,
  type MockPlacementInput,
} from '../../../src/store/plans/mock-broker.js';

const order = (o: Partial<Order> = {}): Order => ({
  client_order_id: 'c1',
  order_id: 'm1',
  instrument: 'AAPL',
  side: 'buy',
  quantity: 10,
  order_type: 'market',
  limit_price: null,
  status: 'filled',
  filled_quantity: 10,
  fill_price: 100,
  ...o,
});

describe('planMockFill', () => {
  const cases: Array<{ name: string; current: LedgerEntry | null; order: Order; want: LedgerEntry | null }> = [
    { name: 'a filled buy opens a position', current: null, order: order(), want: { quantity: 10, avg_price: 100 } },
    { name: 'a partial fill moves by what filled', current: null, order: order({ status: 'partially_filled', filled_quantity: 4 }), want: { quantity: 4, avg_price: 100 } },
    { name: 'a sell reduces at the average', current: { quantity: 10, avg_price: 100 }, order: order({ side: 'sell', filled_quantity: 4, fill_price: 110 }), want: { quantity: 6, avg_price: 100 } },
    { name: 'selling everything leaves it flat', current: { quantity: 6, avg_price: 100 }, order: order({ side: 'sell', filled_quantity: 6, fill_price: 120 }), want: { quantity: 0, avg_price: 0 } },
    { name: 'an open order moves nothing', current: { quantity: 6, avg_price: 100 }, order: order({ status: 'new', filled_quantity: 0, fill_price: null }), want: null },
    { name: 'a fill without a price moves nothing', current: null, order: order({ fill_price: null }), want: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(planMockFill(c.current, c.order)).toEqual(c.want);
      expect(mockOrderFills(c.order)).toBe(c.want !== null);
    });
  }

  test('MOCK_ORDER_COLUMNS name every column of the row (both dialects bind them by name)', () => {
    expect([...MOCK_ORDER_COLUMNS].sort()).toEqual(Object.keys(mockOrderRow('mock', order(), new Date(5))).sort());
  });

  test('the order row carries its connector and creation time', () => {
    expect(mockOrderRow('mock', order(), new Date(5))).toEqual({
      connector: 'mock',
      ...order(),
      stop_price: null,
      time_in_force: 'gtc',
      price: null,
      next_fill_at: null,
      expires_at: null,
      created_at: 5,
      updated_at: 5,
    });
  });
});

describe('partSizes: equal parts rounded like the ledger, the last takes the rest', () => {
  const cases: Array<{ quantity: number; parts: number; want: number[] }> = [
    { quantity: 10, parts: 1, want: [10] },
    { quantity: 9, parts: 3, want: [3, 3, 3] },
    { quantity: 10, parts: 3, want: [3.333333333, 3.333333333, 3.333333334] },
    { quantity: 10, parts: 4, want: [2.5, 2.5, 2.5, 2.5] },
    { quantity: 1, parts: 3, want: [0.333333333, 0.333333333, 0.333333334] },
    { quantity: 0.5, parts: 2, want: [0.25, 0.25] },
    { quantity: 2, parts: 5, want: [0.4, 0.4, 0.4, 0.4, 0.4] },
    // Smaller than one unit of the ninth decimal per part: one part.
    { quantity: 0.000000002, parts: 5, want: [0.000000002] },
  ];
  for (const c of cases) {
    test(`${c.quantity} in ${c.parts}`, () => {
      const parts = partSizes(c.quantity, c.parts);
      expect(parts).toEqual(c.want);
      expect(Number(parts.reduce((a, b) => a + b, 0).toFixed(9))).toBe(c.quantity);
    });
  }
});

describe('crossing: which last price crosses a resting order', () => {
  const o = (side: 'buy' | 'sell', order_type: 'limit' | 'stop' | 'stop_limit' | 'market', limit_price: number | null, stop_price: number | null) => ({ side, order_type, limit_price, stop_price });
  const fill = (price: number): Crossing => ({ kind: 'fill', price });
  const cases: Array<{ name: string; order: ReturnType<typeof o>; last: number; want: Crossing }> = [
    { name: 'buy limit: above the limit rests', order: o('buy', 'limit', 100, null), last: 100.01, want: null },
    { name: 'buy limit: at the limit fills at the limit', order: o('buy', 'limit', 100, null), last: 100, want: fill(100) },
    { name: 'buy limit: below fills at the limit', order: o('buy', 'limit', 100, null), last: 95, want: fill(100) },
    { name: 'sell limit: below the limit rests', order: o('sell', 'limit', 100, null), last: 99.99, want: null },
    { name: 'sell limit: at or above fills at the limit', order: o('sell', 'limit', 100, null), last: 104, want: fill(100) },
    { name: 'buy stop: below the stop rests', order: o('buy', 'stop', null, 110), last: 109.99, want: null },
    { name: 'buy stop: at the stop fills at the stop', order: o('buy', 'stop', null, 110), last: 110, want: fill(110) },
    { name: 'sell stop: above the stop rests', order: o('sell', 'stop', null, 90), last: 90.01, want: null },
    { name: 'sell stop: below fills at the stop', order: o('sell', 'stop', null, 90), last: 85, want: fill(90) },
    { name: 'buy stop_limit: below the stop rests', order: o('buy', 'stop_limit', 112, 110), last: 105, want: null },
    { name: 'buy stop_limit: stop and limit crossed fills at the limit', order: o('buy', 'stop_limit', 112, 110), last: 111, want: fill(112) },
    { name: 'buy stop_limit: past the limit only triggers', order: o('buy', 'stop_limit', 112, 110), last: 113, want: { kind: 'trigger' } },
    { name: 'sell stop_limit: stop crossed, limit not: triggers', order: o('sell', 'stop_limit', 88, 90), last: 87, want: { kind: 'trigger' } },
    { name: 'sell stop_limit: stop and limit crossed', order: o('sell', 'stop_limit', 88, 90), last: 89, want: fill(88) },
    { name: 'a triggered stop_limit is a limit', order: o('buy', 'stop_limit', 112, null), last: 112, want: fill(112) },
    { name: 'a triggered stop_limit above its limit rests', order: o('buy', 'stop_limit', 112, null), last: 113, want: null },
    { name: 'a market order never rests', order: o('buy', 'market', null, null), last: 1, want: null },
  ];
  for (const c of cases) test(c.name, () => expect(crossing(c.order, c.last)).toEqual(c.want));
});

/** Monday 2026-11-23 15:00 UTC (10:00 in New York). */
const NOW = new Date('2026-11-23T15:00:00Z');
const T = NOW.getTime();
const NY_END = new Date('2026-11-24T05:00:00Z').getTime();
const settings = (s: Partial<MockFillSettings> = {}): MockFillSettings => ({ ...IMMEDIATE_FILLS, ...s });
const input = (o: Partial<MockPlacementInput> = {}): MockPlacementInput => ({
  client_order_id: 'c1',
  order_id: 'm1',
  instrument: 'AAPL',
  side: 'buy',
  quantity: 9,
  order_type: 'market',
  limit_price: null,
  stop_price: null,
  time_in_force: 'day',
  reference_price: 100,
  ...o,
});

describe('planPlacement', () => {
  const cases: Array<{ name: string; input: MockPlacementInput; settings: MockFillSettings; last?: number; want: Record<string, unknown> }> = [
    { name: 'defaults: a market order fills at once at the reference', input: input(), settings: settings(), want: { status: 'filled', filled_quantity: 9, fill_price: 100, next_fill_at: null, expires_at: null } },
    { name: 'defaults: a limit order fills at once at its limit', input: input({ order_type: 'limit', limit_price: 99 }), settings: settings(), want: { status: 'filled', fill_price: 99 } },
    { name: 'defaults: a stop without a stop price fills at the reference', input: input({ order_type: 'stop' }), settings: settings(), want: { status: 'filled', fill_price: 100 } },
    {
      name: 'a delay: new, nothing filled, first part after the delay, a day order ends at midnight in the zone',
      input: input(),
      settings: settings({ fill_delay_ms: 500 }),
      want: { status: 'new', filled_quantity: 0, fill_price: null, price: 100, next_fill_at: T + 500, expires_at: NY_END },
    },
    { name: 'parts without a delay: new, first part due now', input: input({ time_in_force: 'gtc' }), settings: settings({ partial_fills: 3 }), want: { status: 'new', price: 100, next_fill_at: T, expires_at: null } },
    { name: 'resting: a limit without a last price rests', input: input({ order_type: 'limit', limit_price: 99 }), settings: settings({ resting_orders: true }), want: { status: 'new', price: null, next_fill_at: null, expires_at: NY_END } },
    { name: 'resting: a limit the last price crosses fills at once', input: input({ order_type: 'limit', limit_price: 99 }), settings: settings({ resting_orders: true }), last: 98, want: { status: 'filled', fill_price: 99 } },
    { name: 'resting: a limit the last price does not cross rests', input: input({ order_type: 'limit', limit_price: 99 }), settings: settings({ resting_orders: true }), last: 99.5, want: { status: 'new', price: null } },
    { name: 'resting: a crossed limit with a delay is scheduled', input: input({ order_type: 'limit', limit_price: 99 }), settings: settings({ resting_orders: true, fill_delay_ms: 100 }), last: 98, want: { status: 'new', price: 99, next_fill_at: T + 100 } },
    { name: 'resting: a stop_limit triggered but not crossed rests as a limit', input: input({ order_type: 'stop_limit', stop_price: 101, limit_price: 102 }), settings: settings({ resting_orders: true }), last: 103, want: { status: 'new', stop_price: null, price: null } },
    { name: 'resting: a market order still fills at once', input: input(), settings: settings({ resting_orders: true }), want: { status: 'filled', fill_price: 100 } },
    { name: 'resting: an ioc order that would rest is canceled', input: input({ order_type: 'limit', limit_price: 99, time_in_force: 'ioc' }), settings: settings({ resting_orders: true }), want: { status: 'canceled', filled_quantity: 0, expires_at: null } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const planned = planPlacement(c.input, c.settings, c.last ?? null, NOW, 'America/New_York');
      expect(planned.ok && planned.order).toMatchObject(c.want);
    });
  }
  test('an order without a price to fill at is refused', () => {
    expect(planPlacement(input({ reference_price: null }), settings(), null, NOW, 'UTC')).toEqual({ ok: false, reason: 'a market order needs a price to fill' });
    expect(planPlacement(input({ order_type: 'limit' }), settings(), null, NOW, 'UTC')).toEqual({ ok: false, reason: 'a limit order needs a price to fill' });
  });
});

const state = (o: Partial<MockOrderState> = {}): MockOrderState => ({
  client_order_id: 'c1',
  order_id: 'm1',
  instrument: 'AAPL',
  side: 'buy',
  quantity: 9,
  order_type: 'market',
  limit_price: null,
  status: 'new',
  filled_quantity: 0,
  fill_price: null,
  stop_price: null,
  time_in_force: 'gtc',
  price: 100,
  next_fill_at: T,
  expires_at: null,
  ...o,
});

describe('planDue: the next part, or the end', () => {
  const three = settings({ partial_fills: 3, fill_delay_ms: 1000 });
  const cases: Array<{ name: string; order: MockOrderState; now: number; want: Record<string, unknown> | null }> = [
    { name: 'not due yet', order: state({ next_fill_at: T + 1 }), now: T, want: null },
    { name: 'the first of three parts', order: state(), now: T, want: { status: 'partially_filled', filled_quantity: 3, fill_price: 100, next_fill_at: T + 1000, part: { quantity: 3, price: 100 } } },
    { name: 'the last part fills it', order: state({ status: 'partially_filled', filled_quantity: 6, fill_price: 100 }), now: T, want: { status: 'filled', filled_quantity: 9, next_fill_at: null, part: { quantity: 3, price: 100 } } },
    { name: 'parts keep their schedule when late', order: state(), now: T + 5000, want: { next_fill_at: T + 1000 } },
    { name: 'a day order past its end expires, keeping what filled', order: state({ status: 'partially_filled', filled_quantity: 3, fill_price: 100, next_fill_at: T + 2000, expires_at: T + 1000 }), now: T + 1000, want: { status: 'expired', filled_quantity: 3, next_fill_at: null, part: null } },
    { name: 'a part due before the end still fills', order: state({ next_fill_at: T, expires_at: T + 1000 }), now: T + 1000, want: { status: 'partially_filled', filled_quantity: 3 } },
    { name: 'a resting order past its end expires', order: state({ price: null, next_fill_at: null, expires_at: T }), now: T, want: { status: 'expired' } },
    { name: 'a resting order before its end: nothing', order: state({ price: null, next_fill_at: null, expires_at: T + 1 }), now: T, want: null },
    { name: 'a terminal order: nothing', order: state({ status: 'canceled' }), now: T, want: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const change = planDue(c.order, three, c.now);
      if (c.want === null) expect(change).toBeNull();
      else expect(change).toMatchObject(c.want);
    });
  }
  test('the average fill price weighs every part', () => {
    expect(planDue(state({ status: 'partially_filled', filled_quantity: 3, fill_price: 90, price: 120 }), three, T)?.fill_price).toBe(105);
  });
});

describe('planCross: a price reaches a resting order', () => {
  const resting = state({ order_type: 'limit', limit_price: 99, price: null, next_fill_at: null });
  test('without a delay the first part fills in the same step', () => {
    expect(planCross(resting, 98, settings(), T)).toMatchObject({ status: 'filled', filled_quantity: 9, fill_price: 99, price: 99, next_fill_at: null, part: { quantity: 9, price: 99 } });
    expect(planCross(resting, 98, settings({ partial_fills: 3 }), T)).toMatchObject({ status: 'partially_filled', filled_quantity: 3, next_fill_at: T });
  });
  test('with a delay its fills are scheduled', () => {
    expect(planCross(resting, 98, settings({ fill_delay_ms: 250 }), T)).toMatchObject({ status: 'new', filled_quantity: 0, price: 99, next_fill_at: T + 250, part: null });
  });
  test('a price that does not cross, and an order already scheduled, move nothing', () => {
    expect(planCross(resting, 99.5, settings(), T)).toBeNull();
    expect(planCross({ ...resting, price: 99, next_fill_at: T }, 90, settings(), T)).toBeNull();
  });
  test('a stop_limit past its limit triggers: it rests as a limit', () => {
    const sl = state({ order_type: 'stop_limit', stop_price: 101, limit_price: 102, price: null, next_fill_at: null });
    expect(planCross(sl, 103, settings(), T)).toEqual({ status: 'new', filled_quantity: 0, fill_price: null, price: null, next_fill_at: null, stop_price: null, part: null });
  });
});

describe('planMockPart moves the position by one part', () => {
  test('a part of a buy, then of a sell', () => {
    const first = planMockPart(null, 'buy', { quantity: 3, price: 100 });
    expect(first).toEqual({ quantity: 3, avg_price: 100 });
    expect(planMockPart(first, 'sell', { quantity: 1, price: 120 })).toEqual({ quantity: 2, avg_price: 100 });
  });
});

describe('tradingDayEnd: the next local midnight', () => {
  const cases: Array<{ now: string; tz: string; want: string }> = [
    { now: '2026-11-23T15:00:00Z', tz: 'America/New_York', want: '2026-11-24T05:00:00.000Z' },
    { now: '2026-11-24T04:59:59Z', tz: 'America/New_York', want: '2026-11-24T05:00:00.000Z' },
    { now: '2026-11-24T05:00:00Z', tz: 'America/New_York', want: '2026-11-25T05:00:00.000Z' },
    { now: '2026-11-23T15:00:00Z', tz: 'UTC', want: '2026-11-24T00:00:00.000Z' },
    // The day clocks spring forward is 23 hours long; the day they fall back, 25.
    { now: '2026-03-08T12:00:00Z', tz: 'America/New_York', want: '2026-03-09T04:00:00.000Z' },
    { now: '2026-11-01T12:00:00Z', tz: 'America/New_York', want: '2026-11-02T05:00:00.000Z' },
    { now: '2026-11-23T20:00:00Z', tz: 'Asia/Kolkata', want: '2026-11-24T18:30:00.000Z' },
    { now: '2026-11-23T15:00:00Z', tz: 'Asia/Kathmandu', want: '2026-11-23T18:15:00.000Z' },
  ];
  for (const c of cases) test(`${c.now} in ${c.tz}`, () => expect(tradingDayEnd(new Date(c.now), c.tz).toISOString()).toBe(c.want));
});
