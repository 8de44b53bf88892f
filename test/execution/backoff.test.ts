/**
 * Backoff and header parsing: pure functions, so every case is one line of a table with an
 * injected `random` and `now`.
 */
import { describe, expect, test } from 'vitest';
import {
  MAX_SERVER_WAIT_MS,
  backoffDelay,
  nextDelay,
  parseRateLimitReset,
  parseRetryAfter,
} from '../../src/domain/backoff.js';

const opts = { base_ms: 250, cap_ms: 30_000 };
const fixed = (r: number) => () => r;

describe('backoffDelay: full jitter over min(cap, base × 2^(attempt-1))', () => {
  const cases: { name: string; attempt: number; r: number; want: number }[] = [
    { name: 'attempt 1, top of range', attempt: 1, r: 0.999_999, want: 249 },
    { name: 'attempt 1, half', attempt: 1, r: 0.5, want: 125 },
    { name: 'attempt 2 doubles', attempt: 2, r: 0.5, want: 250 },
    { name: 'attempt 3 doubles again', attempt: 3, r: 0.5, want: 500 },
    { name: 'random 0 gives 0 (full jitter)', attempt: 4, r: 0, want: 0 },
    { name: 'capped at cap_ms', attempt: 10, r: 0.5, want: 15_000 },
    { name: 'huge attempt stays capped (no Infinity)', attempt: 5000, r: 0.5, want: 15_000 },
    { name: 'attempt 0 treated as 1', attempt: 0, r: 0.5, want: 125 },
    { name: 'random above 1 clamped', attempt: 1, r: 7, want: 250 },
    { name: 'random NaN treated as 0', attempt: 1, r: Number.NaN, want: 0 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(backoffDelay(c.attempt, opts, fixed(c.r))).toBe(c.want);
    });
  }

  test('stays within [0, ceiling) for many random draws', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(opts.cap_ms, opts.base_ms * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, opts, Math.random);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }
    }
  });
});

describe('nextDelay: never shorter than the server asked, capped sanely', () => {
  const cases: { name: string; attempt: number; r: number; retryAfter?: number; want: number }[] = [
    { name: 'no Retry-After: plain backoff', attempt: 2, r: 0.5, want: 250 },
    { name: 'Retry-After longer than backoff wins', attempt: 1, r: 0.5, retryAfter: 2000, want: 2000 },
    { name: 'backoff longer than Retry-After wins', attempt: 10, r: 0.5, retryAfter: 1000, want: 15_000 },
    { name: 'fractional Retry-After rounds up', attempt: 1, r: 0, retryAfter: 1000.2, want: 1001 },
    { name: 'Retry-After 0 means backoff only', attempt: 1, r: 0.5, retryAfter: 0, want: 125 },
    { name: 'negative Retry-After ignored', attempt: 1, r: 0.5, retryAfter: -5, want: 125 },
    { name: 'NaN Retry-After ignored', attempt: 1, r: 0.5, retryAfter: Number.NaN, want: 125 },
    { name: 'hour-long Retry-After truncated', attempt: 1, r: 0.5, retryAfter: 3_600_000, want: MAX_SERVER_WAIT_MS },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(nextDelay(c.attempt, opts, fixed(c.r), c.retryAfter)).toBe(c.want);
    });
  }

  test('a cap_ms above the server-wait limit raises the limit', () => {
    const big = { base_ms: 1000, cap_ms: 600_000 };
    expect(nextDelay(1, big, fixed(0), 3_600_000)).toBe(600_000);
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-11-22T10:00:00Z');
  const cases: { name: string; value: string | null; want: number | undefined }[] = [
    { name: 'absent', value: null, want: undefined },
    { name: 'delta-seconds', value: '120', want: 120_000 },
    { name: 'delta-seconds with spaces', value: ' 3 ', want: 3000 },
    { name: 'zero', value: '0', want: 0 },
    { name: 'IMF-fixdate ahead', value: 'Sun, 22 Nov 2026 10:00:30 GMT', want: 30_000 },
    { name: 'RFC 850 date', value: 'Sunday, 22-Nov-26 10:01:00 GMT', want: 60_000 },
    { name: 'asctime date (no zone: GMT)', value: 'Sun Nov 22 10:00:05 2026', want: 5000 },
    { name: 'date in the past is 0', value: 'Sun, 22 Nov 2026 09:00:00 GMT', want: 0 },
    { name: 'negative number is invalid', value: '-5', want: undefined },
    { name: 'decimal seconds are invalid', value: '1.5', want: undefined },
    { name: 'garbage', value: 'soon', want: undefined },
    { name: 'loose date-ish text is not an HTTP-date', value: 'a 1', want: undefined },
    { name: 'empty', value: '', want: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(parseRetryAfter(c.value, now)).toBe(c.want);
    });
  }
});

describe('parseRateLimitReset (unix epoch seconds)', () => {
  const now = new Date('2026-11-22T10:00:00.250Z');
  const epoch = Math.floor(now.getTime() / 1000);
  const cases: { name: string; value: string | null; want: number | undefined }[] = [
    { name: 'absent', value: null, want: undefined },
    { name: 'one second ahead (from a fractional now)', value: String(epoch + 1), want: 750 },
    { name: 'a minute ahead', value: String(epoch + 60), want: 59_750 },
    { name: 'passed is 0', value: String(epoch - 10), want: 0 },
    { name: 'fractional epoch', value: `${epoch + 2}.5`, want: 2250 },
    { name: 'garbage', value: 'tomorrow', want: undefined },
    { name: 'negative', value: '-1', want: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(parseRateLimitReset(c.value, now)).toBe(c.want);
    });
  }
});
