/** Runtime state: mode, breakers, nonces, cursors. */
import { describe, expect, test } from 'vitest';
import { onFailure, onSuccess, resetBreaker, tripBreaker, type BreakerState } from '../../../src/domain/breaker.js';
import { verifyAuditChain } from '../../../src/ops/audit.js';
import { gateInput, T0, at, allow, newSignal, record, allEvents, type ContractContext } from './helpers.js';

export function runtimeContract({ s, raw, setClock }: ContractContext): void {
  describe('mode', () => {
    test('a fresh store is enabled', async () => {
      expect((await s().getMode()).mode).toBe('enabled');
    });

    test('initMode writes only when no mode is stored', async () => {
      const first = await s().initMode('exit_only', T0);
      expect(first.mode).toBe('exit_only');
      expect(first.changed_at).toBe(T0.toISOString());
      const second = await s().initMode('paused', at(60));
      expect(second).toEqual(first);
      expect(await s().getMode()).toEqual(first);
      const events = await allEvents(s());
      expect(events.map((e) => e.type)).toEqual(['mode.changed']);
      expect(events[0]?.data).toMatchObject({ from: null, to: 'exit_only' });
    });

    test('setMode stores the mode, and the same mode and reason again appends no event', async () => {
      const paused = await s().setMode('paused', 'maintenance', 'admin', at(10));
      expect(paused).toEqual({ mode: 'paused', reason: 'maintenance', changed_at: at(10).toISOString() });
      expect(await s().getMode()).toEqual(paused);

      const same = await s().setMode('paused', 'maintenance', 'admin', at(20));
      expect(same).toEqual(paused);
      expect((await allEvents(s())).length).toBe(1);

      const otherReason = await s().setMode('paused', 'still maintenance', 'admin', at(30));
      expect(otherReason.changed_at).toBe(at(30).toISOString());
      const enabled = await s().setMode('enabled', null, 'admin', at(40));
      expect(await s().getMode()).toEqual(enabled);

      // initMode never overrides a stored mode.
      expect(await s().initMode('exit_only', at(50))).toEqual(enabled);

      const events = await allEvents(s());
      expect(events.map((e) => e.type)).toEqual(['mode.changed', 'mode.changed', 'mode.changed']);
      expect(events.map((e) => e.data)).toEqual([
        { from: null, to: 'paused', reason: 'maintenance', actor: 'admin' },
        { from: 'paused', to: 'paused', reason: 'still maintenance', actor: 'admin' },
        { from: 'paused', to: 'enabled', reason: null, actor: 'admin' },
      ]);
      expect(events.every((e) => e.signal_id === null)).toBe(true);
    });
  });

  describe('breakers', () => {
    test('a fresh store has no stored breaker', async () => {
      expect(await s().getBreakers()).toEqual({});
    });

    test('updateBreaker reads, steps and stores one connector’s breaker; transitions are logged', async () => {
      const fail = (current: BreakerState) => onFailure(current, at(1), { failure_threshold: 2 });
      expect(await s().updateBreaker('alpaca', fail, at(1), 'timeout')).toEqual({ state: 'closed', consecutive_failures: 1 });
      const opened = await s().updateBreaker('alpaca', fail, at(1), 'timeout');
      expect(opened).toEqual({ state: 'open', consecutive_failures: 2, opened_at: at(1).toISOString() });
      expect(await s().getBreakers()).toEqual({ alpaca: opened });
      // An exit's success does not close an open breaker; a reset does.
      expect(await s().updateBreaker('alpaca', (c) => onSuccess(c, at(2)), at(2), 'exit filled')).toEqual(opened);
      expect(await s().updateBreaker('alpaca', (c) => resetBreaker(c), at(3), 'operator')).toEqual({ state: 'closed', consecutive_failures: 0 });
      await s().updateBreaker('mock', (c) => tripBreaker(c, at(4)), at(4), 'account blocked');

      expect(await s().getBreakers()).toEqual({
        alpaca: { state: 'closed', consecutive_failures: 0 },
        mock: { state: 'open', consecutive_failures: 0, opened_at: at(4).toISOString() },
      });
      const events = await allEvents(s());
      expect(events.map((e) => [e.type, e.data.connector, e.data.reason])).toEqual([
        ['breaker.opened', 'alpaca', 'timeout'],
        ['breaker.closed', 'alpaca', 'operator'],
        ['breaker.opened', 'mock', 'account blocked'],
      ]);
      expect(await verifyAuditChain(s())).toMatchObject({ ok: true, entries: 3 });
    });

    test('20 concurrent failures are all counted (read-modify-write is atomic)', async () => {
      await Promise.all(Array.from({ length: 20 }, () => s().updateBreaker('mock', (c) => onFailure(c, T0, { failure_threshold: 100 }), T0, 'timeout')));
      expect((await s().getBreakers()).mock).toEqual({ state: 'closed', consecutive_failures: 20 });
    });

    test('the gate sees the stored breaker and stores the step its decision returns, in order', async () => {
      const opened = await s().updateBreaker('mock', (c) => tripBreaker(c, T0), T0, 'blocked');
      const rec = await record(s());
      const probe: BreakerState = { state: 'half_open', consecutive_failures: 0, opened_at: T0.toISOString(), probe_started_at: at(60).toISOString() };
      const seen: BreakerState[] = [];
      const outcome = await s().gateSignal({
        ...gateInput(rec, allow(), at(60)),
        decide: (_state, breaker) => {
          seen.push(breaker);
          return { decision: allow(), breaker: { next: probe, transition: 'half_opened' } };
        },
      });
      expect(outcome.kind).toBe('executing');
      expect(seen).toEqual([opened]);
      expect((await s().getBreakers()).mock).toEqual(probe);
      expect((await allEvents(s())).map((e) => e.type)).toEqual(['breaker.opened', 'signal.accepted', 'breaker.half_opened', 'signal.executing']);
    });
  });

  describe('nonces', () => {
    test('nonceSeen: false until a signal is recorded with the nonce, then true until it expires; per source', async () => {
      expect(await s().nonceSeen('tv', 'nonce-1', T0)).toBe(false);
      await s().recordSignalWithNonce(newSignal({ source: 'tv' }), { nonce: 'nonce-1', expires_at: at(300) });
      expect(await s().nonceSeen('tv', 'nonce-1', at(10))).toBe(true);
      expect(await s().nonceSeen('tv', 'nonce-1', at(299))).toBe(true);
      expect(await s().nonceSeen('tv', 'nonce-1', at(300))).toBe(false);
      expect(await s().nonceSeen('internal', 'nonce-1', at(10))).toBe(false);
      expect(await s().nonceSeen('tv', 'nonce-2', at(10))).toBe(false);
    });
  });

  describe('cursors', () => {
    test('cursors: null until set, then the stored offset; lastEventSeq is the head', async () => {
      expect(await s().getCursor('alerts')).toBeNull();
      expect(await s().lastEventSeq()).toBe(0);
      await s().setCursor('alerts', 5);
      expect(await s().getCursor('alerts')).toBe(5);
      await s().setCursor('alerts', 7);
      expect(await s().getCursor('alerts')).toBe(7);
      expect(await s().getCursor('other')).toBeNull();
      // Cursors are not events.
      expect(await allEvents(s())).toEqual([]);
      for (let i = 0; i < 3; i += 1) await s().appendEvent({ type: 'probe', data: { i } });
      expect(await s().lastEventSeq()).toBe(3);
    });

    test('setCursor stamps the row with the store’s clock', async () => {
      setClock(at(42));
      await s().setCursor('alerts', 5);
      const [row] = await raw().query(`select updated_at from runtime_state where key = 'cursor:alerts'`);
      expect(Number(row?.updated_at)).toBe(at(42).getTime());
    });
  });
}
