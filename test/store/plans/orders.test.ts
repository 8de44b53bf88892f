/** The order plans: fills as increases of the cumulative quantity, statuses, reservations, events, cursors. Table tests, no database. */
import { describe, expect, test } from 'vitest';
import type { Order, OrderStatus, Side } from '../../../src/domain/types.js';
import type { Fill } from '../../../src/store/store.js';
import { fillIncrement, newOrderRow, ORDER_COLUMNS, ORDER_UPDATE_COLUMNS, nextOrderStatus, orderCursorSeq, orderEvent, orderRecordFromRow, planOrderUpdate, planReservation, unchangedOutcome, type OrderRow, type ReservationRow } from '../../../src/store/plans/orders.js';

const NOW = new Date('2026-11-23T15:00:00.000Z');
const EARLIER = NOW.getTime() - 60_000;

function row(o: Partial<OrderRow> = {}): OrderRow {
  return {
    client_order_id: 'tv-k1',
    connector: 'broker',
    signal_id: 'sig_1',
    instrument: 'AAPL',
    order_id: 'ord-1',
    side: 'buy',
    quantity: 10,
    order_type: 'limit',
    limit_price: 101,
    stop_price: null,
    status: 'new',
    open: 1,
    filled_quantity: 0,
    avg_fill_price: null,
    created_at: EARLIER,
    updated_at: EARLIER,
    ...o,
  };
}

function report(o: Partial<Order> = {}): Order {
  return { client_order_id: 'tv-k1', order_id: 'ord-1', instrument: 'AAPL', side: 'buy', quantity: 10, order_type: 'limit', limit_price: 101, status: 'new', filled_quantity: 0, fill_price: null, ...o };
}

describe('fillIncrement', () => {
  const booked = (filled_quantity: number, avg_fill_price: number | null) => ({ filled_quantity, avg_fill_price });
  const reported = (filled_quantity: number, fill_price: number | null, side: Side = 'buy') => ({ side, filled_quantity, fill_price });
  const cases: Array<{ name: string; booked: { filled_quantity: number; avg_fill_price: number | null }; reported: Pick<Order, 'side' | 'filled_quantity' | 'fill_price'>; want: { fill: Fill | null; unusable: boolean } }> = [
    { name: 'nothing filled yet, nothing reported', booked: booked(0, null), reported: reported(0, null), want: { fill: null, unusable: false } },
    { name: 'a first fill is booked at the reported average', booked: booked(0, null), reported: reported(4, 100), want: { fill: { side: 'buy', quantity: 4, price: 100 }, unusable: false } },
    { name: 'a repeated cumulative quantity books nothing', booked: booked(4, 100), reported: reported(4, 100), want: { fill: null, unusable: false } },
    { name: 'a lower cumulative quantity (an older report) books nothing', booked: booked(6, 100), reported: reported(4, 100), want: { fill: null, unusable: false } },
    { name: 'the increase is priced to move the booked average to the reported one', booked: booked(4, 100), reported: reported(10, 103), want: { fill: { side: 'buy', quantity: 6, price: 105 }, unusable: false } },
    { name: 'a sell increase keeps its side', booked: booked(2, 50), reported: reported(5, 56, 'sell'), want: { fill: { side: 'sell', quantity: 3, price: 60 }, unusable: false } },
    { name: 'float noise in the derived price is rounded away', booked: booked(0.1, 100), reported: reported(0.3, 100), want: { fill: { side: 'buy', quantity: 0.2, price: 100 }, unusable: false } },
    { name: 'an average that cannot come from a positive price falls back to the reported average', booked: booked(4, 100), reported: reported(5, 50), want: { fill: { side: 'buy', quantity: 1, price: 50 }, unusable: false } },
    { name: 'more filled without a price: unusable, nothing booked', booked: booked(0, null), reported: reported(10, null), want: { fill: null, unusable: true } },
    { name: 'more filled at price 0: unusable', booked: booked(4, 100), reported: reported(10, 0), want: { fill: null, unusable: true } },
    { name: 'more filled at a negative price: unusable', booked: booked(0, null), reported: reported(10, -1), want: { fill: null, unusable: true } },
    { name: 'more filled at a NaN price: unusable', booked: booked(0, null), reported: reported(10, Number.NaN), want: { fill: null, unusable: true } },
    { name: 'a NaN cumulative quantity: unusable', booked: booked(0, null), reported: reported(Number.NaN, 100), want: { fill: null, unusable: true } },
    { name: 'an infinite cumulative quantity: unusable', booked: booked(0, null), reported: reported(Number.POSITIVE_INFINITY, 100), want: { fill: null, unusable: true } },
    { name: 'a negative cumulative quantity books nothing', booked: booked(0, null), reported: reported(-3, 100), want: { fill: null, unusable: false } },
    { name: 'an unchanged quantity without a price is no fill at all', booked: booked(4, 100), reported: reported(4, null), want: { fill: null, unusable: false } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(fillIncrement(c.booked, c.reported)).toEqual(c.want);
    });
  }
});

