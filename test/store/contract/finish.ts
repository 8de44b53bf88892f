/** Attempts and the finish that books the fill. */
import { describe, expect, test } from 'vitest';
import type { Fill } from '../../../src/store/store.js';
import { T0, DAY, at, allow, result, finishInput, recordExecuting, executeFill, allEvents, type ContractContext } from './helpers.js';

export function finishContract({ s }: ContractContext): void {
  describe('attempts', () => {
    test('listAttempts returns the signal’s attempts in order with their fields', async () => {
      const rec = await recordExecuting(s());
      const other = await recordExecuting(s());
      await s().recordAttempt(rec.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'timeout', error: 'timed out after 10000 ms' });
      await s().recordAttempt(other.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'filled', error: null });
      await s().recordAttempt(rec.signal_id, { n: 2, at: at(2).toISOString(), outcome: 'http_503', error: 'service unavailable' });
      await s().recordAttempt(rec.signal_id, { n: 3, at: at(4).toISOString(), outcome: 'filled', error: null });

      expect(await s().listAttempts(rec.signal_id)).toEqual([
        { n: 1, at: at(1).toISOString(), outcome: 'timeout', error: 'timed out after 10000 ms' },
        { n: 2, at: at(2).toISOString(), outcome: 'http_503', error: 'service unavailable' },
        { n: 3, at: at(4).toISOString(), outcome: 'filled', error: null },
      ]);
      expect(await s().listAttempts(other.signal_id)).toEqual([{ n: 1, at: at(1).toISOString(), outcome: 'filled', error: null }]);
      expect(await s().listAttempts('sig_missing')).toEqual([]);
    });
    const badTimes = [
      { name: 'not a time', at: 'not a time' },
      { name: 'empty', at: '' },
      { name: 'a date without a time', at: '2026-11-23' },
      { name: 'a time without an offset', at: '2026-11-23T15:00:00' },
      { name: 'an impossible date', at: '2026-13-45T15:00:00.000Z' },
    ];
    for (const c of badTimes) {
      test(`an attempt whose time is ${c.name} is refused and writes nothing`, async () => {
        const rec = await recordExecuting(s());
        const before = await allEvents(s());
        await expect(s().recordAttempt(rec.signal_id, { n: 1, at: c.at, outcome: 'filled', error: null })).rejects.toThrow(RangeError);
        // The same check when the attempt settles the signal: the whole finish is refused.
        await expect(s().finishSignal(finishInput(rec, { side: 'buy', quantity: 10, price: 100 }, { attempt: { n: 1, at: c.at, outcome: 'filled', error: null } }))).rejects.toThrow(RangeError);
        expect(await s().listAttempts(rec.signal_id)).toEqual([]);
        expect(await allEvents(s())).toEqual(before);
        expect((await s().getSignal(rec.signal_id))?.status).toBe('executing');
        expect((await s().getLedger('mock', DAY)).positions).toEqual([]);
      });
    }

    test('an attempt at a time with an offset is stored at that instant', async () => {
      const rec = await recordExecuting(s());
      await s().recordAttempt(rec.signal_id, { n: 1, at: '2026-11-23T16:00:01.500+01:00', outcome: 'filled', error: null });
      expect(await s().listAttempts(rec.signal_id)).toEqual([{ n: 1, at: at(1.5).toISOString(), outcome: 'filled', error: null }]);
    });
  });


  describe('finishSignal', () => {
    test('executed with a fill books the position and releases the reservation', async () => {
      const rec = await recordExecuting(s(), { instrument: 'AAPL' }, allow({ reserved_notional: 1000 }));
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);
      const fill: Fill = { side: 'buy', quantity: 10, price: 100 };
      const res = result(rec, fill);
      const outcome = await s().finishSignal(finishInput(rec, fill, { now: at(3) }));
      expect(outcome.realized_pnl_today).toBe(0);
      expect(outcome.record.status).toBe('executed');
      expect(outcome.record.result).toEqual(res);
      expect(outcome.record.updated_at).toBe(at(3).toISOString());
      expect((await s().getSignal(rec.signal_id))?.result).toEqual(res);
      expect(await s().getLedger('mock', DAY)).toEqual({
        positions: [{ instrument: 'AAPL', quantity: 10, avg_price: 100, last_price: 100 }],
        gross_exposure: 1000,
        reserved_exposure: 0,
        realized_pnl_today: 0,
      });
    });

    test('adding moves the average price; a reducing fill realizes PnL against it', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      await executeFill(s(), { side: 'buy', quantity: 10, price: 120 }, { instrument: 'AAPL' });
      let ledger = await s().getLedger('mock', DAY);
      expect(ledger.positions).toEqual([{ instrument: 'AAPL', quantity: 20, avg_price: 110, last_price: 120 }]);

      const sell = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 4 } }, allow({ side: 'sell', quantity: 4, exit: true, reserved_notional: 0 }));
      const outcome = await s().finishSignal(finishInput(sell, { side: 'sell', quantity: 4, price: 130 }));
      expect(outcome.realized_pnl_today).toBe(80);
      ledger = await s().getLedger('mock', DAY);
      expect(ledger.positions).toEqual([{ instrument: 'AAPL', quantity: 16, avg_price: 110, last_price: 130 }]);
      expect(ledger.realized_pnl_today).toBe(80);
      expect(ledger.gross_exposure).toBe(16 * 130);
      // Realized PnL belongs to its trading day.
      expect((await s().getLedger('mock', '2026-11-24')).realized_pnl_today).toBe(0);
      // Positions are per connector.
      expect((await s().getLedger('alpaca', DAY)).positions).toEqual([]);
    });

    test('closing the whole position realizes PnL and leaves no position', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      await executeFill(s(), { side: 'sell', quantity: 10, price: 95 }, { instrument: 'AAPL' });
      const ledger = await s().getLedger('mock', DAY);
      expect(ledger.positions).toEqual([]);
      expect(ledger.gross_exposure).toBe(0);
      expect(ledger.realized_pnl_today).toBe(-50);
    });

    test('a losing fill that breaches max_daily_loss switches the mode in the same step, once', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      const sell = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 10 } }, allow({ side: 'sell', quantity: 10, exit: true, reserved_notional: 0 }));
      const outcome = await s().finishSignal(finishInput(sell, { side: 'sell', quantity: 10, price: 90 }, { max_daily_loss: 50 }));
      expect(outcome.realized_pnl_today).toBe(-100);
      expect(outcome.mode_changed).toMatchObject({ mode: 'exit_only', reason: 'daily_loss' });
      expect((await s().getMode()).mode).toBe('exit_only');
      const types = (await allEvents(s())).map((e) => e.type);
      expect(types.slice(-3)).toEqual(['signal.executed', 'order.filled', 'mode.changed']);
    });

    test('the daily-loss switch leaves a mode other than enabled alone, and a gain never switches', async () => {
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
      await s().setMode('paused', 'operator', 'admin', at(1));
      const sell = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 5 } }, allow({ side: 'sell', quantity: 5, exit: true, reserved_notional: 0 }));
      const loss = await s().finishSignal(finishInput(sell, { side: 'sell', quantity: 5, price: 80 }, { max_daily_loss: 10 }));
      expect(loss.mode_changed).toBeNull();
      expect((await s().getMode()).mode).toBe('paused');
      await s().setMode('enabled', 'operator', 'admin', at(2));
      const gain = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 5 } }, allow({ side: 'sell', quantity: 5, exit: true, reserved_notional: 0 }));
      const won = await s().finishSignal(finishInput(gain, { side: 'sell', quantity: 5, price: 101 }, { max_daily_loss: 10 }));
      expect(won.realized_pnl_today).toBe(-95);
      expect(won.mode_changed).toBeNull();
      expect((await s().getMode()).mode).toBe('enabled');
    });

    test('failed without a fill books nothing and releases the reservation', async () => {
      const rec = await recordExecuting(s(), {}, allow({ reserved_notional: 1000 }));
      const outcome = await s().finishSignal(finishInput(rec, null, { result: result(rec, null, { error: 'insufficient buying power' }) }));
      expect(outcome.record.status).toBe('failed');
      expect(outcome.record.result?.error).toBe('insufficient buying power');
      expect(await s().getLedger('mock', DAY)).toEqual({ positions: [], gross_exposure: 0, reserved_exposure: 0, realized_pnl_today: 0 });
    });

    test('a second finish is a no-op that returns the first result', async () => {
      const rec = await recordExecuting(s(), { instrument: 'AAPL' });
      const fill: Fill = { side: 'buy', quantity: 10, price: 100 };
      const first = await s().finishSignal(finishInput(rec, fill));
      const second = await s().finishSignal(
        finishInput(rec, { side: 'buy', quantity: 5, price: 90 }, { status: 'failed', now: at(9) }),
      );
      expect(second.record).toEqual(first.record);
      expect(second.record.status).toBe('executed');
      expect(second.record.result).toEqual(result(rec, fill));
      expect((await s().getLedger('mock', DAY)).positions).toEqual([{ instrument: 'AAPL', quantity: 10, avg_price: 100, last_price: 100 }]);
      expect((await s().listSignalEvents(rec.signal_id)).map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing', 'signal.executed', 'order.filled']);
    });

    test('finishing an unknown signal throws and writes nothing', async () => {
      await expect(
        s().finishSignal({ signal_id: 'sig_missing', status: 'executed', result: result({ connector: 'mock', client_order_id: 'x' }, null), order: null, track_order: true, now: T0, trading_day: DAY, max_daily_loss: null }),
      ).rejects.toThrow();
      expect(await allEvents(s())).toEqual([]);
    });
  });
}
