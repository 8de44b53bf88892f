/**
 * The gate: accepted → executing | rejected, decided against state read in the same step, and
 * the leases that tie an executing signal to the instance running it.
 */
import type { BreakerState, BreakerStep } from '../../domain/breaker.js';
import type { StoredGateState } from '../../domain/gate-state.js';
import type { Decision } from '../../domain/types.js';
import type { SignalRecord } from './signals.js';

export interface GateInput {
  signal_id: string;
  connector: string;
  instrument: string;
  now: Date;
  /** The executor instance taking the signal, and until when it holds it (renewed while it runs). */
  owner: string;
  lease_until: Date;
  /** Trading day (YYYY-MM-DD in `policy.trading_day_tz`) whose realized PnL the gate sees. */
  trading_day: string;
  /**
   * `policy.max_orders_per_minute`: orders of the last minute are counted up to one past it
   * (bounded work however busy the minute was); null: not counted (0).
   */
  order_rate_cap: number | null;
  /**
   * `close` and `target` at a connector whose orders are followed: decided only while the lane
   * has no open order (one found blocks the gate, by its signal), so that they are sized from the
   * settled position alone.
   */
  settle_open_orders: boolean;
  /**
   * Pure: evaluated inside the transaction against the state it reads. A returned breaker step
   * (a claimed half-open probe) is stored in the same transaction.
   */
  decide: (state: StoredGateState, breaker: BreakerState) => { decision: Decision; breaker: BreakerStep | null };
}

export type GateOutcome =
  | { kind: 'executing'; record: SignalRecord; decision: Decision }
  | { kind: 'rejected'; record: SignalRecord; decision: Decision }
  /** The signal was not `accepted` any more (another worker took it). */
  | { kind: 'skipped' }
  /**
   * An older signal of the same (connector, instrument) is still `accepted` (held by another
   * instance, or orphaned) or `executing` (its order in flight, here or at another instance, or
   * at a dead one until its lease is taken over): arrival order per lane comes first, so this one
   * waits.
   */
  | { kind: 'blocked'; by: string };

export interface GateStore {
  /**
   * accepted → executing | rejected, atomically with the decision, its exposure reservation and
   * its events. The gate state is read inside the same transaction, so two concurrent gates
   * cannot both pass a limit that only one fits under.
   */
  gateSignal(input: GateInput): Promise<GateOutcome>;
  /** Extends the lease of the owner's executing signals; returns how many it still holds. */
  renewLeases(owner: string, signalIds: string[], until: Date): Promise<number>;
  /**
   * Takes over `executing` signals whose lease expired (their instance died): they become the
   * caller's, to be reconciled by client_order_id before anything is placed again.
   */
  claimExpired(owner: string, now: Date, leaseUntil: Date, limit: number): Promise<SignalRecord[]>;
}
