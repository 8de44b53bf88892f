/** The mode and breaker write rules: table tests, no database. */
import { describe, expect, test } from 'vitest';
import type { BreakerState, BreakerStep } from '../../../src/domain/breaker.js';
import type { Mode } from '../../../src/domain/types.js';
import { planBreakerStep, planInitMode, planModeWrite } from '../../../src/store/plans/runtime.js';
import type { ModeState } from '../../../src/store/store.js';

const NOW = new Date('2026-11-23T15:00:00.000Z');
const EARLIER = '2026-11-23T09:00:00.000Z';
const stored = (mode: Mode, reason: string | null): ModeState => ({ mode, reason, changed_at: EARLIER });

describe('planModeWrite (setMode)', () => {
  const cases: Array<{ name: string; current: ModeState | null; mode: Mode; reason: string | null; writes: boolean; from: Mode | null }> = [
    { name: 'nothing stored: written, logged from null', current: null, mode: 'paused', reason: 'x', writes: true, from: null },
    { name: 'the same mode and reason: a no-op', current: stored('paused', 'x'), mode: 'paused', reason: 'x', writes: false, from: null },
    { name: 'the same mode with another reason: written', current: stored('paused', 'x'), mode: 'paused', reason: 'y', writes: true, from: 'paused' },
    { name: 'the same mode, reason null vs a reason: written', current: stored('enabled', null), mode: 'enabled', reason: 'operator', writes: true, from: 'enabled' },
    { name: 'another mode: written', current: stored('enabled', null), mode: 'exit_only', reason: null, writes: true, from: 'enabled' },
    { name: 'enabled again after a stored mode: written', current: stored('paused', 'x'), mode: 'enabled', reason: null, writes: true, from: 'paused' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planModeWrite(c.current, c.mode, c.reason, 'admin', NOW);
      if (!c.writes) {
        expect(plan).toEqual({ state: c.current, write: null, event: null });
        return;
      }
      const next = { mode: c.mode, reason: c.reason, changed_at: NOW.toISOString() };
      expect(plan).toEqual({ state: next, write: next, event: { at: NOW, event: { type: 'mode.changed', data: { from: c.from, to: c.mode, reason: c.reason, actor: 'admin' } } } });
    });
  }
});

describe('planInitMode', () => {
  const cases: Array<{ name: string; current: ModeState | null; writes: boolean }> = [
    { name: 'nothing stored: the initial mode is written', current: null, writes: true },
    { name: 'a stored mode stands, even another one', current: stored('paused', 'x'), writes: false },
    { name: 'a stored mode stands, even the same one', current: stored('exit_only', 'initial_mode'), writes: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planInitMode(c.current, 'exit_only', NOW);
      expect(plan.write !== null).toBe(c.writes);
      expect(plan.event !== null).toBe(c.writes);
      expect(plan.state).toEqual(c.writes ? { mode: 'exit_only', reason: 'initial_mode', changed_at: NOW.toISOString() } : c.current);
      if (plan.event !== null) expect(plan.event.event.data).toEqual({ from: null, to: 'exit_only', reason: 'initial_mode', actor: 'config' });
    });
  }
});

describe('planBreakerStep', () => {
  const closed = (n: number): BreakerState => ({ state: 'closed', consecutive_failures: n });
  const open = (at: string): BreakerState => ({ state: 'open', consecutive_failures: 3, opened_at: at });
  const half = (probe: string | null): BreakerState => ({ state: 'half_open', consecutive_failures: 3, opened_at: EARLIER, probe_started_at: probe });
  const step = (next: BreakerState, transition: BreakerStep['transition'] = null): BreakerStep => ({ next, transition });
  const cases: Array<{ name: string; stored: BreakerState | null; step: BreakerStep; writes: boolean; event: string | null }> = [
    { name: 'none stored, still healthy: nothing written', stored: null, step: step(closed(0)), writes: false, event: null },
    { name: 'none stored, a first failure: written', stored: null, step: step(closed(1)), writes: true, event: null },
    { name: 'none stored, tripped: written and logged', stored: null, step: step(open(EARLIER), 'opened'), writes: true, event: 'breaker.opened' },
    { name: 'unchanged closed: nothing written', stored: closed(2), step: step(closed(2)), writes: false, event: null },
    { name: 'a failure counted: written', stored: closed(2), step: step(closed(3)), writes: true, event: null },
    { name: 'a success resets the streak: written', stored: closed(2), step: step(closed(0)), writes: true, event: null },
    { name: 'unchanged open: nothing written', stored: open(EARLIER), step: step(open(EARLIER)), writes: false, event: null },
    { name: 're-opened at another time: written', stored: open(EARLIER), step: step(open(NOW.toISOString())), writes: true, event: null },
    { name: 'a probe claimed: written and logged', stored: open(EARLIER), step: step(half(NOW.toISOString()), 'half_opened'), writes: true, event: 'breaker.half_opened' },
    { name: 'another probe time: written', stored: half(EARLIER), step: step(half(NOW.toISOString())), writes: true, event: null },
    { name: 'closed after a probe: written and logged', stored: half(EARLIER), step: step(closed(0), 'closed'), writes: true, event: 'breaker.closed' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planBreakerStep(c.stored, c.step, 'alpaca', 'timeout', NOW);
      expect(plan.state).toEqual(c.step.next);
      expect(plan.write).toEqual(c.writes ? c.step.next : null);
      expect(plan.event?.event.type ?? null).toBe(c.event);
      if (plan.event !== null) expect(plan.event).toEqual({ at: NOW, event: { type: c.event, data: expect.objectContaining({ connector: 'alpaca', reason: 'timeout', state: c.step.next.state }) } });
    });
  }
});
