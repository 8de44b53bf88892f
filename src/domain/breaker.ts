/**
 * The per-connector circuit breaker (docs/execution.md#circuit-breaker) as a pure state machine. The state is plain
 * JSON: it is stored in the database and shared by every instance, so nothing here lives in
 * memory between calls. Each function takes the current state (and the time) and returns the
 * next state plus the transition it made, which the caller appends to the event log.
 *
 * The decision (may this call pass?) is kept apart from the bookkeeping (a call succeeded or
 * failed), as cockatiel's IBreaker does. Concurrency is the caller's job: it stores `next` with a
 * conditional UPDATE on the state it read, so that of two instances racing for the half-open
 * probe only one wins.
 */

export type BreakerState =
  | { state: 'closed'; consecutive_failures: number }
  | { state: 'open'; consecutive_failures: number; opened_at: string }
  | {
      state: 'half_open';
      consecutive_failures: number;
      opened_at: string;
      probe_started_at: string | null;
      /** The signal let through as the probe; only its success closes the breaker (absent: none known). */
      probe_signal_id?: string;
    };

export type BreakerTransition = 'opened' | 'half_opened' | 'closed' | null;

export interface BreakerStep {
  next: BreakerState;
  /** What changed, for the event log and alerts; null when the state name stayed the same. */
  transition: BreakerTransition;
}

export interface BreakerDecision extends BreakerStep {
  allowed: boolean;
}

/** What `GET /admin/connectors` and `/admin/status` show (docs/http-api.md#connectors-and-breakers). */
export interface BreakerView {
  state: BreakerState['state'];
  consecutive_failures: number;
  opened_at: string | null;
}

export function initialBreaker(): BreakerState {
  return { state: 'closed', consecutive_failures: 0 };
}

/**
 * A call of `signalId` succeeded. Closed: the failure streak ends. Half-open: only the claimed
 * probe's success closes the breaker; an exit or a cancel let through meanwhile proves nothing
 * about the orders the breaker holds back. Open: unchanged, because only exits and cancels pass
 * while open; with `half_open_after_seconds: null` an operator must reset it
 * (docs/execution.md#circuit-breaker).
 */
export function onSuccess(s: BreakerState, _now: Date, signalId: string | null): BreakerStep {
  if (s.state === 'closed') return { next: initialBreaker(), transition: null };
  if (isProbe(s, signalId)) return { next: initialBreaker(), transition: 'closed' };
  return { next: s, transition: null };
}

/**
 * A permanent refusal (a 4xx other than 429) of `signalId`'s call: the connector judged the
 * request, which is neither a success nor a failure of the connector, so the streak and the state
 * stay. A refused probe frees the probe slot, so that the next risk-adding order probes at once.
 */
export function onRefused(s: BreakerState, _now: Date, signalId: string | null): BreakerStep {
  if (!isProbe(s, signalId)) return { next: s, transition: null };
  return { next: { state: 'half_open', consecutive_failures: s.consecutive_failures, opened_at: s.opened_at, probe_started_at: null }, transition: null };
}

function isProbe(s: BreakerState, signalId: string | null): s is Extract<BreakerState, { state: 'half_open' }> {
  return s.state === 'half_open' && signalId !== null && s.probe_signal_id === signalId;
}

/**
 * A transient failure (timeout, connection error, 429, 5xx). The streak trips the breaker at
 * `failure_threshold`; a failure while half-open re-opens it with a fresh `opened_at`, so the
 * next probe waits the full `half_open_after_seconds` again.
 */
export function onFailure(s: BreakerState, now: Date, opts: { failure_threshold: number }): BreakerStep {
  const consecutive_failures = s.consecutive_failures + 1;
  switch (s.state) {
    case 'closed':
      if (consecutive_failures >= opts.failure_threshold) {
        return { next: { state: 'open', consecutive_failures, opened_at: now.toISOString() }, transition: 'opened' };
      }
      return { next: { state: 'closed', consecutive_failures }, transition: null };
    case 'half_open':
      return { next: { state: 'open', consecutive_failures, opened_at: now.toISOString() }, transition: 'opened' };
    case 'open':
      return { next: { ...s, consecutive_failures }, transition: null };
  }
}

