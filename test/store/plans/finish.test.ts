/** The finish's plans: attempt times, fills, the final values and the daily-loss switch. Table tests, no database. */
import { describe, expect, test } from 'vitest';
import type { LedgerEntry } from '../../../src/domain/ledger.js';
import type { Mode, Order } from '../../../src/domain/types.js';
import { ATTEMPT_COLUMNS, FINISH_COLUMNS, untrackedFill, mayTripDailyLoss, movesDailyPnl, planAttempt, planDailyLoss, planFill, planFinish, type FillPlan } from '../../../src/store/plans/finish.js';
import { nextPositionVersion } from '../../../src/store/plans/ledger.js';
import type { Fill, FinishInput, ModeState } from '../../../src/store/store.js';

const NOW = new Date('2026-11-23T15:00:00.000Z');

describe('planAttempt', () => {
  const cases: Array<{ name: string; at: string; want: number | 'refused' }> = [
    { name: 'toISOString form', at: '2026-11-23T15:00:01.000Z', want: NOW.getTime() + 1000 },
    { name: 'an offset', at: '2026-11-23T16:00:01+01:00', want: NOW.getTime() + 1000 },
    { name: 'minutes only', at: '2026-11-23T15:01Z', want: NOW.getTime() + 60_000 },
    { name: 'microseconds', at: '2026-11-23T15:00:00.000001Z', want: NOW.getTime() },
    { name: 'not a time', at: 'not a time', want: 'refused' },
    { name: 'empty', at: '', want: 'refused' },
    { name: 'a date only', at: '2026-11-23', want: 'refused' },
    { name: 'no offset', at: '2026-11-23T15:00:00', want: 'refused' },
    { name: 'a month 13', at: '2026-13-23T15:00:00Z', want: 'refused' },
    { name: 'an RFC 2822 date', at: 'Mon, 23 Nov 2026 15:00:00 GMT', want: 'refused' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const attempt = { n: 2, at: c.at, outcome: 'filled', error: null };
      if (c.want === 'refused') {
        expect(() => planAttempt('sig_1', attempt)).toThrow(RangeError);
        return;
      }
      const plan = planAttempt('sig_1', attempt);
      expect(plan.row).toEqual({ signal_id: 'sig_1', n: 2, at: c.want, outcome: 'filled', error: null });
      // Both dialects' prepared insert binds these by name.
      expect([...ATTEMPT_COLUMNS].sort()).toEqual(Object.keys(plan.row).sort());
      expect(plan.event).toEqual({ at: new Date(c.want), event: { type: 'signal.attempt', signal_id: 'sig_1', data: attempt } });
    });
  }
});

describe('planFill', () => {
  const buy = (quantity: number, price: number): Fill => ({ side: 'buy', quantity, price });
  const sell = (quantity: number, price: number): Fill => ({ side: 'sell', quantity, price });
  const before = NOW.getTime() - 60_000;
  const row = (quantity: number, avg_price: number): LedgerEntry & { updated_at: number } => ({ quantity, avg_price, updated_at: before });
  const cases: Array<{ name: string; current: (LedgerEntry & { updated_at: number }) | null; fill: Fill; want: Omit<FillPlan['position'], 'updated_at'> & { realized: number } }> = [
    { name: 'opening a long', current: null, fill: buy(10, 100), want: { quantity: 10, avg_price: 100, last_price: 100, realized: 0 } },
    { name: 'a flat row is no position', current: row(0, 0), fill: buy(10, 100), want: { quantity: 10, avg_price: 100, last_price: 100, realized: 0 } },
    { name: 'adding moves the average', current: row(10, 100), fill: buy(10, 120), want: { quantity: 20, avg_price: 110, last_price: 120, realized: 0 } },
    { name: 'reducing realizes against the average', current: row(20, 110), fill: sell(4, 130), want: { quantity: 16, avg_price: 110, last_price: 130, realized: 80 } },
    { name: 'closing at a loss', current: row(10, 100), fill: sell(10, 95), want: { quantity: 0, avg_price: 0, last_price: 95, realized: -50 } },
    { name: 'flipping opens the rest at the fill price', current: row(5, 100), fill: sell(8, 110), want: { quantity: -3, avg_price: 110, last_price: 110, realized: 50 } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { realized, ...position } = c.want;
      expect(planFill(c.current, c.fill, NOW)).toEqual({ position: { ...position, updated_at: NOW.getTime() }, realized });
    });
  }

  // The version reconciliation compares: every write moves it forward.
  const versions: Array<{ name: string; current: number | null; want: number }> = [
    { name: 'no row: now', current: null, want: NOW.getTime() },
    { name: 'written earlier: now', current: before, want: NOW.getTime() },
    { name: 'written in this same millisecond: one past it', current: NOW.getTime(), want: NOW.getTime() + 1 },
    { name: 'written "later" (the clock stepped back): one past it', current: NOW.getTime() + 5_000, want: NOW.getTime() + 5_001 },
  ];
  for (const v of versions) {
    test(`version: ${v.name}`, () => {
      const current = v.current === null ? null : { quantity: 1, avg_price: 1, updated_at: v.current };
      expect(planFill(current, buy(1, 1), NOW).position.updated_at).toBe(v.want);
      expect(nextPositionVersion(v.current, NOW)).toBe(v.want);
    });
  }
});

