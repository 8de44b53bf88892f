/** The ledger: counts, instruments, reconciliation. */
import { describe, expect, test } from 'vitest';
import { DAY, at, reject, gateInput, finishInput, record, recordExecuting, executeFill, allEvents, NOTIONAL_FAILURE, type ContractContext } from './helpers.js';

export function ledgerContract({ s }: ContractContext): void {
  describe('reconciliation', () => {
    test('countExecuting counts the connector’s signals in executing only', async () => {
      await recordExecuting(s());
      await recordExecuting(s());
      await recordExecuting(s(), { connector: 'alpaca' });
      await record(s());
      const done = await recordExecuting(s());
      await s().finishSignal(finishInput(done, null));
      expect(await s().countExecuting('mock')).toBe(2);
      expect(await s().countExecuting('alpaca')).toBe(1);
      expect(await s().countExecuting('http')).toBe(0);
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
    });

    test('reconcilePositions adopts the connector’s positions, returns the drift and logs it once', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      await executeFill(s(), { side: 'buy', quantity: 3, price: 20 }, { instrument: 'TSLA' });
      const reported = [
        { instrument: 'AAPL', quantity: 8, avg_price: 101 },
        { instrument: 'MSFT', quantity: -5, avg_price: 50 },
      ];
      const drift = await s().reconcilePositions('mock', reported, at(10));
      expect(drift).toEqual([
        { instrument: 'AAPL', ledger: 10, connector: 8 },
        { instrument: 'MSFT', ledger: 0, connector: -5 },
        { instrument: 'TSLA', ledger: 3, connector: 0 },
      ]);
      const ledger = await s().getLedger('mock', DAY);
      expect(ledger.positions.map(({ instrument, quantity, avg_price }) => ({ instrument, quantity, avg_price }))).toEqual(reported);

      expect(await s().reconcilePositions('mock', reported, at(20))).toEqual([]);
      const drifts = (await allEvents(s())).filter((e) => e.type === 'positions.drift');
      expect(drifts.map((e) => e.data)).toEqual([{ connector: 'mock', drift }]);
    });
  });
}