/**
 * May a call pass? `exit` is true for a call that reduces exposure (an exit or a cancel): those
 * are always tried, because refusing to close a position is worse than one more failed call.
 * `signalId` names the call that becomes the probe when this lets one through.
 *
 * - closed: everything passes.
 * - open: exits pass; others only once `half_open_after_seconds` (not null) have elapsed since
 *   `opened_at`, and then the caller's call becomes the one probe (→ half_open).
 * - half_open: exits pass; others pass only when no probe is in flight. A probe older than
 *   `half_open_after_seconds` is presumed lost (its instance crashed before reporting; the state is
 *   shared, so nobody else would ever clear it) and the caller becomes the new probe.
 */
export function canPass(
  s: BreakerState,
  now: Date,
  opts: { half_open_after_seconds: number | null },
  exit: boolean,
  signalId: string | null = null,
): BreakerDecision {
  const probe = signalId === null ? {} : { probe_signal_id: signalId };
  const t = now.getTime();
  const after = opts.half_open_after_seconds;
  switch (s.state) {
    case 'closed':
      return { allowed: true, next: s, transition: null };
    case 'open': {
      if (after !== null && t - Date.parse(s.opened_at) >= after * 1000) {
        const next: BreakerState = {
          state: 'half_open',
          consecutive_failures: s.consecutive_failures,
          opened_at: s.opened_at,
          probe_started_at: now.toISOString(),
          ...probe,
        };
        return { allowed: true, next, transition: 'half_opened' };
      }
      return { allowed: exit, next: s, transition: null };
    }
    case 'half_open': {
      const probeLost =
        s.probe_started_at === null || (after !== null && t - Date.parse(s.probe_started_at) >= after * 1000);
      if (probeLost) {
        const { probe_signal_id: _lost, ...rest } = s;
        return { allowed: true, next: { ...rest, probe_started_at: now.toISOString(), ...probe }, transition: null };
      }
      return { allowed: exit, next: s, transition: null };
    }
  }
}

/** `POST /admin/breakers/{connector}/reset`: closed with no streak. `transition` is null when it was closed already. */
export function resetBreaker(s?: BreakerState): BreakerStep {
  return { next: initialBreaker(), transition: s === undefined || s.state !== 'closed' ? 'closed' : null };
}

export function breakerView(s: BreakerState): BreakerView {
  return {
    state: s.state,
    consecutive_failures: s.consecutive_failures,
    opened_at: s.state === 'closed' ? null : s.opened_at,
  };
}

/**
 * Guard for a state read back from the database: the stored JSON is an edge like any other, so
 * it is checked before the state machine trusts it.
 */
export function isBreakerState(value: unknown): value is BreakerState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const n = v['consecutive_failures'];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return false;
  const isTime = (x: unknown): boolean => typeof x === 'string' && !Number.isNaN(Date.parse(x));
  switch (v['state']) {
    case 'closed':
      return true;
    case 'open':
      return isTime(v['opened_at']);
    case 'half_open':
      return (
        isTime(v['opened_at']) &&
        (v['probe_started_at'] === null || isTime(v['probe_started_at'])) &&
        (v['probe_signal_id'] === undefined || typeof v['probe_signal_id'] === 'string')
      );
    default:
      return false;
  }
}

/** Opens the breaker at once, whatever its streak (e.g. the broker says the account is blocked). */
export function tripBreaker(s: BreakerState, now: Date): BreakerStep {
  if (s.state === 'open') return { next: s, transition: null };
  return { next: { state: 'open', consecutive_failures: s.consecutive_failures, opened_at: now.toISOString() }, transition: 'opened' };
}
