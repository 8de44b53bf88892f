/** The ledger: counts, instruments, reconciliation. */
import { describe, expect, test } from 'vitest';
import { DAY, at, reject, gateInput, finishInput, order, record, recordExecuting, executeFill, allEvents, NOTIONAL_FAILURE, type ContractContext } from './helpers.js';

export function ledgerContract({ s }: ContractContext): void {
  describe('reconciliation', () => {
    test('positionVersions: each position’s version, moved forward by every write, even in one millisecond', async () => {
      expect(await s().positionVersions('mock')).toEqual({});
      await executeFill(s(), { side: 'buy', quantity: 3, price: 20 }, { instrument: 'TSLA' });
      const first = await s().positionVersions('mock');
      expect(Object.keys(first)).toEqual(['TSLA']);
      // finishInput books at the same time (at(1)) every time: the version still moves.
      await executeFill(s(), { side: 'buy', quantity: 1, price: 20 }, { instrument: 'TSLA' });
      const second = await s().positionVersions('mock');
      expect(second['TSLA']).toBeGreaterThan(first['TSLA'] ?? Infinity);
      expect(await s().positionVersions('alpaca')).toEqual({});
    });

    test('listInstruments lists what the connector traded or has in flight, sorted', async () => {
      await executeFill(s(), { side: 'buy', quantity: 3, price: 20 }, { instrument: 'TSLA' });
      await record(s(), { instrument: 'AAPL' });
      await recordExecuting(s(), { instrument: 'MSFT' });
      await record(s(), { instrument: 'MSFT' });
      const failed = await recordExecuting(s(), { instrument: 'NFLX' });
      await s().finishSignal(finishInput(failed, null));
      const rejected = await record(s(), { instrument: 'ZM' });
      await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));
      await record(s(), { instrument: 'GOOG', connector: 'alpaca' });

      expect(await s().listInstruments('mock')).toEqual(['AAPL', 'MSFT', 'TSLA']);
      expect(await s().listInstruments('alpaca')).toEqual(['GOOG']);
      expect(await s().listInstruments('http')).toEqual([]);

      // A fire-and-forget connector books no fill: its executed signals say what it traded.
      const forwarded = await recordExecuting(s(), { instrument: 'SPY', connector: 'http' });
      const taken = order({ client_order_id: forwarded.client_order_id, instrument: 'SPY', status: 'new', filled_quantity: 0, fill_price: null });
      await s().finishSignal(finishInput(forwarded, null, { status: 'executed', order: taken, track_order: false }));
      expect(await s().listInstruments('http')).toEqual(['SPY']);
    });

    test('reconcilePositions adopts the connector’s positions, returns the drift and logs it once', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      await executeFill(s(), { side: 'buy', quantity: 3, price: 20 }, { instrument: 'TSLA' });
      const reported = [
        { instrument: 'AAPL', quantity: 8, avg_price: 101 },
        { instrument: 'MSFT', quantity: -5, avg_price: 50 },
      ];
      const { drift, skipped } = await s().reconcilePositions('mock', reported, at(10), await s().positionVersions('mock'));
      expect(skipped).toEqual([]);
      expect(drift).toEqual([
        { instrument: 'AAPL', ledger: 10, connector: 8 },
        { instrument: 'MSFT', ledger: 0, connector: -5 },
        { instrument: 'TSLA', ledger: 3, connector: 0 },
      ]);
      const ledger = await s().getLedger('mock', DAY);
      expect(ledger.positions.map(({ instrument, quantity, avg_price }) => ({ instrument, quantity, avg_price }))).toEqual(reported);

      expect(await s().reconcilePositions('mock', reported, at(20), await s().positionVersions('mock'))).toEqual({ drift: [], skipped: [] });
      const drifts = (await allEvents(s())).filter((e) => e.type === 'positions.drift');
      expect(drifts.map((e) => e.data)).toEqual([{ connector: 'mock', drift }]);
    });

    test('an instrument with an order in flight is skipped; the others are adopted all the same', async () => {
      await executeFill(s(), { side: 'buy', quantity: 1, price: 100 }, { instrument: 'AAPL' });
      await recordExecuting(s(), { instrument: 'AAPL' });
      const seen = await s().positionVersions('mock');
      // The broker already filled the order in flight: AAPL would look like drift.
      const result = await s().reconcilePositions('mock', [{ instrument: 'AAPL', quantity: 11, avg_price: 100 }, { instrument: 'MSFT', quantity: 7, avg_price: 50 }], at(10), seen);
      expect(result).toEqual({ drift: [{ instrument: 'MSFT', ledger: 0, connector: 7 }], skipped: [{ instrument: 'AAPL', reason: 'in_flight' }] });
      const positions = (await s().getLedger('mock', DAY)).positions.map(({ instrument, quantity }) => ({ instrument, quantity }));
      expect(positions).toEqual([
        { instrument: 'AAPL', quantity: 1 },
        { instrument: 'MSFT', quantity: 7 },
      ]);
      expect((await allEvents(s())).filter((e) => e.type === 'positions.drift').map((e) => e.data)).toEqual([{ connector: 'mock', drift: result.drift }]);
    });

    test('a snapshot older than a fill booked while the connector was asked is not adopted for that instrument', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      const seen = await s().positionVersions('mock');
      // Asked now, the broker reports what it held before the fill booked next (and a new TSLA).
      const snapshot = [{ instrument: 'AAPL', quantity: 10, avg_price: 100 }, { instrument: 'TSLA', quantity: 2, avg_price: 20 }];
      await executeFill(s(), { side: 'buy', quantity: 5, price: 100 }, { instrument: 'AAPL' });
      // A position that appeared meanwhile counts as changed too.
      await executeFill(s(), { side: 'buy', quantity: 1, price: 30 }, { instrument: 'NVDA' });
      const result = await s().reconcilePositions('mock', snapshot, at(10), seen);
      expect(result).toEqual({
        drift: [{ instrument: 'TSLA', ledger: 0, connector: 2 }],
        skipped: [
          { instrument: 'AAPL', reason: 'changed' },
          { instrument: 'NVDA', reason: 'changed' },
        ],
      });
      const positions = (await s().getLedger('mock', DAY)).positions.map(({ instrument, quantity }) => ({ instrument, quantity }));
      expect(positions).toEqual([
        { instrument: 'AAPL', quantity: 15 },
        { instrument: 'NVDA', quantity: 1 },
        { instrument: 'TSLA', quantity: 2 },
      ]);
    });
  });
}
