/** The mock broker's fill rule: table tests, no database. */
import { describe, expect, test } from 'vitest';
import type { LedgerEntry } from '../../../src/domain/ledger.js';
import type { Order } from '../../../src/domain/types.js';
import { mockOrderFills, mockOrderRow, planMockFill } from '../../../src/store/plans/mock-broker.js';

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

  test('the order row carries its connector and creation time', () => {
    expect(mockOrderRow('mock', order(), new Date(5))).toEqual({ connector: 'mock', ...order(), created_at: 5 });
  });
});
