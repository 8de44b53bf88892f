/**
 * Trading windows and trading days against the tz database: DST in America/New_York (2026:
 * clocks go forward on Sunday 8 March at 02:00 EST = 07:00Z, back on Sunday 1 November at
 * 02:00 EDT = 06:00Z), windows spanning midnight, and the inclusive-exclusive bounds.
 */
import { describe, expect, test } from 'vitest';
import type { TradingWindow } from '../../src/config/schema.js';
import { describeWindow, isInTradingWindow, isInWindow, tradingDay, wallClock } from '../../src/guardrails/trading-time.js';

const WEEKDAYS: TradingWindow['days'] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const NYSE: TradingWindow = { days: WEEKDAYS, from: '09:30', to: '16:00', tz: 'America/New_York' };
const FRIDAY_NIGHT: TradingWindow = { days: ['fri'], from: '22:00', to: '02:00', tz: 'UTC' };

describe('wallClock', () => {
  const cases: { name: string; at: string; tz: string; expect: { date: string; day: string; minute: number } }[] = [
    { name: 'UTC noon', at: '2026-11-23T12:00:00Z', tz: 'UTC', expect: { date: '2026-11-23', day: 'mon', minute: 720 } },
    { name: 'New York midnight is minute 0, not 24:00', at: '2026-11-23T05:00:00Z', tz: 'America/New_York', expect: { date: '2026-11-23', day: 'mon', minute: 0 } },
    { name: 'last EST minute before spring forward', at: '2026-03-08T06:59:00Z', tz: 'America/New_York', expect: { date: '2026-03-08', day: 'sun', minute: 60 + 59 } },
    { name: 'first EDT minute is 03:00', at: '2026-03-08T07:00:00Z', tz: 'America/New_York', expect: { date: '2026-03-08', day: 'sun', minute: 180 } },
    { name: '01:30 EDT before falling back', at: '2026-11-01T05:30:00Z', tz: 'America/New_York', expect: { date: '2026-11-01', day: 'sun', minute: 90 } },
    { name: '01:30 EST after falling back', at: '2026-11-01T06:30:00Z', tz: 'America/New_York', expect: { date: '2026-11-01', day: 'sun', minute: 90 } },
    { name: 'seconds are dropped', at: '2026-11-23T12:34:59.999Z', tz: 'UTC', expect: { date: '2026-11-23', day: 'mon', minute: 12 * 60 + 34 } },
  ];
  for (const c of cases) test(c.name, () => expect(wallClock(new Date(c.at), c.tz)).toEqual(c.expect));

  // wallClock keeps its last answer per zone for one second: asked in a row, across a DST change,
  // a midnight and two zones, every answer is still the instant's own.
  test('in a row, second by second across a DST change and midnight, in two zones at once', () => {
    const run = [...cases, ...cases.slice().reverse()];
    const start = Date.parse('2026-03-08T06:59:58Z');
    for (let i = 0; i < 4; i += 1) {
      const at = new Date(start + i * 1000);
      const fresh = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(at);
      const clock = wallClock(at, 'America/New_York');
      expect(`${String(Math.floor(clock.minute / 60)).padStart(2, '0')}:${String(clock.minute % 60).padStart(2, '0')}`).toBe(fresh);
      expect(wallClock(at, 'Asia/Tokyo').date).toBe('2026-03-08');
      expect(wallClock(new Date(at.getTime() + 500), 'America/New_York')).toEqual(clock);
    }
    for (const c of run) expect(wallClock(new Date(c.at), c.tz)).toEqual(c.expect);
    expect(wallClock(new Date('2026-11-23T23:59:59.999Z'), 'UTC').date).toBe('2026-11-23');
    expect(wallClock(new Date('2026-11-24T00:00:00.000Z'), 'UTC').date).toBe('2026-11-24');
  });
});

