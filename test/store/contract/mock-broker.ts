/** The mock broker’s books. */
import { describe, expect, test } from 'vitest';
import { T0, at, order, type ContractContext } from './helpers.js';

export function mockBrokerContract({ s }: ContractContext): void {
  describe('mock broker store', () => {
    test('placeOrder creates once; the same client_order_id returns the first order', async () => {
      const first = order({ client_order_id: 'tv-k1', quantity: 10, fill_price: 100 });
      expect(await s().mock.placeOrder('mock', first, T0)).toEqual({ created: true, order: first });
      const again = await s().mock.placeOrder('mock', order({ client_order_id: 'tv-k1', quantity: 99, fill_price: 1, order_id: 'other' }), at(1));
      expect(again).toEqual({ created: false, order: first });
      expect(await s().mock.getOrder('mock', 'tv-k1')).toEqual(first);
      expect(await s().mock.getOrder('mock', 'tv-nope')).toBeNull();
      // Another connector has its own books.
      expect((await s().mock.placeOrder('mock2', first, T0)).created).toBe(true);
      expect(await s().mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 10, avg_price: 100 }]);
    });

    test('positions follow fills: buy 10 @ 100, sell 4 @ 110', async () => {
      await s().mock.placeOrder('mock', order({ client_order_id: 'b1', side: 'buy', quantity: 10, fill_price: 100 }), T0);
      await s().mock.placeOrder('mock', order({ client_order_id: 's1', side: 'sell', quantity: 4, fill_price: 110 }), at(1));
      // An order that did not fill moves nothing.
      await s().mock.placeOrder('mock', order({ client_order_id: 'l1', order_type: 'limit', limit_price: 50, status: 'new', filled_quantity: 0, fill_price: null }), at(2));
      expect(await s().mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 6, avg_price: 100 }]);

      await s().mock.placeOrder('mock', order({ client_order_id: 's2', side: 'sell', quantity: 6, fill_price: 120 }), at(3));
      expect(await s().mock.getPositions('mock')).toEqual([]);
      expect(await s().mock.getPositions('unknown')).toEqual([]);
    });

    test('cancelOpenOrders cancels and counts only the instrument’s open orders', async () => {
      const open = { status: 'new', filled_quantity: 0, fill_price: null, order_type: 'limit', limit_price: 50 } as const;
      await s().mock.placeOrder('mock', order({ client_order_id: 'o1', ...open }), T0);
      await s().mock.placeOrder('mock', order({ client_order_id: 'o2', ...open, status: 'partially_filled', filled_quantity: 1, fill_price: 50 }), at(1));
      await s().mock.placeOrder('mock', order({ client_order_id: 'o3', status: 'filled' }), at(2));
      await s().mock.placeOrder('mock', order({ client_order_id: 'o4', ...open, instrument: 'MSFT' }), at(3));
      await s().mock.placeOrder('mock', order({ client_order_id: 'o5', ...open, status: 'rejected' }), at(4));

      expect(await s().mock.cancelOpenOrders('mock', 'AAPL')).toBe(2);
      const status = async (id: string): Promise<string | undefined> => (await s().mock.getOrder('mock', id))?.status;
      expect([await status('o1'), await status('o2'), await status('o3'), await status('o4'), await status('o5')]).toEqual([
        'canceled',
        'canceled',
        'filled',
        'new',
        'rejected',
      ]);
      expect(await s().mock.cancelOpenOrders('mock', 'AAPL')).toBe(0);
      expect(await s().mock.cancelOpenOrders('other', 'MSFT')).toBe(0);
    });

    test('listOrders is newest first, bounded by limit, per connector', async () => {
      await s().mock.placeOrder('mock', order({ client_order_id: 'first' }), T0);
      await s().mock.placeOrder('mock', order({ client_order_id: 'second', side: 'sell', quantity: 2 }), at(1));
      await s().mock.placeOrder('mock', order({ client_order_id: 'third', quantity: 3 }), at(2));
      await s().mock.placeOrder('mock2', order({ client_order_id: 'elsewhere' }), at(3));

      const listed = (await s().mock.listOrders('mock', 10)).items;
      expect(listed.map((o) => [o.client_order_id, o.created_at])).toEqual([
        ['third', at(2).toISOString()],
        ['second', at(1).toISOString()],
        ['first', T0.toISOString()],
      ]);
      expect(listed[1]).toEqual({ ...order({ client_order_id: 'second', side: 'sell', quantity: 2 }), created_at: at(1).toISOString() });
      const firstPage = await s().mock.listOrders('mock', 2);
      expect(firstPage.items.map((o) => o.client_order_id)).toEqual(['third', 'second']);
      // The next page continues exactly after the last one.
      const second = await s().mock.listOrders('mock', 2, firstPage.next_cursor ?? undefined);
      expect(second).toEqual({ items: [expect.objectContaining({ client_order_id: 'first' })], next_cursor: null });
    });

    test('listOrders pages orders of the same millisecond without skipping or repeating', async () => {
      for (const id of ['a', 'b', 'c', 'd', 'e']) await s().mock.placeOrder('mock', order({ client_order_id: id }), T0);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 5; i += 1) {
        const page = await s().mock.listOrders('mock', 2, cursor);
        seen.push(...page.items.map((o) => o.client_order_id));
        if (page.next_cursor === null) break;
        cursor = page.next_cursor;
      }
      expect(seen).toEqual(['e', 'd', 'c', 'b', 'a']);
    });
  });
}
