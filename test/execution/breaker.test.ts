/**
 * The breaker state machine (docs/execution.md#circuit-breaker) with injected times: tables per function, then whole
 * life cycles, and the JSON round trip that storing and sharing the state relies on.
 */
import { describe, expect, test } from 'vitest';
import type { BreakerState } from '../../src/domain/breaker.js';
import {
  breakerView,
  canPass,
  initialBreaker,
  isBreakerState,
  onFailure,
  onRefused,
  onSuccess,
  resetBreaker,
} from '../../src/domain/breaker.js';

const t0 = new Date('2026-11-22T10:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const threshold = { failure_threshold: 3 };

const closed = (n: number): BreakerState => ({ state: 'closed', consecutive_failures: n });
const open = (n: number, openedAt = 0): BreakerState => ({ state: 'open', consecutive_failures: n, opened_at: iso(openedAt) });
const halfOpen = (probeAt: number | null, openedAt = 0, probe?: string): BreakerState => ({
  state: 'half_open',
  consecutive_failures: 3,
  opened_at: iso(openedAt),
  probe_started_at: probeAt === null ? null : iso(probeAt),
  ...(probe === undefined ? {} : { probe_signal_id: probe }),
});

describe('onFailure', () => {
  const cases: { name: string; from: BreakerState; now: number; want: BreakerState; transition: string | null }[] = [
    { name: 'counts below the threshold', from: closed(0), now: 1, want: closed(1), transition: null },
    { name: 'trips at the threshold', from: closed(2), now: 5, want: open(3, 5), transition: 'opened' },
    { name: 'open stays open, keeps opened_at, counts', from: open(3, 0), now: 9, want: open(4, 0), transition: null },
    {
      name: 'failed probe re-opens with a fresh opened_at',
      from: halfOpen(60),
      now: 61,
      want: { state: 'open', consecutive_failures: 4, opened_at: iso(61) },
      transition: 'opened',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(onFailure(c.from, at(c.now), threshold)).toEqual({ next: c.want, transition: c.transition });
    });
  }

  test('threshold 1 trips on the first failure', () => {
    expect(onFailure(initialBreaker(), t0, { failure_threshold: 1 }).next.state).toBe('open');
  });
});

describe('onSuccess', () => {
  const cases: { name: string; from: BreakerState; call: string | null; want: BreakerState; transition: string | null }[] = [
    { name: 'closed: the streak ends', from: closed(2), call: 'sig_a', want: closed(0), transition: null },
    { name: 'open: an exit success does not close it', from: open(5), call: 'sig_a', want: open(5), transition: null },
    { name: 'half_open: the probe success closes it', from: halfOpen(60, 0, 'sig_p'), call: 'sig_p', want: closed(0), transition: 'closed' },
    { name: 'half_open: another call’s success (an exit, a cancel) does not', from: halfOpen(60, 0, 'sig_p'), call: 'sig_x', want: halfOpen(60, 0, 'sig_p'), transition: null },
    { name: 'half_open: nor does a call that names none', from: halfOpen(60, 0, 'sig_p'), call: null, want: halfOpen(60, 0, 'sig_p'), transition: null },
    { name: 'half_open with no known probe: nothing closes it but a probe', from: halfOpen(60), call: 'sig_p', want: halfOpen(60), transition: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(onSuccess(c.from, at(70), c.call)).toEqual({ next: c.want, transition: c.transition });
    });
  }
});

describe('onRefused (a 4xx: neither a success nor a failure of the connector)', () => {
  const cases: { name: string; from: BreakerState; call: string; want: BreakerState }[] = [
    { name: 'closed: the streak stays', from: closed(2), call: 'sig_a', want: closed(2) },
    { name: 'open: stays open', from: open(5), call: 'sig_a', want: open(5) },
    { name: 'half_open: the refused probe frees the slot, the breaker stays half-open', from: halfOpen(60, 0, 'sig_p'), call: 'sig_p', want: halfOpen(null) },
    { name: 'half_open: another call’s refusal changes nothing', from: halfOpen(60, 0, 'sig_p'), call: 'sig_x', want: halfOpen(60, 0, 'sig_p') },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(onRefused(c.from, at(70), c.call)).toEqual({ next: c.want, transition: null });
    });
  }
});

