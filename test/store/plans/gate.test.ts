/** planGateAdmission and planGate: table tests, no database. */
import { describe, expect, test } from 'vitest';
import type { BreakerState, BreakerStep } from '../../../src/domain/breaker.js';
import type { StoredGateState } from '../../../src/domain/gate-state.js';
import type { Decision, SignalStatus } from '../../../src/domain/types.js';
import { GATE_COLUMNS, RESERVATION_COLUMNS, needsOpenOrder, oldestInLane, planGate, planGateAdmission, planSettleFirst, type Admission } from '../../../src/store/plans/gate.js';
import type { GateInput } from '../../../src/store/store.js';

const NOW = new Date('2026-11-23T15:00:00.000Z');
const LEASE = new Date('2026-11-23T15:00:30.000Z');
const STATE: StoredGateState = { mode: 'enabled', position: 0, last_price: null, gross_exposure: 0, reserved_exposure: 0, reserved_instrument: 0, pending_quantity: 0, realized_pnl_today: 0, orders_last_minute: 0 };
const allow = (o: Partial<Decision> = {}): Decision => ({ allowed: true, failures: [], quantity: 10, side: 'buy', exit: false, trimmed: false, reserved_notional: 1000, reference_price: 100, ...o });
const refuse: Decision = { allowed: false, failures: [{ rule: 'mode', code: 'paused', limit: 'enabled', actual: 'paused', message: 'paused' }], quantity: null, side: null, exit: false, trimmed: false, reserved_notional: 0, reference_price: null };
const OPEN: BreakerState = { state: 'open', consecutive_failures: 3, opened_at: '2026-11-23T14:00:00.000Z' };
const PROBE: BreakerState = { state: 'half_open', consecutive_failures: 3, opened_at: OPEN.opened_at, probe_started_at: NOW.toISOString() };

function input(decision: Decision, breaker: BreakerStep | null = null, seen: BreakerState[] = []): GateInput {
  return {
    signal_id: 'sig_1',
    connector: 'mock',
    instrument: 'AAPL',
    now: NOW,
    owner: 'me',
    lease_until: LEASE,
    trading_day: '2026-11-23',
    order_rate_cap: null,
    settle_open_orders: false,
    decide: (_state, b) => {
      seen.push(b);
      return { decision, breaker };
    },
  };
}

describe('oldestInLane (one candidate per blocking status)', () => {
  const a = { id: 'a', seq: 5 };
  const e = { id: 'e', seq: 3 };
  test.each([
    ['none', [undefined, undefined], undefined],
    ['only accepted', [a, undefined], a],
    ['only executing', [undefined, e], e],
    ['the smaller seq wins, whichever status', [a, e], e],
    ['the smaller seq wins, in either order', [e, a], e],
  ])('%s', (_name, candidates, expected) => {
    expect(oldestInLane(candidates)).toBe(expected);
  });
});

describe('planGateAdmission', () => {
  const row = (status: SignalStatus) => ({ status, id: 'sig_2' });
  const cases: Array<{ name: string; row: { status: SignalStatus; id: string } | undefined; older: { id: string } | undefined; want: Admission<unknown>['kind'] }> = [
    { name: 'an unknown signal is skipped', row: undefined, older: undefined, want: 'skipped' },
    { name: 'an executing signal is skipped', row: row('executing'), older: undefined, want: 'skipped' },
    { name: 'a rejected signal is skipped', row: row('rejected'), older: undefined, want: 'skipped' },
    { name: 'a failed signal is skipped (an operator retries it first)', row: row('failed'), older: undefined, want: 'skipped' },
    { name: 'a skipped signal ignores any lane', row: row('executed'), older: { id: 'sig_0' }, want: 'skipped' },
    { name: 'an accepted signal with an older accepted one in its lane is blocked', row: row('accepted'), older: { id: 'sig_0' }, want: 'blocked' },
    { name: 'an accepted signal first in its lane is gated', row: row('accepted'), older: undefined, want: 'gate' },
  ];
  for (const c of cases) test(c.name, () => expect(planGateAdmission(c.row, c.older).kind).toBe(c.want));

  test('blocked names the older signal', () => expect(planGateAdmission(row('accepted'), { id: 'sig_0' })).toEqual({ kind: 'blocked', by: 'sig_0' }));
});

