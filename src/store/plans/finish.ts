/**
 * Settling a signal: the attempt row (its time checked here, for both dialects), the fill booked
 * into the position (domain/ledger.ts applyFill), the final status and result, the `signal.*`
 * event, and the daily-loss mode switch (guardrails/daily-loss.ts).
 */
import { applyFill, type LedgerEntry } from '../../domain/ledger.js';
import { tripsDailyLoss } from '../../guardrails/daily-loss.js';
import type { Attempt, Fill, FinishInput } from '../contract/finish.js';
import type { ModeState } from '../contract/runtime.js';
import { signalAttempt, signalFinished, type TimedEvent } from './events.js';
import { fillIncrement } from './orders.js';
import { nextPositionVersion } from './ledger.js';
import { planModeWrite, type ModePlan } from './runtime.js';

/** ISO-8601 date and time with `Z` or an offset, as `Date.toISOString()` writes it. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An attempt row's columns (AttemptPlan['row']), bound by name in both dialects. */
export const ATTEMPT_COLUMNS = ['signal_id', 'n', 'at', 'outcome', 'error'] as const satisfies readonly (keyof AttemptPlan['row'])[];

export interface AttemptPlan {
  row: { signal_id: string; n: number; at: number; outcome: string; error: string | null };
  event: TimedEvent;
}

/** Throws (before anything is written) when `attempt.at` is not a valid ISO time. */
export function planAttempt(signalId: string, attempt: Attempt): AttemptPlan {
  const at = ISO_TIME.test(attempt.at) ? Date.parse(attempt.at) : Number.NaN;
  if (Number.isNaN(at)) throw new RangeError(`recordAttempt: invalid time ${JSON.stringify(attempt.at)} (expected ISO-8601 with offset)`);
  return { row: { signal_id: signalId, n: attempt.n, at, outcome: attempt.outcome, error: attempt.error }, event: signalAttempt(signalId, attempt) };
}

/** A fire-and-forget order's fill: what the placement's answer says filled (usually nothing), booked at once. */
export const untrackedFill = (input: Pick<FinishInput, 'order'>): Fill | null =>
  input.order === null ? null : fillIncrement({ filled_quantity: 0, avg_fill_price: null }, input.order).fill;

export interface FillPlan {
  position: { quantity: number; avg_price: number; last_price: number; updated_at: number };
  /** What this fill realized, added to the trading day's PnL. */
  realized: number;
}

/**
 * A fill against the current position (null or a flat row: none). The fill's price becomes the
 * last price; the position's version moves forward (reconciliation compares it).
 */
export function planFill(current: (LedgerEntry & { updated_at: number }) | null, fill: Fill, now: Date): FillPlan {
  const next = applyFill(current, fill);
  return {
    position: { quantity: next.quantity, avg_price: next.avg_price, last_price: fill.price, updated_at: nextPositionVersion(current?.updated_at, now) },
    realized: next.realized_pnl,
  };
}

/** The columns the finish's update sets (FinishPlan['values']), in both dialects. */
export const FINISH_COLUMNS = ['status', 'result', 'updated_at', 'lease_owner', 'lease_until'] as const satisfies readonly (keyof FinishPlan['values'])[];

export interface FinishPlan {
  values: { status: FinishInput['status']; result: string; updated_at: number; lease_owner: null; lease_until: null };
  event: TimedEvent;
}

/** executing → executed | failed: the lease is cleared with it. */
export function planFinish(input: FinishInput): FinishPlan {
  return {
    values: { status: input.status, result: JSON.stringify(input.result), updated_at: input.now.getTime(), lease_owner: null, lease_until: null },
    event: signalFinished(input),
  };
}

/**
 * Whether a fill changes the day's realized PnL. One that realizes nothing (it opens or adds to a
 * position) leaves the day's row alone: on PostgreSQL every fill of every instance would
 * otherwise queue on that one row's lock.
 */
export const movesDailyPnl = (realizedFill: number): boolean => realizedFill !== 0;

/**
 * Whether the mode must be read at all: only a losing fill under a limit can trip it (the
 * PostgreSQL store takes the mode lock only then).
 */
export const mayTripDailyLoss = (input: Pick<FinishInput, 'max_daily_loss'>, realizedFill: number): boolean => input.max_daily_loss !== null && realizedFill < 0;

/**
 * The daily-loss switch, decided against the mode read in the same transaction: `exit_only`
 * (reason `daily_loss`) through the mode write rule, or null when the fill does not trip it.
 */
export function planDailyLoss(input: Pick<FinishInput, 'max_daily_loss' | 'now'>, realizedFill: number, realizedToday: number, current: ModeState | null): ModePlan | null {
  const trips = tripsDailyLoss({ max_daily_loss: input.max_daily_loss, realized_pnl_fill: realizedFill, realized_pnl_today: realizedToday, mode: current?.mode ?? 'enabled' });
  return trips ? planModeWrite(current, 'exit_only', 'daily_loss', 'guardrails', input.now) : null;
}