describe('canPass', () => {
  const cases: {
    name: string;
    from: BreakerState;
    now: number;
    after: number | null;
    exit: boolean;
    allowed: boolean;
    next: BreakerState;
    transition: string | null;
  }[] = [
    { name: 'closed: increasing order passes', from: closed(2), now: 1, after: 30, exit: false, allowed: true, next: closed(2), transition: null },
    { name: 'closed: exit passes', from: closed(0), now: 1, after: null, exit: true, allowed: true, next: closed(0), transition: null },
    { name: 'open: increasing order refused', from: open(3), now: 10, after: 30, exit: false, allowed: false, next: open(3), transition: null },
    { name: 'open: exit still passes', from: open(3), now: 10, after: 30, exit: true, allowed: true, next: open(3), transition: null },
    { name: 'open, after null: stays open for ever', from: open(3), now: 86_400 * 365, after: null, exit: false, allowed: false, next: open(3), transition: null },
    { name: 'open, after null: exits pass for ever', from: open(3), now: 86_400, after: null, exit: true, allowed: true, next: open(3), transition: null },
    { name: 'open, just before the time: refused', from: open(3), now: 29.999, after: 30, exit: false, allowed: false, next: open(3), transition: null },
    { name: 'open, time elapsed: half-opens and lets the probe through', from: open(3), now: 30, after: 30, exit: false, allowed: true, next: halfOpen(30), transition: 'half_opened' },
    { name: 'open, time elapsed: an exit becomes the probe', from: open(3), now: 45, after: 30, exit: true, allowed: true, next: halfOpen(45), transition: 'half_opened' },
    { name: 'half_open, probe in flight: second increasing order refused', from: halfOpen(30), now: 31, after: 30, exit: false, allowed: false, next: halfOpen(30), transition: null },
    { name: 'half_open, probe in flight: exit passes', from: halfOpen(30), now: 31, after: 30, exit: true, allowed: true, next: halfOpen(30), transition: null },
    { name: 'half_open, no probe yet: this one is the probe', from: halfOpen(null), now: 31, after: 30, exit: false, allowed: true, next: halfOpen(31), transition: null },
    { name: 'half_open, probe lost (older than the wait): a new probe', from: halfOpen(30), now: 60, after: 30, exit: false, allowed: true, next: halfOpen(60), transition: null },
    { name: 'half_open, after null: a probe in flight is never presumed lost', from: halfOpen(30), now: 9999, after: null, exit: false, allowed: false, next: halfOpen(30), transition: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(canPass(c.from, at(c.now), { half_open_after_seconds: c.after }, c.exit)).toEqual({
        allowed: c.allowed,
        next: c.next,
        transition: c.transition,
      });
    });
  }

  test('the call let through as the probe is named in the state; a new probe replaces a lost one', () => {
    expect(canPass(open(3), at(30), { half_open_after_seconds: 30 }, false, 'sig_p').next).toEqual(halfOpen(30, 0, 'sig_p'));
    expect(canPass(halfOpen(null), at(31), { half_open_after_seconds: 30 }, false, 'sig_q').next).toEqual(halfOpen(31, 0, 'sig_q'));
    expect(canPass(halfOpen(30, 0, 'sig_p'), at(60), { half_open_after_seconds: 30 }, false, 'sig_q').next).toEqual(halfOpen(60, 0, 'sig_q'));
    expect(canPass(halfOpen(30, 0, 'sig_p'), at(60), { half_open_after_seconds: 30 }, false).next).toEqual(halfOpen(60));
    // Refused or passing without a claim: the probe stays who it was.
    expect(canPass(halfOpen(30, 0, 'sig_p'), at(31), { half_open_after_seconds: 30 }, false, 'sig_q').next).toEqual(halfOpen(30, 0, 'sig_p'));
  });
});