describe('planFinish and untrackedFill', () => {
  const result = { connector: 'mock', client_order_id: 'c', order_id: 'o', status: 'filled', filled_quantity: 1, fill_price: 2 };
  const placed = (filled: number, price: number | null): Order => ({ client_order_id: 'c', order_id: 'o', instrument: 'AAPL', side: 'buy', quantity: 1, order_type: 'market', limit_price: null, status: filled > 0 ? 'filled' : 'new', filled_quantity: filled, fill_price: price });
  const input = (o: Partial<FinishInput> = {}): FinishInput => ({ signal_id: 'sig_1', status: 'executed', result, order: null, track_order: false, now: NOW, trading_day: '2026-11-23', max_daily_loss: null, ...o });
  const cases: Array<{ name: string; got: () => unknown; want: unknown }> = [
    // Both dialects' prepared update sets these by name: a value left out would not be written.
    { name: 'FINISH_COLUMNS name every value the finish sets', got: () => Object.keys(planFinish(input()).values).sort(), want: [...FINISH_COLUMNS].sort() },
    { name: 'executed stores the result and clears the lease', got: () => planFinish(input()).values, want: { status: 'executed', result: JSON.stringify(result), updated_at: NOW.getTime(), lease_owner: null, lease_until: null } },
    { name: 'the finish logs signal.<status> with the result', got: () => planFinish(input({ status: 'failed' })).event, want: { at: NOW, event: { type: 'signal.failed', signal_id: 'sig_1', data: { result } } } },
    { name: 'no order books nothing', got: () => untrackedFill(input()), want: null },
    { name: 'an order answered with nothing filled books nothing', got: () => untrackedFill(input({ order: placed(0, null) })), want: null },
    { name: 'an order answered filled is booked', got: () => untrackedFill(input({ order: placed(1, 1) })), want: { side: 'buy', quantity: 1, price: 1 } },
    { name: 'a fill without a usable price is not booked', got: () => untrackedFill(input({ order: placed(1, null) })), want: null },
  ];
  for (const c of cases) test(c.name, () => expect(c.got()).toEqual(c.want));
});

describe('the daily-loss switch', () => {
  const mode = (m: Mode, reason: string | null = null): ModeState => ({ mode: m, reason, changed_at: '2026-11-23T09:00:00.000Z' });
  const cases: Array<{ name: string; limit: number | null; fill: number; today: number; current: ModeState | null; reads: boolean; want: ModeState | null }> = [
    { name: 'a losing fill breaching the limit switches enabled to exit_only', limit: 50, fill: -60, today: -100, current: mode('enabled'), reads: true, want: { mode: 'exit_only', reason: 'daily_loss', changed_at: NOW.toISOString() } },
    { name: 'no stored mode reads as enabled', limit: 50, fill: -60, today: -60, current: null, reads: true, want: { mode: 'exit_only', reason: 'daily_loss', changed_at: NOW.toISOString() } },
    { name: 'exactly at the limit trips', limit: 50, fill: -10, today: -50, current: mode('enabled'), reads: true, want: { mode: 'exit_only', reason: 'daily_loss', changed_at: NOW.toISOString() } },
    { name: 'a loss within the limit does not', limit: 50, fill: -10, today: -49, current: mode('enabled'), reads: true, want: null },
    { name: 'paused is never loosened', limit: 50, fill: -60, today: -100, current: mode('paused'), reads: true, want: null },
    { name: 'exit_only is left alone', limit: 50, fill: -60, today: -100, current: mode('exit_only', 'operator'), reads: true, want: null },
    { name: 'a gain never switches (and needs no mode read)', limit: 50, fill: 5, today: -100, current: mode('enabled'), reads: false, want: null },
    { name: 'no limit never switches (and needs no mode read)', limit: null, fill: -60, today: -100, current: mode('enabled'), reads: false, want: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const input = { max_daily_loss: c.limit, now: NOW };
      expect(mayTripDailyLoss(input, c.fill)).toBe(c.reads);
      const plan = planDailyLoss(input, c.fill, c.today, c.current);
      expect(plan?.write ?? null).toEqual(c.want);
      if (plan !== null) expect(plan.event?.event.data).toEqual({ from: c.current?.mode ?? null, to: 'exit_only', reason: 'daily_loss', actor: 'guardrails' });
    });
  }
});

describe('movesDailyPnl: only a fill that realizes something touches the day row', () => {
  test.each([
    ['opens or adds to a position (realizes nothing)', 0, false],
    ['closes at a gain', 12.5, true],
    ['closes at a loss', -3, true],
  ])('%s', (_name, realized, moves) => {
    expect(movesDailyPnl(realized)).toBe(moves);
  });
});
