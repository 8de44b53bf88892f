/**
 * Per-source rate limit: a token bucket of `perMinute` tokens refilled continuously. In memory
 * and per instance: with several instances each enforces the limit on what it receives
 * (documented in ARCHITECTURE.md).
 */
export interface RateLimiter {
  /** Takes one token at `nowMs`; returns 0 when allowed, else the ms until a token is free. */
  take(nowMs: number): number;
}

export function createRateLimiter(perMinute: number): RateLimiter {
  const ratePerMs = perMinute / 60_000;
  let tokens = perMinute;
  let last: number | null = null;
  return {
    take(nowMs) {
      if (last !== null) tokens = Math.min(perMinute, tokens + (nowMs - last) * ratePerMs);
      last = nowMs;
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - tokens) / ratePerMs));
    },
  };
}
