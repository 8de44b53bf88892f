/** Which event each step appends, with what data and at what time: table tests, no database. */
import { describe, expect, test } from 'vitest';
import * as build from '../../../src/store/plans/events.js';
import type { NewSignal } from '../../../src/store/store.js';

const NOW = new Date('2026-11-23T15:00:00.000Z');
const decision = { allowed: true, failures: [], quantity: 1, side: 'buy' as const, exit: false, trimmed: false, reserved_notional: 1, reference_price: 1 };
const result = { connector: 'mock', client_order_id: 'c', order_id: null, status: 'rejected', filled_quantity: 0, fill_price: null };
const signal: NewSignal = {
  signal_id: 'sig_1',
  source: 'tv',
  idempotency_key: 'k',
  key_kind: 'explicit',
  window_ms: 1,
  fingerprint: 'f',
  connector: 'mock',
  instrument: 'AAPL',
  client_order_id: 'c',
  signal: { action: 'close', instrument: 'AAPL', order_type: 'market', time_in_force: 'day', meta: {} },
  request_id: 'r',
  received_at: NOW,
};

describe('event builders', () => {
  const cases: Array<{ name: string; got: build.TimedEvent | null; type: string | null; signal_id?: string | null; data?: object; at?: Date }> = [
    { name: 'accepted: source, key, instrument, action; at receipt', got: build.signalAccepted(signal), type: 'signal.accepted', signal_id: 'sig_1', data: { source: 'tv', idempotency_key: 'k', instrument: 'AAPL', action: 'close' }, at: NOW },
    { name: 'gated and allowed: executing with the decision', got: build.signalGated('sig_1', decision, NOW), type: 'signal.executing', signal_id: 'sig_1', data: { decision }, at: NOW },
    { name: 'gated and refused: rejected with the decision', got: build.signalGated('sig_1', { ...decision, allowed: false }, NOW), type: 'signal.rejected', signal_id: 'sig_1', data: { decision: { ...decision, allowed: false } }, at: NOW },
    { name: 'an attempt: at its own time', got: build.signalAttempt('sig_1', { n: 1, at: '2026-11-23T15:00:02.000Z', outcome: 'x', error: 'e' }), type: 'signal.attempt', signal_id: 'sig_1', data: { n: 1, at: '2026-11-23T15:00:02.000Z', outcome: 'x', error: 'e' }, at: new Date('2026-11-23T15:00:02.000Z') },
    { name: 'appended on its own, with a time: at that time', got: build.appendedEvent({ type: 'degraded.entered', data: { component: 'database' } }, new Date('2026-11-23T14:00:00.000Z'), () => NOW), type: 'degraded.entered', data: { component: 'database' }, at: new Date('2026-11-23T14:00:00.000Z') },
    { name: 'appended on its own, without a time: at the clock', got: build.appendedEvent({ type: 'probe', data: {} }, undefined, () => NOW), type: 'probe', data: {}, at: NOW },
    { name: 'finished: signal.<status> with the result', got: build.signalFinished({ signal_id: 'sig_1', status: 'failed', result, now: NOW }), type: 'signal.failed', signal_id: 'sig_1', data: { result }, at: NOW },
    { name: 'retried: by whom', got: build.signalRetried('sig_1', 'admin', NOW), type: 'signal.retried', signal_id: 'sig_1', data: { actor: 'admin' }, at: NOW },
    { name: 'mode changed: from, to, reason, actor; no signal', got: build.modeChanged('enabled', 'paused', 'x', 'admin', NOW), type: 'mode.changed', data: { from: 'enabled', to: 'paused', reason: 'x', actor: 'admin' }, at: NOW },
    { name: 'a breaker transition: its view, connector and reason', got: build.breakerTransition('alpaca', { next: { state: 'open', consecutive_failures: 2, opened_at: NOW.toISOString() }, transition: 'opened' }, 'timeout', NOW), type: 'breaker.opened', data: { connector: 'alpaca', reason: 'timeout', state: 'open', consecutive_failures: 2, opened_at: NOW.toISOString() }, at: NOW },
    { name: 'a breaker step without a transition logs nothing', got: build.breakerTransition('alpaca', { next: { state: 'closed', consecutive_failures: 1 }, transition: null }, 'timeout', NOW), type: null },
    { name: 'drift: the connector and the list', got: build.positionsDrift('mock', [{ instrument: 'A', ledger: 1, connector: 2 }], NOW), type: 'positions.drift', data: { connector: 'mock', drift: [{ instrument: 'A', ledger: 1, connector: 2 }] }, at: NOW },
    { name: 'no drift logs nothing', got: build.positionsDrift('mock', [], NOW), type: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      if (c.type === null) {
        expect(c.got).toBeNull();
        return;
      }
      expect(c.got).toEqual({ at: c.at, event: { type: c.type, ...(c.signal_id === undefined ? {} : { signal_id: c.signal_id }), data: c.data } });
    });
  }
});
