/**
 * Wall-clock time in a time zone, for trading windows (docs/configuration.md#policy `policy.trading_windows`) and
 * for the trading day that realized PnL is summed over (`policy.trading_day_tz`). Pure: the
 * instant is always a parameter. Zone arithmetic is left to Intl (the runtime's tz database), so
 * daylight-saving changes follow the wall clock: a window "09:30–16:00 America/New_York" opens at
 * 09:30 local time on both sides of a DST change.
 */
import type { TradingWindow, Weekday } from '../config/schema.js';

/** The local calendar date, weekday and minute of the day of an instant in one time zone. */
export interface WallClock {
  /** YYYY-MM-DD. */
  readonly date: string;
  readonly day: Weekday;
  /** Minutes since local midnight, 0–1439 (seconds are dropped: windows are minute-aligned). */
  readonly minute: number;
}

const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

// Building an Intl.DateTimeFormat is far slower than using one; the gate runs per signal, so one
// formatter per zone is kept. A cache of immutable formatters does not make the callers impure.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      // h23, not hour12: false: the latter prints midnight as "24" on some ICU versions.
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

// The gate and the finish ask for the trading day of every signal, and formatToParts is costly
// (about 5 µs); the last answer per zone is kept for its second. Exact: every zone's offset is a
// whole number of seconds, so all instants of one UTC second share their local minute.
const lastClock = new Map<string, { second: number; clock: WallClock }>();

/** The wall clock of `now` in `tz` (an IANA zone, validated by the config schema). */
export function wallClock(now: Date, tz: string): WallClock {
  const second = Math.floor(now.getTime() / 1000);
  const last = lastClock.get(tz);
  if (last !== undefined && last.second === second) return last.clock;
  const clock = computeWallClock(now, tz);
  lastClock.set(tz, { second, clock });
  return clock;
}

function computeWallClock(now: Date, tz: string): WallClock {
  const parts: Record<string, string> = {};
  for (const p of formatterFor(tz).formatToParts(now)) parts[p.type] = p.value;
  const day = WEEKDAYS.find((d) => d === parts.weekday?.toLowerCase());
  if (day === undefined) throw new Error(`unexpected weekday ${String(parts.weekday)} from Intl for ${tz}`);
  const hour = Number(parts.hour) % 24;
  return { date: `${parts.year}-${parts.month}-${parts.day}`, day, minute: hour * 60 + Number(parts.minute) };
}

/** The trading day of `now` in `tz`, as YYYY-MM-DD: the key realized PnL per day is stored under. */
export function tradingDay(now: Date, tz: string): string {
  return wallClock(now, tz).date;
}

function minuteOf(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

function dayBefore(day: Weekday): Weekday {
  const i = WEEKDAYS.indexOf(day);
  return WEEKDAYS[(i + 6) % 7] ?? day;
}

/**
 * Whether `now` falls in one window. `from` is inclusive, `to` exclusive. A window whose `to` is
 * not after its `from` spans midnight: it opens at `from` on each listed day and closes at `to`
 * the next day, so the hours after midnight belong to the day the window opened on (a Friday
 * 22:00–02:00 window is open early on Saturday, not early on Friday). `from` equal to `to` is
 * therefore a 24-hour window, never an empty one.
 */
export function isInWindow(now: Date, window: TradingWindow): boolean {
  const { day, minute } = wallClock(now, window.tz);
  const from = minuteOf(window.from);
  const to = minuteOf(window.to);
  if (from < to) return window.days.includes(day) && minute >= from && minute < to;
  return (window.days.includes(day) && minute >= from) || (window.days.includes(dayBefore(day)) && minute < to);
}

/**
 * Whether `now` falls in at least one of the windows. An empty list matches nothing; the gate
 * reads an empty `trading_windows` as "no restriction" before it ever asks.
 */
export function isInTradingWindow(now: Date, windows: readonly TradingWindow[]): boolean {
  return windows.some((w) => isInWindow(now, w));
}

/** A window as an operator wrote it, for rejection messages: "mon,tue 09:30-16:00 America/New_York". */
export function describeWindow(window: TradingWindow): string {
  return `${window.days.join(',')} ${window.from}-${window.to} ${window.tz}`;
}

// Offsets need seconds, which the wall clock above drops: one more cached formatter per zone.
const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
function offsetFormatterFor(tz: string): Intl.DateTimeFormat {
  let f = offsetFormatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    offsetFormatters.set(tz, f);
  }
  return f;
}

/** How far `tz`'s wall clock is ahead of UTC at `ms`, in ms (whole seconds). */
function zoneOffsetMs(ms: number, tz: string): number {
  const p: Record<string, number> = {};
  for (const part of offsetFormatterFor(tz).formatToParts(new Date(ms))) p[part.type] = Number(part.value);
  const wall = Date.UTC(p.year ?? 0, (p.month ?? 1) - 1, p.day ?? 1, (p.hour ?? 0) % 24, p.minute ?? 0, p.second ?? 0);
  return wall - Math.floor(ms / 1000) * 1000;
}

/**
 * The end of `now`'s trading day in `tz` (the next local midnight), as an instant: when the mock
 * expires `day` orders. Found by correcting a guess with the zone's offset twice, so a day that
 * is 23 or 25 hours long (a daylight-saving change) ends at its own midnight.
 */
export function tradingDayEnd(now: Date, tz: string): Date {
  const [y, m, d] = tradingDay(now, tz).split('-').map(Number);
  const midnightAsUtc = Date.UTC(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + 1);
  let guess = midnightAsUtc - zoneOffsetMs(now.getTime(), tz);
  guess = midnightAsUtc - zoneOffsetMs(guess, tz);
  return new Date(guess);
}