describe('nextOrderStatus', () => {
  const cases: Array<{ current: OrderStatus; reported: OrderStatus; filled: number; want: OrderStatus }> = [
    { current: 'new', reported: 'new', filled: 0, want: 'new' },
    { current: 'new', reported: 'new', filled: 4, want: 'partially_filled' },
    { current: 'new', reported: 'partially_filled', filled: 4, want: 'partially_filled' },
    { current: 'partially_filled', reported: 'new', filled: 4, want: 'partially_filled' },
    { current: 'partially_filled', reported: 'new', filled: 0, want: 'partially_filled' },
    { current: 'new', reported: 'filled', filled: 10, want: 'filled' },
    { current: 'partially_filled', reported: 'canceled', filled: 4, want: 'canceled' },
    { current: 'new', reported: 'rejected', filled: 0, want: 'rejected' },
    { current: 'new', reported: 'expired', filled: 0, want: 'expired' },
    // Terminal is final, whatever is reported later.
    { current: 'filled', reported: 'new', filled: 10, want: 'filled' },
    { current: 'canceled', reported: 'filled', filled: 6, want: 'canceled' },
    { current: 'rejected', reported: 'partially_filled', filled: 2, want: 'rejected' },
    { current: 'expired', reported: 'canceled', filled: 0, want: 'expired' },
  ];
  for (const c of cases) {
    test(`${c.current} + reported ${c.reported} with ${c.filled} filled → ${c.want}`, () => {
      expect(nextOrderStatus(c.current, c.reported, c.filled)).toBe(c.want);
    });
  }
});

