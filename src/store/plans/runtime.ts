/**
 * The write rules of the runtime state: when a mode is stored (and logged), and when a breaker
 * step is stored (and logged). Both dialects read the current value, ask here, and write what
 * the plan says.
 */
import type { BreakerState, BreakerStep } from '../../domain/breaker.js';
import type { Mode } from '../../domain/types.js';
import type { ModeState } from '../contract/runtime.js';
import { breakerTransition, modeChanged, type TimedEvent } from './events.js';

export interface ModePlan {
  /** The mode after the step (what the verb returns). */
  state: ModeState;
  /** What to store, or null when the stored mode stands. */
  write: ModeState | null;
  event: TimedEvent | null;
}

/** setMode: a no-op when the same mode and reason are stored already. */
export function planModeWrite(current: ModeState | null, mode: Mode, reason: string | null, actor: string, now: Date): ModePlan {
  if (current !== null && current.mode === mode && current.reason === reason) return { state: current, write: null, event: null };
  const next: ModeState = { mode, reason, changed_at: now.toISOString() };
  return { state: next, write: next, event: modeChanged(current?.mode ?? null, mode, reason, actor, now) };
}

/** initMode: writes only when no mode is stored yet. */
export function planInitMode(current: ModeState | null, mode: Mode, now: Date): ModePlan {
  if (current !== null) return { state: current, write: null, event: null };
  const next: ModeState = { mode, reason: 'initial_mode', changed_at: now.toISOString() };
  return { state: next, write: next, event: modeChanged(null, mode, 'initial_mode', 'config', now) };
}

export interface BreakerPlan {
  state: BreakerState;
  /** What to store, or null when nothing changed. */
  write: BreakerState | null;
  event: TimedEvent | null;
}

function sameBreaker(a: BreakerState, b: BreakerState): boolean {
  return (
    a.state === b.state &&
    a.consecutive_failures === b.consecutive_failures &&
    (a.state === 'closed' || b.state === 'closed' || a.opened_at === b.opened_at) &&
    (a.state !== 'half_open' || b.state !== 'half_open' || (a.probe_started_at === b.probe_started_at && a.probe_signal_id === b.probe_signal_id))
  );
}

/**
 * A breaker step against the stored breaker (null: none stored, which reads as closed). Most
 * steps (a success on a healthy breaker) change nothing: no write then, and a closed breaker
 * with no failures is never written where none is stored.
 */
export function planBreakerStep(stored: BreakerState | null, step: BreakerStep, connector: string, reason: string, now: Date): BreakerPlan {
  const unchanged = stored === null ? step.next.state === 'closed' && step.next.consecutive_failures === 0 : sameBreaker(stored, step.next);
  return { state: step.next, write: unchanged ? null : step.next, event: breakerTransition(connector, step, reason, now) };
}
