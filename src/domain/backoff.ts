/**
 * Retry timing for the executor's single retry loop (docs/configuration.md#execution `execution.backoff`, docs/execution.md#placing-orders):
 * exponential backoff with full jitter, a server-requested wait (Retry-After, X-RateLimit-Reset)
 * honoured on top of it, and the parsers for those two headers. Pure: no clock, no randomness of
 * its own; the caller passes `random` and `now`, so every case is a line in a table test.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's delay; it doubles per attempt. */
  base_ms: number;
  /** No jittered delay is ever longer than this. */
  cap_ms: number;
}

/**
 * The longest wait a server may impose through Retry-After / X-RateLimit-Reset (5 minutes), unless
 * `cap_ms` is longer. A broker asking for more is in effect down; one more refused attempt after
 * five minutes costs less than a signal that silently waits for an hour (its value is stale long
 * before that, and the breaker is the tool for a long outage).
 */
export const MAX_SERVER_WAIT_MS = 5 * 60_000;

/**
 * Full-jitter exponential backoff (AWS "Exponential Backoff and Jitter"): a uniform draw in
 * [0, min(cap, base × 2^(attempt-1))). Full jitter spreads the retries of many lanes and instances
 * that failed together, instead of having them all come back in lock-step.
 * `attempt` is 1 for the delay before the first retry; values below 1 are treated as 1.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number): number {
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  // 2 ** n overflows to Infinity for very large n; Math.min with the cap keeps it finite.
  const ceiling = Math.max(0, Math.min(opts.cap_ms, opts.base_ms * 2 ** (n - 1)));
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.floor(unit * ceiling);
}

/**
 * The delay before the next attempt: the jittered backoff, but never shorter than what the server
 * asked for (`retryAfterMs`). The server's request is truncated at max(cap_ms, MAX_SERVER_WAIT_MS)
 * so that a bogus or hostile header cannot park a signal for days.
 */
export function nextDelay(attempt: number, opts: BackoffOptions, random: () => number, retryAfterMs?: number): number {
  const jittered = backoffDelay(attempt, opts, random);
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0) return jittered;
  const serverWait = Math.min(Math.ceil(retryAfterMs), Math.max(opts.cap_ms, MAX_SERVER_WAIT_MS));
  return Math.max(jittered, serverWait);
}

const DAY_NAME = /^(mon|tue|wed|thu|fri|sat|sun)/i;
const HAS_ZONE = /\b(gmt|utc)\b|[+-]\d{4}$/i;

/**
 * A Retry-After header value (RFC 9110 §10.2.3) as milliseconds from `now`: either delta-seconds
 * (`120`) or an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete RFC 850 and asctime forms
 * too, which the RFC says recipients must accept). A date in the past is 0. Anything else, or
 * null, is undefined: a header we cannot read is treated as absent, not as "retry now".
 */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Only strings shaped like an HTTP-date: V8's Date.parse accepts far too much ("a 1" is a date).
  if (!DAY_NAME.test(v)) return undefined;
  // asctime carries no zone, and HTTP-dates are always GMT: do not let Date.parse use local time.
  const at = Date.parse(HAS_ZONE.test(v) ? v : `${v} GMT`);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/**
 * Alpaca's X-RateLimit-Reset (a unix epoch in seconds at which the window resets) as milliseconds
 * from `now`; 0 when it has passed, undefined when absent or unreadable.
 */
export function parseRateLimitReset(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (!/^\d+(\.\d+)?$/.test(v)) return undefined;
  return Math.max(0, Math.ceil(Number(v) * 1000 - now.getTime()));
}