describe('planOrderUpdate', () => {
  test('a repeated report changes nothing: null', () => {
    expect(planOrderUpdate(row(), report(), NOW)).toBeNull();
    const partial = row({ status: 'partially_filled', filled_quantity: 4, avg_fill_price: 100 });
    expect(planOrderUpdate(partial, report({ status: 'partially_filled', filled_quantity: 4, fill_price: 100 }), NOW)).toBeNull();
    // A lower cumulative quantity (an older report arriving late) is no change either.
    expect(planOrderUpdate(partial, report({ status: 'new', filled_quantity: 2, fill_price: 100 }), NOW)).toBeNull();
    const done = row({ status: 'filled', open: 0, filled_quantity: 10, avg_fill_price: 103 });
    expect(planOrderUpdate(done, report({ status: 'filled', filled_quantity: 10, fill_price: 103 }), NOW)).toBeNull();
  });

  test('ORDER_UPDATE_COLUMNS name every value a plan sets (both dialects bind them by name)', () => {
    const plan = planOrderUpdate(row({ order_id: 'ord-1' }), report({ status: 'filled', filled_quantity: 10, fill_price: 100 }), NOW);
    expect([...ORDER_UPDATE_COLUMNS].sort()).toEqual(Object.keys(plan?.values ?? {}).sort());
  });

  test('a terminal report whose fill cannot be booked keeps the order open until a usable report books it', () => {
    const unpriced = planOrderUpdate(row({ order_id: 'ord-1' }), report({ status: 'filled', filled_quantity: 10, fill_price: null }), NOW);
    // Nothing booked, nothing changed but the said error: the order stays new, open and reserved.
    expect(unpriced).toBeNull();
    const partial = row({ status: 'partially_filled', filled_quantity: 4, avg_fill_price: 100 });
    const ended = planOrderUpdate(partial, report({ status: 'canceled', filled_quantity: 6, fill_price: null }), NOW);
    expect(ended).toBeNull();
    const priced = planOrderUpdate(partial, report({ status: 'filled', filled_quantity: 10, fill_price: 100 }), NOW);
    expect(priced).toMatchObject({ fill: { quantity: 6, price: 100 }, terminal: true, values: { status: 'filled', open: 0 } });
  });

  test('a partial fill, then the rest: each books its increase, the status moves forward', () => {
    const first = planOrderUpdate(row(), report({ status: 'partially_filled', filled_quantity: 4, fill_price: 100 }), NOW);
    expect(first).toMatchObject({
      values: { order_id: 'ord-1', status: 'partially_filled', open: 1, filled_quantity: 4, avg_fill_price: 100, updated_at: NOW.getTime() },
      fill: { side: 'buy', quantity: 4, price: 100 },
      unusable_fill: false,
      terminal: false,
    });
    const after = row({ ...first?.values });
    const second = planOrderUpdate(after, report({ status: 'filled', filled_quantity: 10, fill_price: 103 }), NOW);
    expect(second).toMatchObject({
      values: { status: 'filled', open: 0, filled_quantity: 10, avg_fill_price: 103 },
      fill: { side: 'buy', quantity: 6, price: 105 },
      unusable_fill: false,
      terminal: true,
    });
    expect(second?.event.event).toMatchObject({ type: 'order.filled', data: { filled_quantity: 10, avg_fill_price: 103, fill: { quantity: 6, price: 105 } } });
  });

  test('`new` with something filled is partially_filled', () => {
    expect(planOrderUpdate(row(), report({ status: 'new', filled_quantity: 3, fill_price: 99 }), NOW)?.values).toMatchObject({ status: 'partially_filled', open: 1, filled_quantity: 3 });
  });

  test('a terminal order: a later, higher cumulative quantity is booked, the status stays', () => {
    const canceled = row({ status: 'canceled', open: 0, filled_quantity: 4, avg_fill_price: 100 });
    const plan = planOrderUpdate(canceled, report({ status: 'filled', filled_quantity: 6, fill_price: 101 }), NOW);
    expect(plan).toMatchObject({ values: { status: 'canceled', open: 0, filled_quantity: 6, avg_fill_price: 101 }, fill: { quantity: 2, price: 103 }, terminal: true });
    expect(plan?.event.event.type).toBe('order.canceled');
  });

  test('the broker’s order id is learned later, and never replaced', () => {
    const unknown = row({ order_id: null });
    expect(planOrderUpdate(unknown, report({ order_id: '' }), NOW)).toBeNull();
    const learned = planOrderUpdate(unknown, report({ order_id: 'ord-9' }), NOW);
    expect(learned).toMatchObject({ values: { order_id: 'ord-9', status: 'new', open: 1, filled_quantity: 0 }, fill: null, terminal: false });
    expect(learned?.event.event).toMatchObject({ type: 'order.new', data: { order_id: 'ord-9' } });
    expect(planOrderUpdate(row({ order_id: 'ord-1' }), report({ order_id: 'ord-2' }), NOW)).toBeNull();
  });

  test('updated_at never moves back', () => {
    const later = NOW.getTime() + 5_000;
    expect(planOrderUpdate(row({ updated_at: later }), report({ status: 'canceled' }), NOW)?.values.updated_at).toBe(later);
  });
});

describe('unchangedOutcome', () => {
  const partial = row({ status: 'partially_filled', filled_quantity: 4, avg_fill_price: 100 });
  test('a repeated report: nothing changed, nothing to say', () => {
    expect(unchangedOutcome(partial, report({ status: 'partially_filled', filled_quantity: 4, fill_price: 100 }))).toEqual({ record: orderRecordFromRow(partial), changed: false, fill: null, unusable_fill: false, mode_changed: null });
  });
  test('more filled without a price and nothing else new: still nothing written, but the unusable fill is said', () => {
    const reported = report({ status: 'partially_filled', filled_quantity: 6, fill_price: null });
    expect(planOrderUpdate(partial, reported, NOW)).toBeNull();
    expect(unchangedOutcome(partial, reported)).toMatchObject({ changed: false, fill: null, unusable_fill: true });
  });
});

