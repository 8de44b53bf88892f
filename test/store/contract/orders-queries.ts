/** Orders read back: listOrders (filters, paging), openOrders, ordersOfSignal; and what open orders mean to the ledger's instruments and reconciliation. */
import { describe, expect, test } from 'vitest';
import type { OrderRecord, Store } from '../../../src/store/store.js';
import { DAY, allow, at, executeFill, gateInput, must, record, type ContractContext } from './helpers.js';
import { placeOpen, reportOf, type Placement } from './orders-helpers.js';

/**
 * Five orders, placed in this order:
 * 1 mock AAPL new · 2 mock MSFT filled · 3 alpaca AAPL partially filled · 4 mock AAPL canceled · 5 mock TSLA new.
 */
async function fiveOrders(store: Store): Promise<OrderRecord[]> {
  const placements: Placement[] = [
    await placeOpen(store, { instrument: 'AAPL', quantity: 10, price: 100 }),
    await placeOpen(store, { instrument: 'MSFT', quantity: 5, price: 300 }, { status: 'filled', filled_quantity: 5, fill_price: 300 }),
    await placeOpen(store, { instrument: 'AAPL', quantity: 10, price: 100, connector: 'alpaca' }),
    await placeOpen(store, { instrument: 'AAPL', quantity: 2, price: 100 }),
    await placeOpen(store, { instrument: 'TSLA', quantity: 1, price: 200 }),
  ];
  const [, , third, fourth] = placements;
  await store.applyOrderUpdate(reportOf(must(third, 'order 3').placed, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 }, 2, null, 'alpaca'));
  await store.applyOrderUpdate(reportOf(must(fourth, 'order 4').placed, { status: 'canceled' }, 2));
  return Promise.all(placements.map(async (p) => must((await store.ordersOfSignal(p.rec.signal_id))[0], `the order of ${p.rec.signal_id}`)));
}

