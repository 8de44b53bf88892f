/**
 * A replay window as a sender writes it (the CLI's --from/--to, the admin route's body), checked
 * once for both: ISO-8601 times with a zone, or dates (UTC midnight), `from` before `to`.
 */

/** The most a replay over HTTP may cover, so one request cannot exhaust the process. */
export const HTTP_REPLAY_MAX_DAYS = 31;
export const HTTP_REPLAY_MAX_SIGNALS = 10_000;

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** An ISO-8601 time with a zone, or a date; null when it is neither (or no real date). */
export function parseIsoTime(text: string): Date | null {
  if (!ISO.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

export type WindowCheck = { ok: true; from: Date; to: Date } | { ok: false; problems: Array<{ field: 'from' | 'to'; message: string }> };

export function checkReplayWindow(fromText: string, toText: string): WindowCheck {
  const problems: Array<{ field: 'from' | 'to'; message: string }> = [];
  const expected = 'expected an ISO-8601 time with a zone (2026-03-10T14:30:00Z) or a date (2026-03-10)';
  const from = parseIsoTime(fromText);
  const to = parseIsoTime(toText);
  if (from === null) problems.push({ field: 'from', message: `from: ${expected}, got ${JSON.stringify(fromText)}` });
  if (to === null) problems.push({ field: 'to', message: `to: ${expected}, got ${JSON.stringify(toText)}` });
  if (from !== null && to !== null && from.getTime() >= to.getTime()) {
    problems.push({ field: 'to', message: `to: expected a time after from (${from.toISOString()}), got ${to.toISOString()}` });
  }
  return from !== null && to !== null && problems.length === 0 ? { ok: true, from, to } : { ok: false, problems };
}
