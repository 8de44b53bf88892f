/**
 * Which event each step appends, and with what data: built once here for both dialects, so the
 * log two stores write for the same steps is the same (and hashes the same).
 */
import { breakerView, type BreakerStep } from '../../domain/breaker.js';
import type { PositionDrift } from '../../domain/ledger.js';
import type { Decision, Mode } from '../../domain/types.js';
import type { NewEvent } from '../contract/events.js';
import type { Attempt, FinishInput } from '../contract/finish.js';
import type { NewSignal } from '../contract/signals.js';

/** An event and the time it is logged at. */
export interface TimedEvent {
  event: NewEvent;
  at: Date;
}

/** An event appended on its own: at its own time when it has one, else at the store's clock. */
export function appendedEvent(event: NewEvent, at: Date | undefined, now: () => Date): TimedEvent {
  return { event, at: at ?? now() };
}

export function signalAccepted(input: NewSignal): TimedEvent {
  return {
    event: {
      type: 'signal.accepted',
      signal_id: input.signal_id,
      data: { source: input.source, idempotency_key: input.idempotency_key, instrument: input.instrument, action: input.signal.action },
    },
    at: input.received_at,
  };
}

export function signalGated(signalId: string, decision: Decision, now: Date): TimedEvent {
  return { event: { type: decision.allowed ? 'signal.executing' : 'signal.rejected', signal_id: signalId, data: { decision } }, at: now };
}

/** Logged at the attempt's own time (validated by planAttempt before this is built). */
export function signalAttempt(signalId: string, attempt: Attempt): TimedEvent {
  return { event: { type: 'signal.attempt', signal_id: signalId, data: { ...attempt } }, at: new Date(attempt.at) };
}

export function signalFinished(input: Pick<FinishInput, 'signal_id' | 'status' | 'result' | 'now'>): TimedEvent {
  return { event: { type: `signal.${input.status}`, signal_id: input.signal_id, data: { result: input.result } }, at: input.now };
}

export function signalRetried(signalId: string, actor: string, now: Date): TimedEvent {
  return { event: { type: 'signal.retried', signal_id: signalId, data: { actor } }, at: now };
}

export function modeChanged(from: Mode | null, to: Mode, reason: string | null, actor: string, now: Date): TimedEvent {
  return { event: { type: 'mode.changed', data: { from, to, reason, actor } }, at: now };
}

/** null when the step made no transition. */
export function breakerTransition(connector: string, step: BreakerStep, reason: string, now: Date): TimedEvent | null {
  if (step.transition === null) return null;
  return { event: { type: `breaker.${step.transition}`, data: { connector, reason, ...breakerView(step.next) } }, at: now };
}

/** null when nothing drifted. */
export function positionsDrift(connector: string, drift: PositionDrift[], now: Date): TimedEvent | null {
  return drift.length === 0 ? null : { event: { type: 'positions.drift', data: { connector, drift } }, at: now };
}