export function ordersQueriesContract({ s }: ContractContext): void {
  describe('orders: queries', () => {
    test('listOrders: newest first, by status (open, terminal, one), connector and instrument', async () => {
      const orders = await fiveOrders(s());
      const [o1, o2, o3, o4, o5] = orders;
      expect(orders.map((o) => o.status)).toEqual(['new', 'filled', 'partially_filled', 'canceled', 'new']);
      const list = async (q: Omit<Parameters<Store['listOrders']>[0], 'limit'>) => (await s().listOrders({ limit: 100, ...q })).items;
      expect(await s().listOrders({ limit: 100 })).toEqual({ items: [o5, o4, o3, o2, o1], next_cursor: null });
      expect(await list({ status: 'open' })).toEqual([o5, o3, o1]);
      expect(await list({ status: 'terminal' })).toEqual([o4, o2]);
      expect(await list({ status: 'canceled' })).toEqual([o4]);
      expect(await list({ status: 'partially_filled' })).toEqual([o3]);
      expect(await list({ status: 'expired' })).toEqual([]);
      expect(await list({ connector: 'alpaca' })).toEqual([o3]);
      expect(await list({ instrument: 'AAPL' })).toEqual([o4, o3, o1]);
      expect(await list({ connector: 'mock', instrument: 'AAPL', status: 'open' })).toEqual([o1]);
      expect(await list({ connector: 'http' })).toEqual([]);
    });

    test('listOrders pages with its cursor without skipping or repeating, filters included', async () => {
      const orders = await fiveOrders(s());
      const walk = async (q: { limit: number; status?: 'open' }): Promise<OrderRecord[][]> => {
        const pages: OrderRecord[][] = [];
        let cursor: string | undefined;
        for (let i = 0; i < 10; i += 1) {
          const page = await s().listOrders({ ...q, ...(cursor === undefined ? {} : { cursor }) });
          pages.push(page.items);
          if (page.next_cursor === null) return pages;
          cursor = page.next_cursor;
        }
        throw new Error('listOrders never ended');
      };
      const newestFirst = [...orders].reverse();
      const pages = await walk({ limit: 2 });
      expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
      expect(pages.flat()).toEqual(newestFirst);
      expect((await walk({ limit: 5 })).map((p) => p.length)).toEqual([5]);
      const open = await walk({ limit: 1, status: 'open' });
      expect(open.flat()).toEqual(newestFirst.filter((o) => o.status === 'new' || o.status === 'partially_filled'));
      await expect(s().listOrders({ limit: 2, cursor: 'not-a-cursor' })).rejects.toThrow(RangeError);
    });

    test('a gate that settles open orders first (close, target) is blocked by an open order of its lane, by its signal, until it ends', async () => {
      const { rec: buy, placed } = await placeOpen(s(), { instrument: 'AAPL', quantity: 9, price: 10 });
      const close = await record(s(), { instrument: 'AAPL', signal: { action: 'close' } });
      const settling = { ...gateInput(close, allow({ side: null, quantity: null, exit: true, reserved_notional: 0 }), at(2)), settle_open_orders: true };
      expect(await s().gateSignal(settling)).toEqual({ kind: 'blocked', by: buy.signal_id });
      // Another lane's open order, and a gate that does not settle, are not held up by it.
      const other = await record(s(), { instrument: 'MSFT', signal: { action: 'close' } });
      expect((await s().gateSignal({ ...gateInput(other, allow({ side: null, quantity: null, exit: true, reserved_notional: 0 }), at(2)), settle_open_orders: true })).kind).toBe('executing');
      await s().applyOrderUpdate(reportOf(placed, { status: 'canceled' }, 3));
      expect((await s().gateSignal(settling)).kind).toBe('executing');
    });

    test('openOrders: oldest first, of one connector and instrument when given; ordersOfSignal', async () => {
      const [o1, , o3, , o5] = await fiveOrders(s());
      expect(await s().openOrders()).toEqual([o1, o3, o5]);
      expect(await s().openOrders('mock')).toEqual([o1, o5]);
      expect(await s().openOrders('mock', 'AAPL')).toEqual([o1]);
      expect(await s().openOrders('alpaca', 'AAPL')).toEqual([o3]);
      expect(await s().openOrders('alpaca', 'TSLA')).toEqual([]);
      expect(await s().ordersOfSignal(must(o3, 'order 3').signal_id)).toEqual([o3]);
      expect(await s().ordersOfSignal('sig_missing')).toEqual([]);
    });

    test('listInstruments includes an instrument whose only trace is an order (open, or ended unfilled)', async () => {
      const { placed } = await placeOpen(s(), { instrument: 'NVDA', quantity: 10, price: 100 });
      expect(await s().listInstruments('mock')).toEqual(['NVDA']);
      // Its signal executed: the instrument stays one the connector traded (cancels still reach it).
      await s().applyOrderUpdate(reportOf(placed, { status: 'canceled' }, 2));
      expect(await s().listInstruments('mock')).toEqual(['NVDA']);
    });

    test('reconcilePositions skips an instrument with an open order (a buy or an exit) until the order is terminal', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      await executeFill(s(), { side: 'buy', quantity: 5, price: 50 }, { instrument: 'MSFT' });
      const buy = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 });
      const exit = await placeOpen(s(), { instrument: 'MSFT', side: 'sell', quantity: 5, price: 50 });
      // The broker filled both already; sluice has not heard yet: not drift.
      const broker = [{ instrument: 'AAPL', quantity: 20, avg_price: 100 }];
      const skipped = await s().reconcilePositions('mock', broker, at(10), await s().positionVersions('mock'));
      expect(skipped).toEqual({ drift: [], skipped: [{ instrument: 'AAPL', reason: 'in_flight' }, { instrument: 'MSFT', reason: 'in_flight' }] });
      const positions = async () => (await s().getLedger('mock', DAY)).positions.map(({ instrument, quantity }) => ({ instrument, quantity }));
      expect(await positions()).toEqual([{ instrument: 'AAPL', quantity: 10 }, { instrument: 'MSFT', quantity: 5 }]);

      // Both end without sluice booking their fills (say, canceled as far as it heard): now it is drift.
      await s().applyOrderUpdate(reportOf(buy.placed, { status: 'canceled' }, 11));
      await s().applyOrderUpdate(reportOf(exit.placed, { status: 'canceled' }, 11));
      const adopted = await s().reconcilePositions('mock', broker, at(12), await s().positionVersions('mock'));
      expect(adopted).toEqual({ drift: [{ instrument: 'AAPL', ledger: 10, connector: 20 }, { instrument: 'MSFT', ledger: 5, connector: 0 }], skipped: [] });
      expect(await positions()).toEqual([{ instrument: 'AAPL', quantity: 20 }]);
    });
  });
}