describe('tradingDay', () => {
  const cases: { name: string; at: string; tz: string; day: string }[] = [
    { name: 'UTC', at: '2026-11-23T23:59:59Z', tz: 'UTC', day: '2026-11-23' },
    { name: 'New York, last EDT second of 31 October', at: '2026-11-01T03:59:59Z', tz: 'America/New_York', day: '2026-10-31' },
    { name: 'New York, EDT midnight starts 1 November', at: '2026-11-01T04:00:00Z', tz: 'America/New_York', day: '2026-11-01' },
    { name: 'New York, 1 November is 25 hours long', at: '2026-11-02T04:59:59Z', tz: 'America/New_York', day: '2026-11-01' },
    { name: 'New York, EST midnight starts 2 November', at: '2026-11-02T05:00:00Z', tz: 'America/New_York', day: '2026-11-02' },
    { name: 'New York, 8 March is 23 hours long', at: '2026-03-09T03:59:59Z', tz: 'America/New_York', day: '2026-03-08' },
    { name: 'New York, EDT midnight starts 9 March', at: '2026-03-09T04:00:00Z', tz: 'America/New_York', day: '2026-03-09' },
    { name: 'Tokyo is already tomorrow', at: '2026-11-22T15:00:00Z', tz: 'Asia/Tokyo', day: '2026-11-23' },
  ];
  for (const c of cases) test(c.name, () => expect(tradingDay(new Date(c.at), c.tz)).toBe(c.day));
});