describe('a whole life cycle with injected times', () => {
  const policy = { failure_threshold: 2, half_open_after_seconds: 30 };

  test('trips, refuses, half-opens once, closes on probe success', () => {
    let s = initialBreaker();
    s = onFailure(s, at(0), policy).next;
    const tripped = onFailure(s, at(1), policy);
    expect(tripped.transition).toBe('opened');
    s = tripped.next;
    expect(canPass(s, at(10), policy, false).allowed).toBe(false);

    const probe = canPass(s, at(31), policy, false, 'sig_probe');
    expect(probe).toMatchObject({ allowed: true, transition: 'half_opened' });
    s = probe.next;
    // Exactly one probe: the next increasing order waits for its outcome.
    expect(canPass(s, at(32), policy, false).allowed).toBe(false);
    // An exit let through meanwhile succeeds: still half-open.
    expect(onSuccess(s, at(32), 'sig_exit')).toEqual({ next: s, transition: null });

    const closedAgain = onSuccess(s, at(33), 'sig_probe');
    expect(closedAgain.transition).toBe('closed');
    expect(canPass(closedAgain.next, at(34), policy, false).allowed).toBe(true);
  });

  test('a failed probe re-opens and the wait starts again', () => {
    let s: BreakerState = open(2, 0);
    s = canPass(s, at(30), policy, false).next;
    s = onFailure(s, at(31), policy).next;
    expect(s).toMatchObject({ state: 'open', opened_at: iso(31) });
    expect(canPass(s, at(60), policy, false).allowed).toBe(false);
    expect(canPass(s, at(61), policy, false)).toMatchObject({ allowed: true, transition: 'half_opened' });
  });

  test('the state survives a JSON round trip (it is stored and shared)', () => {
    const s = canPass(open(2, 0), at(30), policy, false, 'sig_probe').next;
    const stored = JSON.parse(JSON.stringify(s)) as unknown;
    expect(isBreakerState(stored)).toBe(true);
    expect(stored).toEqual(s);
  });
});

describe('resetBreaker and breakerView', () => {
  test('reset closes an open breaker and reports it', () => {
    expect(resetBreaker(open(7))).toEqual({ next: closed(0), transition: 'closed' });
  });
  test('reset of a closed breaker reports no transition but clears the streak', () => {
    expect(resetBreaker(closed(2))).toEqual({ next: closed(0), transition: null });
  });
  test('reset without a previous state', () => {
    expect(resetBreaker()).toEqual({ next: closed(0), transition: 'closed' });
  });
  const views: { name: string; s: BreakerState; want: ReturnType<typeof breakerView> }[] = [
    { name: 'closed', s: closed(1), want: { state: 'closed', consecutive_failures: 1, opened_at: null } },
    { name: 'open', s: open(5, 3), want: { state: 'open', consecutive_failures: 5, opened_at: iso(3) } },
    { name: 'half_open hides the probe time', s: halfOpen(40, 10), want: { state: 'half_open', consecutive_failures: 3, opened_at: iso(10) } },
  ];
  for (const v of views) {
    test(`view: ${v.name}`, () => {
      expect(breakerView(v.s)).toEqual(v.want);
    });
  }
});

describe('isBreakerState guards stored JSON', () => {
  const cases: { name: string; value: unknown; want: boolean }[] = [
    { name: 'closed', value: { state: 'closed', consecutive_failures: 0 }, want: true },
    { name: 'open', value: { state: 'open', consecutive_failures: 5, opened_at: iso(0) }, want: true },
    { name: 'half_open with null probe', value: { state: 'half_open', consecutive_failures: 5, opened_at: iso(0), probe_started_at: null }, want: true },
    { name: 'half_open naming its probe', value: { state: 'half_open', consecutive_failures: 5, opened_at: iso(0), probe_started_at: iso(1), probe_signal_id: 'sig_p' }, want: true },
    { name: 'half_open with a probe that is not an id', value: { state: 'half_open', consecutive_failures: 5, opened_at: iso(0), probe_started_at: iso(1), probe_signal_id: 7 }, want: false },
    { name: 'open without opened_at', value: { state: 'open', consecutive_failures: 5 }, want: false },
    { name: 'negative count', value: { state: 'closed', consecutive_failures: -1 }, want: false },
    { name: 'unknown state', value: { state: 'ajar', consecutive_failures: 0 }, want: false },
    { name: 'null', value: null, want: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(isBreakerState(c.value)).toBe(c.want);
    });
  }
});
