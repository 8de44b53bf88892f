/** The gate: decisions, reservations, lanes, leases. */
import { describe, expect, test } from 'vitest';
import type { StoredGateState } from '../../../src/domain/gate-state.js';
import type { Decision } from '../../../src/domain/types.js';
import type { SignalRecord } from '../../../src/store/store.js';
import { T0, DAY, at, must, allow, reject, gateInput, finishInput, record, recordExecuting, executeFill, NOTIONAL_FAILURE, type ContractContext } from './helpers.js';

export function gateContract({ s }: ContractContext): void {
  describe('gateSignal', () => {
    test('accepted → executing stores the decision and reserves its notional', async () => {
      const rec = await record(s());
      const decision = allow({ reserved_notional: 1000 });
      const seen: StoredGateState[] = [];
      const outcome = await s().gateSignal(
        gateInput(
          rec,
          (state) => {
            seen.push(state);
            return decision;
          },
          at(2),
        ),
      );
      if (outcome.kind !== 'executing') throw new Error(`expected executing, got ${outcome.kind}`);
      expect(outcome.decision).toEqual(decision);
      expect(outcome.record.status).toBe('executing');
      expect(outcome.record.decision).toEqual(decision);
      expect(outcome.record.updated_at).toBe(at(2).toISOString());
      expect(seen).toHaveLength(1);
      expect(seen[0]?.reserved_exposure).toBe(0);

      const stored = must(await s().getSignal(rec.signal_id), 'the stored signal');
      expect(stored.status).toBe('executing');
      expect(stored.decision).toEqual(decision);
      const ledger = await s().getLedger('mock', DAY);
      expect(ledger.reserved_exposure).toBe(1000);
      expect(ledger.positions).toEqual([]);
      expect((await s().getLedger('other', DAY)).reserved_exposure).toBe(0);
    });

    test('an allowed decision with nothing to reserve reserves nothing', async () => {
      const rec = await record(s(), { signal: { action: 'cancel' } });
      const outcome = await s().gateSignal(gateInput(rec, allow({ quantity: null, side: null, exit: true, reserved_notional: 0 })));
      expect(outcome.kind).toBe('executing');
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(0);
    });

    test('accepted → rejected stores the failures and reserves nothing', async () => {
      const rec = await record(s());
      const decision = reject([NOTIONAL_FAILURE, { rule: 'mode', code: 'paused', limit: 'enabled', actual: 'paused', message: 'paused' }]);
      const outcome = await s().gateSignal(gateInput(rec, decision));
      if (outcome.kind !== 'rejected') throw new Error(`expected rejected, got ${outcome.kind}`);
      expect(outcome.record.status).toBe('rejected');
      expect(outcome.decision.failures).toEqual(decision.failures);
      const stored = must(await s().getSignal(rec.signal_id), 'the stored signal');
      expect(stored.status).toBe('rejected');
      expect(stored.decision).toEqual(decision);
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(0);
    });

    test('a signal that is not accepted any more is skipped and keeps its first decision', async () => {
      const rec = await record(s());
      const first = allow({ reserved_notional: 1000 });
      expect((await s().gateSignal(gateInput(rec, first))).kind).toBe('executing');
      let called = false;
      const second = await s().gateSignal(
        gateInput(rec, () => {
          called = true;
          return allow({ reserved_notional: 5000 });
        }),
      );
      expect(second).toEqual({ kind: 'skipped' });
      expect(called).toBe(false);
      expect((await s().getSignal(rec.signal_id))?.decision).toEqual(first);
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);

      const rejected = await record(s());
      await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));
      expect(await s().gateSignal(gateInput(rejected, allow()))).toEqual({ kind: 'skipped' });
      expect((await s().getSignal(rejected.signal_id))?.status).toBe('rejected');

      expect(await s().gateSignal(gateInput({ signal_id: 'sig_missing', connector: 'mock', instrument: 'AAPL' }, allow()))).toEqual({ kind: 'skipped' });
    });

    test('the same signal gated concurrently twice is decided once', async () => {
      const rec = await record(s());
      const outcomes = await Promise.all([s().gateSignal(gateInput(rec, allow())), s().gateSignal(gateInput(rec, allow()))]);
      expect(outcomes.map((o) => o.kind).sort()).toEqual(['executing', 'skipped']);
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);
      expect((await s().listSignalEvents(rec.signal_id)).map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing']);
    });

    test('20 concurrent gates under a 1000 exposure cap allow exactly 10 (read + reserve is atomic)', async () => {
      const records: SignalRecord[] = [];
      // Twenty lanes: gated all at once, younger signals of a shared lane would be `blocked`.
      for (let i = 0; i < 20; i += 1) records.push(await record(s()));
      const cap = (state: StoredGateState): Decision =>
        state.reserved_exposure + 100 <= 1000
          ? allow({ quantity: 1, reserved_notional: 100 })
          : reject([{ rule: 'max_gross_exposure', limit: 1000, actual: state.reserved_exposure + 100, message: 'over the cap' }]);
      const outcomes = await Promise.all(records.map((r) => s().gateSignal(gateInput(r, cap))));
      expect(outcomes.filter((o) => o.kind === 'executing')).toHaveLength(10);
      const rejected = outcomes.filter((o) => o.kind === 'rejected');
      expect(rejected).toHaveLength(10);
      // Every refused gate saw the full 1000 already reserved by the ten that passed.
      for (const o of rejected) {
        if (o.kind === 'rejected') expect(o.decision.failures[0]?.actual).toBe(1100);
      }
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);
      expect((await s().listSignals({ status: 'executing', limit: 100 })).items).toHaveLength(10);
    });

    test('the decide callback reads the stored state: mode, position, prices, exposure, reservations, PnL, order rate', async () => {
      await s().setMode('exit_only', 'test', 'tester', T0);
      // The signal read for arrived first and failed; an operator retries it once the others
      // are in flight (a lane holds two orders in flight only through such retries).
      const probe = await recordExecuting(s(), { instrument: 'AAPL' }, allow(), at(-300));
      await s().finishSignal(finishInput(probe, null));
      // Decided two minutes ago: outside the order-rate window.
      await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' }, at(-120));
      await executeFill(s(), { side: 'sell', quantity: 4, price: 110 }, { instrument: 'AAPL' });
      // An exit reserves no notional but is still pending quantity. It failed once and was
      // retried after a younger buy was decided, so both are in flight.
      const exitDecision = allow({ side: 'sell', quantity: 2, exit: true, reserved_notional: 0 });
      const exit = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 2 } }, exitDecision);
      await s().finishSignal(finishInput(exit, null));
      await recordExecuting(s(), { instrument: 'AAPL' }, allow({ quantity: 3, reserved_notional: 300 }));
      must(await s().retrySignal(exit.signal_id, 'admin', T0), 'the retried exit');
      expect((await s().gateSignal(gateInput(exit, exitDecision))).kind).toBe('executing');
      await recordExecuting(s(), { instrument: 'MSFT' }, allow({ quantity: 5, reserved_notional: 500 }));
      await s().gateSignal(gateInput(await record(s()), reject([NOTIONAL_FAILURE])));

      must(await s().retrySignal(probe.signal_id, 'admin', T0), 'the retried probe');
      let seen: StoredGateState | null = null;
      await s().gateSignal(
        gateInput(
          probe,
          (state) => {
            seen = state;
            return reject([NOTIONAL_FAILURE]);
          },
          at(1),
        ),
      );
      const expected: Partial<StoredGateState> = {
        mode: 'exit_only',
        position: 6,
        // +3 bought, -2 sold, both decided and unsettled.
        pending_quantity: 1,
        last_price: 110,
        gross_exposure: 660,
        reserved_exposure: 800,
        reserved_instrument: 300,
        realized_pnl_today: 40,
        // The sell of 4 and the three unsettled orders; not the old buy, not the rejection.
        orders_last_minute: 4,
      };
      expect(seen).toMatchObject(expected);

      // The count is bounded: one past the cap at most, and nothing counted without a cap.
      const counted = async (cap: number | null): Promise<number> => {
        let n = -1;
        await s().gateSignal({
          ...gateInput(await record(s(), { instrument: 'ORCL' }), reject([NOTIONAL_FAILURE]), at(1)),
          order_rate_cap: cap,
          decide: (state) => {
            n = state.orders_last_minute;
            return { decision: reject([NOTIONAL_FAILURE]), breaker: null };
          },
        });
        return n;
      };
      expect(await counted(2)).toBe(3);
      expect(await counted(10)).toBe(4);
      expect(await counted(null)).toBe(0);
    });

    test('a younger signal is blocked while an older one of its lane is accepted; other lanes are not', async () => {
      const older = await record(s(), { instrument: 'AAPL' });
      const younger = await record(s(), { instrument: 'AAPL' });
      const otherInstrument = await record(s(), { instrument: 'MSFT' });
      const otherConnector = await record(s(), { instrument: 'AAPL', connector: 'alpaca' });

      let called = false;
      const blocked = await s().gateSignal(
        gateInput(younger, () => {
          called = true;
          return allow();
        }),
      );
      expect(blocked).toEqual({ kind: 'blocked', by: older.signal_id });
      // Blocked decides nothing and writes nothing.
      expect(called).toBe(false);
      expect(await s().getSignal(younger.signal_id)).toEqual(younger);
      expect((await s().listSignalEvents(younger.signal_id)).map((e) => e.type)).toEqual(['signal.accepted']);
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(0);

      // Another instrument of the connector, and the same instrument at another connector, are other lanes.
      expect((await s().gateSignal(gateInput(otherInstrument, allow()))).kind).toBe('executing');
      expect((await s().gateSignal(gateInput(otherConnector, allow()))).kind).toBe('executing');

      // Decided, the older one still blocks while its order is in flight; finished, it does not.
      const executing = await s().gateSignal(gateInput(older, allow()));
      if (executing.kind !== 'executing') throw new Error(`expected executing, got ${executing.kind}`);
      expect(await s().gateSignal(gateInput(younger, allow()))).toEqual({ kind: 'blocked', by: older.signal_id });
      expect((await s().listSignalEvents(younger.signal_id)).map((e) => e.type)).toEqual(['signal.accepted']);
      await s().finishSignal(finishInput(executing.record, { side: 'buy', quantity: 10, price: 100 }));
      expect((await s().gateSignal(gateInput(younger, allow()))).kind).toBe('executing');
    });


    test('the oldest accepted or executing signal of the lane is the one that blocks', async () => {
      const first = await record(s(), { instrument: 'AAPL' });
      const second = await record(s(), { instrument: 'AAPL' });
      const third = await record(s(), { instrument: 'AAPL' });
      expect(await s().gateSignal(gateInput(third, allow()))).toEqual({ kind: 'blocked', by: first.signal_id });
      // A rejected signal does not block any more; the next accepted one does.
      expect((await s().gateSignal(gateInput(first, reject([NOTIONAL_FAILURE])))).kind).toBe('rejected');
      expect(await s().gateSignal(gateInput(third, allow()))).toEqual({ kind: 'blocked', by: second.signal_id });
      // Executing, it still blocks (its order is in flight); finished, it does not.
      const executing = await s().gateSignal(gateInput(second, allow()));
      if (executing.kind !== 'executing') throw new Error(`expected executing, got ${executing.kind}`);
      expect(await s().gateSignal(gateInput(third, allow()))).toEqual({ kind: 'blocked', by: second.signal_id });
      await s().finishSignal(finishInput(executing.record, null));
      expect((await s().gateSignal(gateInput(third, allow()))).kind).toBe('executing');
    });
    test('blocked names the OLDEST older accepted signal of the lane (by arrival), even one re-accepted last', async () => {
      // The oldest signal of the lane fails and is retried: its row is the one written last,
      // yet it arrived first, so it is the one every younger signal of the lane waits for.
      const oldest = await recordExecuting(s(), { instrument: 'LANE' });
      await s().finishSignal(finishInput(oldest, null));
      const middle = await record(s(), { instrument: 'LANE' });
      const next = await record(s(), { instrument: 'LANE' });
      must(await s().retrySignal(oldest.signal_id, 'admin', at(5)), 'the retried signal');
      const youngest = await record(s(), { instrument: 'LANE' });
      for (const waiting of [youngest, next, middle]) {
        expect(await s().gateSignal(gateInput(waiting, allow())), waiting.signal_id).toEqual({ kind: 'blocked', by: oldest.signal_id });
      }
      expect((await s().gateSignal(gateInput(oldest, reject([NOTIONAL_FAILURE])))).kind).toBe('rejected');
      expect(await s().gateSignal(gateInput(youngest, allow()))).toEqual({ kind: 'blocked', by: middle.signal_id });
    });
  });


  describe('leases', () => {
    test('the gate leases an executing signal to its owner; renewLeases extends only the owner’s executing signals', async () => {
      const mine = await recordExecuting(s());
      const theirs = await record(s());
      expect((await s().gateSignal({ ...gateInput(theirs, allow()), owner: 'other-owner' })).kind).toBe('executing');
      const waiting = await record(s());
      const rejected = await record(s());
      await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));

      const ids = [mine.signal_id, theirs.signal_id, waiting.signal_id, rejected.signal_id, 'sig_missing'];
      expect(await s().renewLeases('test-owner', ids, at(300))).toBe(1);
      expect(await s().renewLeases('test-owner', [], at(300))).toBe(0);
      expect(await s().renewLeases('nobody', ids, at(300))).toBe(0);

      // Both leases ran to T0+30; only `mine` was extended, so only `theirs` has expired at T0+60.
      const claimed = await s().claimExpired('rescuer', at(60), at(400), 10);
      expect(claimed.map((r) => r.signal_id)).toEqual([theirs.signal_id]);
      expect(claimed[0]?.status).toBe('executing');
    });

    test('claimExpired takes only expired leases, oldest first, bounded by limit, and makes them the claimer’s', async () => {
      const a = await recordExecuting(s(), {}, allow(), T0); // lease until T0+30
      const b = await recordExecuting(s(), {}, allow(), at(10)); // until T0+40
      const c = await recordExecuting(s(), {}, allow(), at(100)); // until T0+130
      await record(s()); // accepted: no lease

      // A lease is expired strictly after its time.
      expect(await s().claimExpired('r1', at(30), at(500), 10)).toEqual([]);
      const first = await s().claimExpired('r1', at(60), at(500), 1);
      expect(first.map((r) => r.signal_id)).toEqual([a.signal_id]);
      expect(first[0]).toEqual(a);
      expect((await s().claimExpired('r2', at(60), at(500), 10)).map((r) => r.signal_id)).toEqual([b.signal_id]);
      expect(await s().claimExpired('r3', at(60), at(500), 10)).toEqual([]);

      // The claimed lease is the claimer's now: the old owner cannot renew it, the new one can.
      expect(await s().renewLeases('test-owner', [a.signal_id, b.signal_id, c.signal_id], at(600))).toBe(1);
      expect(await s().renewLeases('r1', [a.signal_id, b.signal_id], at(600))).toBe(1);
      expect(await s().renewLeases('r2', [b.signal_id], at(600))).toBe(1);
      expect(await s().claimExpired('r3', at(550), at(900), 10)).toEqual([]);
    });

    test('5 concurrent claimers take every expired signal exactly once', async () => {
      const expired: string[] = [];
      for (let i = 0; i < 10; i += 1) expired.push((await recordExecuting(s())).signal_id);
      const claims = await Promise.all(Array.from({ length: 5 }, (_, i) => s().claimExpired(`claimer-${i}`, at(60), at(600), 4)));
      const ids = claims.flat().map((r) => r.signal_id);
      expect(ids).toHaveLength(10);
      expect([...ids].sort()).toEqual([...expired].sort());
      // Each claimer got its own in seq order.
      for (const claim of claims) {
        const order = claim.map((r) => expired.indexOf(r.signal_id));
        expect(order).toEqual([...order].sort((x, y) => x - y));
      }
    });

    test('finishing a signal clears its lease', async () => {
      const rec = await recordExecuting(s());
      await s().finishSignal(finishInput(rec, null));
      expect(await s().renewLeases('test-owner', [rec.signal_id], at(100))).toBe(0);
      expect(await s().claimExpired('rescuer', at(10_000), at(20_000), 10)).toEqual([]);
    });
  });
}