describe('isInWindow', () => {
  const cases: { name: string; window: TradingWindow; at: string; inside: boolean }[] = [
    // New York session across spring forward: 09:30 local is 14:30Z before, 13:30Z after.
    { name: 'EST open 09:30 (Fri 6 Mar 14:30Z) is inside', window: NYSE, at: '2026-03-06T14:30:00Z', inside: true },
    { name: 'EST 08:30 (Fri 6 Mar 13:30Z) is outside', window: NYSE, at: '2026-03-06T13:30:00Z', inside: false },
    { name: 'EST 15:59 is inside', window: NYSE, at: '2026-03-06T20:59:00Z', inside: true },
    { name: 'EST close 16:00 is outside', window: NYSE, at: '2026-03-06T21:00:00Z', inside: false },
    { name: 'EDT open 09:30 (Mon 9 Mar 13:30Z) is inside', window: NYSE, at: '2026-03-09T13:30:00Z', inside: true },
    { name: 'EDT 09:29 (Mon 9 Mar 13:29Z) is outside', window: NYSE, at: '2026-03-09T13:29:00Z', inside: false },
    { name: 'EDT close 16:00 (Mon 9 Mar 20:00Z) is outside', window: NYSE, at: '2026-03-09T20:00:00Z', inside: false },
    { name: 'EST open after falling back (Mon 2 Nov 14:30Z)', window: NYSE, at: '2026-11-02T14:30:00Z', inside: true },
    { name: 'EDT-hour 13:30Z on Mon 2 Nov is 08:30 EST, outside', window: NYSE, at: '2026-11-02T13:30:00Z', inside: false },
    { name: 'weekend is outside', window: NYSE, at: '2026-03-07T15:00:00Z', inside: false },
    // The skipped hour and the repeated hour.
    { name: 'spring forward: a 02:00-03:00 window never opens (before)', window: { days: ['sun'], from: '02:00', to: '03:00', tz: 'America/New_York' }, at: '2026-03-08T06:59:00Z', inside: false },
    { name: 'spring forward: a 02:00-03:00 window never opens (after)', window: { days: ['sun'], from: '02:00', to: '03:00', tz: 'America/New_York' }, at: '2026-03-08T07:00:00Z', inside: false },
    { name: 'fall back: the first 01:30 is inside a 01:00-02:00 window', window: { days: ['sun'], from: '01:00', to: '02:00', tz: 'America/New_York' }, at: '2026-11-01T05:30:00Z', inside: true },
    { name: 'fall back: the repeated 01:30 is inside too', window: { days: ['sun'], from: '01:00', to: '02:00', tz: 'America/New_York' }, at: '2026-11-01T06:30:00Z', inside: true },
    { name: 'fall back: 02:00 EST closes it', window: { days: ['sun'], from: '01:00', to: '02:00', tz: 'America/New_York' }, at: '2026-11-01T07:00:00Z', inside: false },
    // Spanning midnight: the hours after midnight belong to the day the window opened.
    { name: 'overnight: Friday 21:59 is before the open', window: FRIDAY_NIGHT, at: '2026-11-27T21:59:00Z', inside: false },
    { name: 'overnight: Friday 22:00 opens it', window: FRIDAY_NIGHT, at: '2026-11-27T22:00:00Z', inside: true },
    { name: 'overnight: Saturday 00:00 is inside', window: FRIDAY_NIGHT, at: '2026-11-28T00:00:00Z', inside: true },
    { name: 'overnight: Saturday 01:59 is inside', window: FRIDAY_NIGHT, at: '2026-11-28T01:59:00Z', inside: true },
    { name: 'overnight: Saturday 02:00 closes it', window: FRIDAY_NIGHT, at: '2026-11-28T02:00:00Z', inside: false },
    { name: 'overnight: Friday 01:00 belongs to Thursday, not listed', window: FRIDAY_NIGHT, at: '2026-11-27T01:00:00Z', inside: false },
    { name: 'overnight: Saturday 22:30 is not a Friday', window: FRIDAY_NIGHT, at: '2026-11-28T22:30:00Z', inside: false },
    { name: 'overnight in New York across spring forward: Sat 23:30 EST', window: { days: ['sat'], from: '23:00', to: '01:00', tz: 'America/New_York' }, at: '2026-03-08T04:30:00Z', inside: true },
    { name: 'overnight in New York across spring forward: Sun 00:59 EST', window: { days: ['sat'], from: '23:00', to: '01:00', tz: 'America/New_York' }, at: '2026-03-08T05:59:00Z', inside: true },
    { name: 'overnight in New York across spring forward: Sun 01:00 EST', window: { days: ['sat'], from: '23:00', to: '01:00', tz: 'America/New_York' }, at: '2026-03-08T06:00:00Z', inside: false },
    { name: 'to 00:00 runs to midnight: 23:59 inside', window: { days: ['mon'], from: '18:00', to: '00:00', tz: 'UTC' }, at: '2026-11-23T23:59:00Z', inside: true },
    { name: 'to 00:00 runs to midnight: 00:00 outside', window: { days: ['mon'], from: '18:00', to: '00:00', tz: 'UTC' }, at: '2026-11-24T00:00:00Z', inside: false },
    { name: 'from = to is 24 hours: Monday 09:30 inside', window: { days: ['mon'], from: '09:30', to: '09:30', tz: 'UTC' }, at: '2026-11-23T09:30:00Z', inside: true },
    { name: 'from = to is 24 hours: Tuesday 09:29 inside', window: { days: ['mon'], from: '09:30', to: '09:30', tz: 'UTC' }, at: '2026-11-24T09:29:00Z', inside: true },
    { name: 'from = to is 24 hours: Tuesday 09:30 outside', window: { days: ['mon'], from: '09:30', to: '09:30', tz: 'UTC' }, at: '2026-11-24T09:30:00Z', inside: false },
    { name: 'from = to is 24 hours: Monday 09:29 outside', window: { days: ['mon'], from: '09:30', to: '09:30', tz: 'UTC' }, at: '2026-11-23T09:29:00Z', inside: false },
  ];
  for (const c of cases) test(c.name, () => expect(isInWindow(new Date(c.at), c.window)).toBe(c.inside));
});

describe('isInTradingWindow', () => {
  test('an empty list matches nothing', () => {
    expect(isInTradingWindow(new Date('2026-11-23T15:00:00Z'), [])).toBe(false);
  });
  test('any one window is enough', () => {
    const windows = [NYSE, FRIDAY_NIGHT];
    expect(isInTradingWindow(new Date('2026-11-28T01:00:00Z'), windows)).toBe(true);
    expect(isInTradingWindow(new Date('2026-11-23T15:00:00Z'), windows)).toBe(true);
    expect(isInTradingWindow(new Date('2026-11-28T15:00:00Z'), windows)).toBe(false);
  });
  test('describeWindow reads like the config', () => {
    expect(describeWindow(NYSE)).toBe('mon,tue,wed,thu,fri 09:30-16:00 America/New_York');
  });
});
