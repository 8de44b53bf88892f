/**
 * The gate's decision as writes: whether the signal may be gated at all (still accepted, no
 * older signal of its lane accepted or executing), and then, from the decision against the state read in the
 * same step, the signal's new status and lease, the reservation, the breaker step and the events.
 */
import { initialBreaker, type BreakerState } from '../../domain/breaker.js';
import type { StoredGateState } from '../../domain/gate-state.js';
import type { Decision, SignalStatus } from '../../domain/types.js';
import type { GateInput } from '../contract/gate.js';
import { signalGated, type TimedEvent } from './events.js';
import { planBreakerStep, type BreakerPlan } from './runtime.js';

export type Admission<R> = { kind: 'skipped' } | { kind: 'blocked'; by: string } | { kind: 'gate'; row: R };

/**
 * An older signal of the lane in one of these blocks a younger one: not decided yet, or decided
 * and its order still in flight (its fill not booked: the younger decision would not see it,
 * and the broker would see the two in either order). Each dialect's lane query filters on these.
 */
export const LANE_BLOCKING_STATUSES = ['accepted', 'executing'] as const satisfies readonly SignalStatus[];

/**
 * The oldest of the lane's older blocking signals, given the oldest of each blocking status.
 * The dialects read one candidate per status, each the first row of its own index range: one
 * query over both statuses cannot use the index order and sorts every older signal of the lane,
 * which made each gate cost as much as the lane's backlog.
 */
export function oldestInLane<T extends { seq: number }>(candidates: ReadonlyArray<T | undefined>): T | undefined {
  let oldest: T | undefined;
  for (const c of candidates) if (c !== undefined && (oldest === undefined || c.seq < oldest.seq)) oldest = c;
  return oldest;
}

/** Only an accepted signal is gated; the dialect reads its lane only then. */
export const isGateable = <R extends { status: SignalStatus }>(row: R | undefined): row is R => row !== undefined && row.status === 'accepted';

/**
 * `row`: the signal as read (locked, in PostgreSQL); `older`: the OLDEST older signal of its
 * lane in LANE_BLOCKING_STATUSES (by seq), read only when the row is gateable (undefined
 * otherwise). Arrival order per lane comes first, so such a signal blocks this one.
 */
export function planGateAdmission<R extends { status: SignalStatus }>(row: R | undefined, older: { id: string } | undefined): Admission<R> {
  if (!isGateable(row)) return { kind: 'skipped' };
  if (older !== undefined) return { kind: 'blocked', by: older.id };
  return { kind: 'gate', row };
}

/**
 * A gate with `settle_open_orders` (close, target) whose decision allows it waits while an order
 * of its lane is open: nothing is written, and it is blocked by that order's signal, which the
 * executor then settles (cancels and waits for) before gating again. A refusal is recorded at
 * once, so that a close the gate refuses (stale, paused, an instrument not allowed) never
 * cancels anything. `openOrder` is read only when this returns true from `needsOpenOrder`.
 */
export function planSettleFirst(input: Pick<GateInput, 'settle_open_orders'>, plan: Pick<GatePlan, 'decision'>, openOrder: { signal_id: string } | undefined): { kind: 'blocked'; by: string } | null {
  return input.settle_open_orders && plan.decision.allowed && openOrder !== undefined ? { kind: 'blocked', by: openOrder.signal_id } : null;
}

/** Whether the lane's open orders must be read for this gate (see planSettleFirst). */
export const needsOpenOrder = (input: Pick<GateInput, 'settle_open_orders'>, plan: Pick<GatePlan, 'decision'>): boolean => input.settle_open_orders && plan.decision.allowed;

/** The columns the gate's conditional update sets (GatePlan['values']), in both dialects. */
export const GATE_COLUMNS = ['status', 'decision', 'decided_at', 'updated_at', 'order_side', 'lease_owner', 'lease_until'] as const satisfies readonly (keyof GatePlan['values'])[];

/** A reservation row's columns (GatePlan['reservation']), bound by name in both dialects. */
export const RESERVATION_COLUMNS = ['signal_id', 'connector', 'instrument', 'quantity', 'notional', 'created_at'] as const satisfies readonly (keyof NonNullable<GatePlan['reservation']>)[];

export interface GatePlan {
  decision: Decision;
  /** The columns the conditional update (`… WHERE status = 'accepted'`) sets. */
  values: {
    status: SignalStatus;
    decision: string;
    decided_at: number;
    updated_at: number;
    order_side: Decision['side'];
    lease_owner: string | null;
    lease_until: number | null;
  };
  reservation: { signal_id: string; connector: string; instrument: string; quantity: number; notional: number; created_at: number } | null;
  /** The step a claimed half-open probe makes, stored (and its transition logged) first. */
  breaker: BreakerPlan | null;
  /** `signal.executing` or `signal.rejected`, logged after the breaker's transition. */
  event: TimedEvent;
}

/** `storedBreaker`: the connector's stored breaker, null when none is stored (closed). */
export function planGate(input: GateInput, state: StoredGateState, storedBreaker: BreakerState | null): GatePlan {
  const verdict = input.decide(state, storedBreaker ?? initialBreaker());
  const { decision } = verdict;
  const now = input.now.getTime();
  const breakerPlan = verdict.breaker === null ? null : planBreakerStep(storedBreaker, verdict.breaker, input.connector, `probe ${input.signal_id}`, input.now);
  // An allowed order reserves its signed quantity (exits too) and its notional until it settles.
  const reservation =
    decision.allowed && decision.side !== null && decision.quantity !== null
      ? {
          signal_id: input.signal_id,
          connector: input.connector,
          instrument: input.instrument,
          quantity: decision.side === 'buy' ? decision.quantity : -decision.quantity,
          notional: decision.reserved_notional,
          created_at: now,
        }
      : null;
  return {
    decision,
    values: {
      status: decision.allowed ? 'executing' : 'rejected',
      decision: JSON.stringify(decision),
      decided_at: now,
      updated_at: now,
      order_side: decision.side,
      lease_owner: decision.allowed ? input.owner : null,
      lease_until: decision.allowed ? input.lease_until.getTime() : null,
    },
    reservation,
    breaker: breakerPlan,
    event: signalGated(input.signal_id, decision, input.now),
  };
}
