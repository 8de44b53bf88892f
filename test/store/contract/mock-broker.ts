/** The mock broker’s books. */
import { describe, expect, test } from 'vitest';
import type { MockOrderChange, MockOrderState } from '../../../src/store/contract/mock-broker.js';
import { versionOf } from '../../../src/store/plans/mock-broker.js';
import { T0, at, must, order, type ContractContext } from './helpers.js';

const ms = (seconds: number): number => at(seconds).getTime();

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

      const cancelled = await s().mock.cancelOpenOrders('mock', 'AAPL', at(5));
      // Returned as they are now; what filled stays filled.
      expect(cancelled.map((o) => [o.client_order_id, o.status, o.filled_quantity]).sort()).toEqual([
        ['o1', 'canceled', 0],
        ['o2', 'canceled', 1],
      ]);
      const status = async (id: string): Promise<string | undefined> => (await s().mock.getOrder('mock', id))?.status;
      expect([await status('o1'), await status('o2'), await status('o3'), await status('o4'), await status('o5')]).toEqual([
        'canceled',
        'canceled',
        'filled',
        'new',
        'rejected',
      ]);
      expect(await s().mock.cancelOpenOrders('mock', 'AAPL', at(6))).toEqual([]);
      expect(await s().mock.cancelOpenOrders('other', 'MSFT', at(6))).toEqual([]);
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

    describe('fills after placement', () => {
      /** An order scheduled to fill in parts from T0+1s: new, nothing filled, its price known. */
      const scheduled = (id: string, o: Partial<MockOrderState> = {}) => ({
        ...order({ client_order_id: id, quantity: 9, status: 'new', filled_quantity: 0, fill_price: null }),
        price: 100,
        next_fill_at: ms(1),
        time_in_force: 'day' as const,
        expires_at: ms(3600),
        ...o,
      });
      const part = (state: MockOrderState, quantity: number, next: number | null): MockOrderChange => ({
        status: state.filled_quantity + quantity >= state.quantity ? 'filled' : 'partially_filled',
        filled_quantity: state.filled_quantity + quantity,
        fill_price: 100,
        price: 100,
        next_fill_at: next,
        stop_price: state.stop_price,
        part: { quantity, price: 100 },
      });
      const due = async (seconds: number): Promise<MockOrderState[]> => s().mock.openOrders('mock', { due_by: ms(seconds) });

      test('openOrders finds what is due, and nextDueAt the earliest part or end of an open order', async () => {
        await s().mock.placeOrder('mock', scheduled('p1'), T0);
        await s().mock.placeOrder('mock', scheduled('p2', { next_fill_at: ms(5), expires_at: ms(4) }), at(1));
        await s().mock.placeOrder('mock', scheduled('done', { status: 'filled', filled_quantity: 9, fill_price: 100, next_fill_at: ms(0) }), at(2));
        await s().mock.placeOrder('mock2', scheduled('elsewhere', { next_fill_at: ms(0) }), at(3));
        expect(await due(0.5)).toEqual([]);
        const first = await due(1);
        expect(first.map((o) => o.client_order_id)).toEqual(['p1']);
        expect(first[0]).toMatchObject({ price: 100, next_fill_at: ms(1), expires_at: ms(3600), time_in_force: 'day', stop_price: null, status: 'new' });
        // p2's end (4s) comes before its first part (5s).
        expect((await due(4)).map((o) => o.client_order_id)).toEqual(['p1', 'p2']);
        expect(await s().mock.nextDueAt('mock')).toBe(ms(1));
        expect(await s().mock.nextDueAt('mock2')).toBe(ms(0));
        expect(await s().mock.nextDueAt('nobody')).toBeNull();
      });

      test('a part fills once: the same step again writes nothing, and the position moved once', async () => {
        await s().mock.placeOrder('mock', scheduled('p1'), T0);
        const [read] = await due(1);
        const state = must(read, 'the due order');
        const after = await s().mock.updateOrder('mock', versionOf(state), part(state, 3, ms(2)), at(1));
        expect(after).toMatchObject({ status: 'partially_filled', filled_quantity: 3, fill_price: 100, next_fill_at: ms(2) });
        expect(await s().mock.updateOrder('mock', versionOf(state), part(state, 3, ms(2)), at(1))).toBeNull();
        expect(await s().mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 3, avg_price: 100 }]);
        expect(await s().mock.getOrder('mock', 'p1')).toMatchObject({ status: 'partially_filled', filled_quantity: 3 });

        // The next part from the state the first step returned; a stale read still writes nothing.
        const second = must(after, 'the order after the first part');
        expect(await s().mock.updateOrder('mock', versionOf(second), part(second, 6, null), at(2))).toMatchObject({ status: 'filled', filled_quantity: 9, next_fill_at: null });
        expect(await s().mock.updateOrder('mock', versionOf(second), part(second, 6, null), at(2))).toBeNull();
        expect(await s().mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 9, avg_price: 100 }]);
        expect(await s().mock.nextDueAt('mock')).toBeNull();
      });

      test('two concurrent takes of the same part: exactly one lands', async () => {
        await s().mock.placeOrder('mock', scheduled('p1'), T0);
        const state = must((await due(1))[0], 'the due order');
        const results = await Promise.all([1, 2, 3].map(() => s().mock.updateOrder('mock', versionOf(state), part(state, 3, ms(2)), at(1))));
        expect(results.filter((r) => r !== null)).toHaveLength(1);
        expect(await s().mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 3, avg_price: 100 }]);
      });

      test('a canceled order takes no further step; an expiry keeps what filled', async () => {
        await s().mock.placeOrder('mock', scheduled('c1'), T0);
        await s().mock.placeOrder('mock', scheduled('e1', { instrument: 'MSFT', status: 'partially_filled', filled_quantity: 3, fill_price: 100 }), T0);
        const [c1, e1] = await due(1);
        await s().mock.cancelOpenOrders('mock', 'AAPL', at(1));
        expect(await s().mock.updateOrder('mock', versionOf(must(c1, 'c1')), part(must(c1, 'c1'), 3, ms(2)), at(1))).toBeNull();
        const expired = await s().mock.updateOrder('mock', versionOf(must(e1, 'e1')), { status: 'expired', filled_quantity: 3, fill_price: 100, price: 100, next_fill_at: null, stop_price: null, part: null }, at(2));
        expect(expired).toMatchObject({ status: 'expired', filled_quantity: 3, next_fill_at: null });
        expect(await s().mock.openOrders('mock', { due_by: ms(9999) })).toEqual([]);
      });

      test('resting orders: found per instrument; a trigger is conditional on the stop it read', async () => {
        const resting = { status: 'new', filled_quantity: 0, fill_price: null, price: null, next_fill_at: null } as const;
        await s().mock.placeOrder('mock', scheduled('sl', { ...resting, order_type: 'stop_limit', limit_price: 101, stop_price: 100 }), T0);
        await s().mock.placeOrder('mock', scheduled('lim', { ...resting, order_type: 'limit', limit_price: 99, instrument: 'MSFT' }), at(1));
        await s().mock.placeOrder('mock', scheduled('sched'), at(2));
        const [sl] = await s().mock.openOrders('mock', { resting: 'AAPL' });
        expect((await s().mock.openOrders('mock', { resting: 'AAPL' })).map((o) => o.client_order_id)).toEqual(['sl']);
        const state = must(sl, 'the stop_limit');
        expect(state).toMatchObject({ stop_price: 100, limit_price: 101, price: null, next_fill_at: null });
        const trigger: MockOrderChange = { status: 'new', filled_quantity: 0, fill_price: null, price: null, next_fill_at: null, stop_price: null, part: null };
        expect(await s().mock.updateOrder('mock', versionOf(state), trigger, at(3))).toMatchObject({ stop_price: null, status: 'new' });
        expect(await s().mock.updateOrder('mock', versionOf(state), trigger, at(3))).toBeNull();
      });

      test('last prices: stored per connector and instrument, a later one replaces an earlier', async () => {
        expect(await s().mock.getPrice('mock', 'AAPL')).toBeNull();
        await s().mock.setPrices('mock', { AAPL: 150.5, MSFT: 300 }, T0);
        await s().mock.setPrices('mock', { AAPL: 151.25 }, at(1));
        await s().mock.setPrices('mock2', { AAPL: 1 }, at(1));
        await s().mock.setPrices('mock', {}, at(2));
        expect([await s().mock.getPrice('mock', 'AAPL'), await s().mock.getPrice('mock', 'MSFT'), await s().mock.getPrice('mock2', 'AAPL')]).toEqual([151.25, 300, 1]);
      });
    });
  });
}