describe('planSettleFirst (close, target: decided only with no open order in the lane)', () => {
  const open = { signal_id: 'sig_buy' };
  const cases: Array<{ name: string; settle: boolean; decision: Decision; open: { signal_id: string } | undefined; want: { kind: 'blocked'; by: string } | null; reads: boolean }> = [
    { name: 'an allowed close with an open order waits for it, by its signal', settle: true, decision: allow({ side: null, quantity: null, exit: true }), open, want: { kind: 'blocked', by: 'sig_buy' }, reads: true },
    { name: 'an allowed close with nothing open is gated', settle: true, decision: allow({ side: null, quantity: null, exit: true }), open: undefined, want: null, reads: true },
    { name: 'a refused close is recorded at once, open orders or not (nothing is cancelled for it)', settle: true, decision: refuse, open, want: null, reads: false },
    { name: 'a gate that does not settle (buy, sell, a fire-and-forget connector) ignores open orders', settle: false, decision: allow(), open, want: null, reads: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(planSettleFirst({ settle_open_orders: c.settle }, { decision: c.decision }, c.open)).toEqual(c.want);
      expect(needsOpenOrder({ settle_open_orders: c.settle }, { decision: c.decision })).toBe(c.reads);
    });
  }
});

describe('planGate', () => {
  const executing = { status: 'executing', lease_owner: 'me', lease_until: LEASE.getTime(), decided_at: NOW.getTime(), updated_at: NOW.getTime() };
  const cases: Array<{ name: string; decision: Decision; stored?: BreakerState | null; step?: BreakerStep | null; values: object; reservation: object | null; breaker: object | null; event: string }> = [
    { name: 'an allowed buy executes, leased, reserving +quantity and its notional', decision: allow(), values: { ...executing, order_side: 'buy' }, reservation: { quantity: 10, notional: 1000, connector: 'mock', instrument: 'AAPL', created_at: NOW.getTime() }, breaker: null, event: 'signal.executing' },
    { name: 'an allowed sell (an exit) reserves -quantity and no notional', decision: allow({ side: 'sell', quantity: 4, exit: true, reserved_notional: 0 }), values: { ...executing, order_side: 'sell' }, reservation: { quantity: -4, notional: 0 }, breaker: null, event: 'signal.executing' },
    { name: 'an allowed cancel (no order) executes and reserves nothing', decision: allow({ side: null, quantity: null, exit: true, reserved_notional: 0 }), values: { ...executing, order_side: null }, reservation: null, breaker: null, event: 'signal.executing' },
    { name: 'a refusal is rejected with no lease and no reservation', decision: refuse, values: { status: 'rejected', lease_owner: null, lease_until: null, order_side: null }, reservation: null, breaker: null, event: 'signal.rejected' },
    { name: 'a claimed half-open probe is stored and logged', decision: allow(), stored: OPEN, step: { next: PROBE, transition: 'half_opened' }, values: executing, reservation: {}, breaker: { write: PROBE, event: { at: NOW, event: expect.objectContaining({ type: 'breaker.half_opened' }) } }, event: 'signal.executing' },
    { name: 'a breaker step that changes nothing writes and logs nothing', decision: allow(), stored: OPEN, step: { next: OPEN, transition: null }, values: executing, reservation: {}, breaker: { write: null, event: null }, event: 'signal.executing' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planGate(input(c.decision, c.step ?? null), STATE, c.stored ?? null);
      expect(plan.values).toMatchObject(c.values);
      expect(JSON.parse(plan.values.decision)).toEqual(c.decision);
      expect(plan.reservation).toEqual(c.reservation === null ? null : expect.objectContaining(c.reservation));
      expect(plan.breaker).toEqual(c.breaker === null ? null : expect.objectContaining(c.breaker));
      expect(plan.event).toEqual({ at: NOW, event: { type: c.event, signal_id: 'sig_1', data: { decision: c.decision } } });
      // Both dialects' prepared update sets these by name: a value left out would not be written.
      expect([...GATE_COLUMNS].sort()).toEqual(Object.keys(plan.values).sort());
      if (plan.reservation !== null) expect([...RESERVATION_COLUMNS].sort()).toEqual(Object.keys(plan.reservation).sort());
    });
  }

  const seenCases: Array<{ name: string; stored: BreakerState | null; want: BreakerState }> = [
    { name: 'decide sees a closed breaker when none is stored', stored: null, want: { state: 'closed', consecutive_failures: 0 } },
    { name: 'decide sees the stored breaker', stored: OPEN, want: OPEN },
  ];
  for (const c of seenCases) {
    test(c.name, () => {
      const seen: BreakerState[] = [];
      planGate(input(allow(), null, seen), STATE, c.stored);
      expect(seen).toEqual([c.want]);
    });
  }
});
