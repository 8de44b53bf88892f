/**
 * Orders followed to their end: the placement's answer recorded by finishSignal, and every later
 * report through applyOrderUpdate — fills as increases of the cumulative quantity, the
 * reservation shrinking to the remainder and released when terminal, `order.<status>` events,
 * the daily-loss switch. The queries are in orders-queries.ts.
 */
import { describe, expect, test } from 'vitest';
import type { Order } from '../../../src/domain/types.js';
import { DAY, allEvents, executeFill, must, type ContractContext } from './helpers.js';
import { placeOpen, reportOf } from './orders-helpers.js';

export function ordersContract({ s }: ContractContext): void {
  const ledger = async () => {
    const l = await s().getLedger('mock', DAY);
    return { positions: l.positions.map(({ instrument, quantity, avg_price }) => ({ instrument, quantity, avg_price })), reserved: l.reserved_exposure, pnl: l.realized_pnl_today };
  };
  const orderEvents = async () => (await allEvents(s())).filter((e) => e.type.startsWith('order.'));

  describe('orders: the placement', () => {
    test('a placement answered `new`: the order row is new, its reservation stays, nothing is booked', async () => {
      const { rec, outcome } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 });
      expect(outcome.record.status).toBe('executed');
      expect(outcome.order).toMatchObject({ client_order_id: rec.client_order_id, signal_id: rec.signal_id, connector: 'mock', instrument: 'AAPL', order_id: `ord-${rec.client_order_id}`, status: 'new', filled_quantity: 0, avg_fill_price: null, quantity: 10, side: 'buy' });
      expect(await s().ordersOfSignal(rec.signal_id)).toEqual([outcome.order]);
      expect(await ledger()).toEqual({ positions: [], reserved: 1000, pnl: 0 });
      expect((await orderEvents()).map((e) => [e.type, e.signal_id])).toEqual([['order.new', rec.signal_id]]);
    });

    test('a placement answered partially filled books the part and reserves the rest', async () => {
      const { outcome } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 }, { status: 'partially_filled', filled_quantity: 4, fill_price: 99 });
      expect(outcome.order).toMatchObject({ status: 'partially_filled', filled_quantity: 4, avg_fill_price: 99 });
      expect(outcome.realized_pnl_fill).toBe(0);
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 99 }], reserved: 600, pnl: 0 });
    });

    test('a placement answered rejected: the order row is terminal, the reservation released', async () => {
      const { outcome } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 }, { status: 'rejected' });
      expect(outcome.order).toMatchObject({ status: 'rejected', filled_quantity: 0 });
      expect(await s().openOrders()).toEqual([]);
      expect(await ledger()).toEqual({ positions: [], reserved: 0, pnl: 0 });
    });

    test('an order not followed (track_order false): no row, what the answer filled is booked, the reservation goes', async () => {
      const { rec, outcome } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 }, { status: 'new' }, { track_order: false });
      expect(outcome.order).toBeNull();
      expect(await s().ordersOfSignal(rec.signal_id)).toEqual([]);
      expect(await ledger()).toEqual({ positions: [], reserved: 0, pnl: 0 });
      expect(await orderEvents()).toEqual([]);
    });
  });

  describe('orders: applyOrderUpdate', () => {
    test('partial, the same report again, then filled: each increase booked once, the reservation follows the remainder', async () => {
      const { rec, placed } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 });
      const partial = await s().applyOrderUpdate(reportOf(placed, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 }, 2));
      expect(partial).toMatchObject({ changed: true, fill: { quantity: 4, price: 100, realized_pnl: 0 }, unusable_fill: false, mode_changed: null });
      expect(partial.record).toMatchObject({ status: 'partially_filled', filled_quantity: 4, avg_fill_price: 100 });
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 600, pnl: 0 });
      const events = await orderEvents();
      expect(events.map((e) => e.type)).toEqual(['order.new', 'order.partially_filled']);
      expect(events.at(-1)).toMatchObject({
        signal_id: rec.signal_id,
        data: { connector: 'mock', instrument: 'AAPL', client_order_id: rec.client_order_id, side: 'buy', quantity: 10, filled_quantity: 4, avg_fill_price: 100, fill: { quantity: 4, price: 100 } },
      });

      const before = await allEvents(s());
      const again = await s().applyOrderUpdate(reportOf(placed, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 }, 3));
      expect(again).toEqual({ record: partial.record, changed: false, fill: null, unusable_fill: false, mode_changed: null });
      expect(await allEvents(s())).toEqual(before);
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 600, pnl: 0 });

      const filled = await s().applyOrderUpdate(reportOf(placed, { status: 'filled', filled_quantity: 10, fill_price: 103 }, 4));
      expect(filled).toMatchObject({ changed: true, fill: { quantity: 6, price: 105 } });
      expect(filled.record).toMatchObject({ status: 'filled', filled_quantity: 10, avg_fill_price: 103 });
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 10, avg_price: 103 }], reserved: 0, pnl: 0 });
      expect((await orderEvents()).map((e) => e.type)).toEqual(['order.new', 'order.partially_filled', 'order.filled']);
      expect(await s().openOrders()).toEqual([]);
      expect(await s().ordersOfSignal(rec.signal_id)).toEqual([filled.record]);
    });

    test('partial then canceled: exactly the partial position, the reservation released', async () => {
      const { placed } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 50 });
      await s().applyOrderUpdate(reportOf(placed, { status: 'partially_filled', filled_quantity: 3, fill_price: 50 }, 2));
      const canceled = await s().applyOrderUpdate(reportOf(placed, { status: 'canceled', filled_quantity: 3, fill_price: 50 }, 3));
      expect(canceled).toMatchObject({ changed: true, fill: null, record: { status: 'canceled', filled_quantity: 3 } });
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 3, avg_price: 50 }], reserved: 0, pnl: 0 });
      expect((await orderEvents()).map((e) => e.type)).toEqual(['order.new', 'order.partially_filled', 'order.canceled']);
      // A fill reported after the cancel is still booked; the order stays canceled.
      const late = await s().applyOrderUpdate(reportOf(placed, { status: 'filled', filled_quantity: 5, fill_price: 50 }, 4));
      expect(late).toMatchObject({ changed: true, fill: { quantity: 2, price: 50 }, record: { status: 'canceled', filled_quantity: 5 } });
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 5, avg_price: 50 }], reserved: 0, pnl: 0 });
    });

    test('a fill without a usable price books nothing and says so', async () => {
      const { placed } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 });
      await s().applyOrderUpdate(reportOf(placed, { status: 'partially_filled', filled_quantity: 4, fill_price: 100 }, 2));
      const before = await allEvents(s());
      const unusable = await s().applyOrderUpdate(reportOf(placed, { status: 'partially_filled', filled_quantity: 6, fill_price: null }, 3));
      expect(unusable).toMatchObject({ changed: false, fill: null, unusable_fill: true, record: { status: 'partially_filled', filled_quantity: 4 } });
      expect(await allEvents(s())).toEqual(before);
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 600, pnl: 0 });
      // Ending that way does not end it: the fill would be lost; it stays open and reserved.
      const ended = await s().applyOrderUpdate(reportOf(placed, { status: 'filled', filled_quantity: 10, fill_price: null }, 4));
      expect(ended).toMatchObject({ changed: false, fill: null, unusable_fill: true, record: { status: 'partially_filled', filled_quantity: 4 } });
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 4, avg_price: 100 }], reserved: 600, pnl: 0 });
      // A usable report books the rest and ends it.
      const priced = await s().applyOrderUpdate(reportOf(placed, { status: 'filled', filled_quantity: 10, fill_price: 100 }, 5));
      expect(priced).toMatchObject({ changed: true, fill: { quantity: 6, price: 100 }, record: { status: 'filled', filled_quantity: 10 } });
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 10, avg_price: 100 }], reserved: 0, pnl: 0 });
    });

    test('a losing fill reported later that breaches max_daily_loss switches to exit_only, once', async () => {
      await executeFill(s(), { side: 'buy', quantity: 20, price: 100 }, { instrument: 'AAPL' });
      const first = await placeOpen(s(), { instrument: 'AAPL', side: 'sell', quantity: 10, price: 100 });
      const second = await placeOpen(s(), { instrument: 'AAPL', side: 'sell', quantity: 10, price: 100 });
      const small = await s().applyOrderUpdate(reportOf(first.placed, { status: 'partially_filled', filled_quantity: 2, fill_price: 90 }, 2, 50));
      expect(small).toMatchObject({ fill: { quantity: 2, price: 90, realized_pnl: -20 }, mode_changed: null });
      const trip = await s().applyOrderUpdate(reportOf(first.placed, { status: 'filled', filled_quantity: 10, fill_price: 90 }, 3, 50));
      expect(trip).toMatchObject({ fill: { quantity: 8, price: 90, realized_pnl: -80 } });
      expect(trip.mode_changed).toMatchObject({ mode: 'exit_only', reason: 'daily_loss' });
      expect((await s().getMode()).mode).toBe('exit_only');
      const more = await s().applyOrderUpdate(reportOf(second.placed, { status: 'filled', filled_quantity: 10, fill_price: 90 }, 4, 50));
      expect(more).toMatchObject({ fill: { realized_pnl: -100 }, mode_changed: null });
      expect(await ledger()).toEqual({ positions: [], reserved: 0, pnl: -200 });
      const types = (await allEvents(s())).map((e) => e.type);
      expect(types.filter((t) => t === 'mode.changed')).toHaveLength(1);
      expect(types.slice(-3)).toEqual(['order.filled', 'mode.changed', 'order.filled']);
    });

    test('a report about an order sluice does not have, or of another connector, writes nothing', async () => {
      const { placed } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 });
      const before = await allEvents(s());
      const stranger: Order = { ...placed, client_order_id: 'tv-unknown', status: 'filled', filled_quantity: 10, fill_price: 100 };
      expect(await s().applyOrderUpdate(reportOf(stranger, {}, 2))).toEqual({ record: null, changed: false, fill: null, unusable_fill: false, mode_changed: null });
      const elsewhere = { ...reportOf(placed, { status: 'filled', filled_quantity: 10, fill_price: 100 }, 2), connector: 'alpaca' };
      expect(await s().applyOrderUpdate(elsewhere)).toEqual({ record: null, changed: false, fill: null, unusable_fill: false, mode_changed: null });
      expect(await allEvents(s())).toEqual(before);
      expect(await ledger()).toEqual({ positions: [], reserved: 1000, pnl: 0 });
      expect(must((await s().openOrders())[0], 'the open order').status).toBe('new');
    });

    test('the same fill report applied concurrently is booked once', async () => {
      const { placed } = await placeOpen(s(), { instrument: 'AAPL', quantity: 10, price: 100 });
      const report = reportOf(placed, { status: 'filled', filled_quantity: 10, fill_price: 100 }, 2);
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => s().applyOrderUpdate(report)));
      expect(outcomes.filter((o) => o.changed)).toHaveLength(1);
      expect(outcomes.filter((o) => o.fill !== null)).toHaveLength(1);
      expect(await ledger()).toEqual({ positions: [{ instrument: 'AAPL', quantity: 10, avg_price: 100 }], reserved: 0, pnl: 0 });
      expect((await orderEvents()).map((e) => e.type)).toEqual(['order.new', 'order.filled']);
    });
  });
}