describe('planReservation', () => {
  const buy = { side: 'buy' as const, quantity: 10 };
  const sell = { side: 'sell' as const, quantity: 10 };
  const cases: Array<{ name: string; reservation: ReservationRow; order: { side: Side; quantity: number }; filled: number; terminal: boolean; want: ReservationRow | null }> = [
    { name: 'nothing filled: all of it stays', reservation: { quantity: 10, notional: 1000 }, order: buy, filled: 0, terminal: false, want: { quantity: 10, notional: 1000 } },
    { name: 'a buy shrinks to its remainder, notional scaled', reservation: { quantity: 10, notional: 1000 }, order: buy, filled: 4, terminal: false, want: { quantity: 6, notional: 600 } },
    { name: 'a sell keeps its sign', reservation: { quantity: -10, notional: 0 }, order: sell, filled: 4, terminal: false, want: { quantity: -6, notional: 0 } },
    { name: 'an already shrunk reservation scales from what it holds', reservation: { quantity: 6, notional: 600 }, order: buy, filled: 7, terminal: false, want: { quantity: 3, notional: 300 } },
    { name: 'a reservation smaller than the remainder is not grown', reservation: { quantity: 5, notional: 500 }, order: buy, filled: 2, terminal: false, want: { quantity: 5, notional: 500 } },
    { name: 'fully filled: released', reservation: { quantity: 10, notional: 1000 }, order: buy, filled: 10, terminal: false, want: null },
    { name: 'over-filled: released', reservation: { quantity: 10, notional: 1000 }, order: buy, filled: 11, terminal: false, want: null },
    { name: 'terminal with a remainder (canceled): released', reservation: { quantity: 10, notional: 1000 }, order: buy, filled: 4, terminal: true, want: null },
    { name: 'terminal with nothing filled (rejected): released', reservation: { quantity: -10, notional: 0 }, order: sell, filled: 0, terminal: true, want: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(planReservation(c.reservation, c.order, c.filled, c.terminal)).toEqual(c.want);
    });
  }
});

describe('the row, its record and its event', () => {
  test('newOrderRow: the placed order, nothing filled, open, no broker id yet', () => {
    const placed = report({ order_id: 'ord-7', status: 'filled', filled_quantity: 10, fill_price: 100 });
    expect(newOrderRow({ signal_id: 'sig_1', connector: 'broker', instrument: 'AAPL', stop_price: null }, placed, NOW)).toEqual(
      row({ order_id: null, status: 'new', open: 1, filled_quantity: 0, avg_fill_price: null, created_at: NOW.getTime(), updated_at: NOW.getTime() }),
    );
    // Both dialects' prepared insert binds these by name: a column left out would be dropped.
    expect([...ORDER_COLUMNS].sort()).toEqual(Object.keys(newOrderRow({ signal_id: 'sig_1', connector: 'broker', instrument: 'AAPL', stop_price: null }, placed, NOW)).sort());
    // The stop price is the signal's: a connector's report carries none.
    expect(newOrderRow({ signal_id: 'sig_1', connector: 'broker', instrument: 'AAPL', stop_price: 99 }, placed, NOW).stop_price).toBe(99);
  });

  test('orderEvent: order.<status> with the cumulative figures and the fill', () => {
    const r = row({ status: 'partially_filled', filled_quantity: 4, avg_fill_price: 100 });
    expect(orderEvent(r, { side: 'buy', quantity: 4, price: 100 }, NOW)).toEqual({
      at: NOW,
      event: {
        type: 'order.partially_filled',
        signal_id: 'sig_1',
        data: { connector: 'broker', instrument: 'AAPL', client_order_id: 'tv-k1', order_id: 'ord-1', side: 'buy', quantity: 10, filled_quantity: 4, avg_fill_price: 100, fill: { quantity: 4, price: 100 } },
      },
    });
    expect(orderEvent(row({ status: 'canceled' }), null, NOW).event.data).toMatchObject({ fill: null });
  });

  test('orderRecordFromRow: times as ISO, the open flag left out', () => {
    const record = orderRecordFromRow(row());
    expect(record).toMatchObject({ client_order_id: 'tv-k1', status: 'new', created_at: new Date(EARLIER).toISOString(), updated_at: new Date(EARLIER).toISOString() });
    expect(record).not.toHaveProperty('open');
  });
});

describe('orderCursorSeq', () => {
  test('no cursor: from the newest', () => {
    expect(orderCursorSeq(undefined)).toBeNull();
  });
  for (const [cursor, seq] of [['1', 1], ['42', 42], ['999999999999999', 999_999_999_999_999]] as const) {
    test(`"${cursor}" → ${seq}`, () => {
      expect(orderCursorSeq(cursor)).toBe(seq);
    });
  }
  for (const cursor of ['', '0', '-1', '01', '1.5', 'abc', ' 1', '1e3', '1000000000000000']) {
    test(`${JSON.stringify(cursor)} is refused with a RangeError`, () => {
      expect(() => orderCursorSeq(cursor)).toThrow(RangeError);
    });
  }
});
