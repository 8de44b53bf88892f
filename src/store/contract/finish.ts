/** Settling an executing signal: its attempts, and the finish that books the fill. */
import type { Order, Side } from '../../domain/types.js';
import type { OrderRecord } from './orders.js';
import type { ModeState } from './runtime.js';
import type { ExecutionResult, SignalRecord } from './signals.js';

export interface Attempt {
  n: number;
  /** ISO-8601 time with offset; anything else is refused before a row is written. */
  at: string;
  outcome: string;
  error: string | null;
}

export interface Fill {
  side: Side;
  quantity: number;
  price: number;
}

export interface FinishInput {
  signal_id: string;
  status: 'executed' | 'failed';
  result: ExecutionResult;
  /** The order as the connector answered the placement (or a lookup), or null when none was placed. */
  order: Order | null;
  /**
   * The connector reports what happens to its orders (`order_updates` stream or poll): the order
   * gets its row, its fills so far are booked, and its reservation holds the unfilled remainder
   * until it is terminal. False (fire-and-forget): what the answer says filled is booked and
   * the reservation is released now.
   */
  track_order: boolean;
  now: Date;
  trading_day: string;
  /**
   * `policy.max_daily_loss` (null: none). A fill that breaches it switches the mode to
   * `exit_only` (reason `daily_loss`) in the same transaction (guardrails/daily-loss.ts).
   */
  max_daily_loss: number | null;
  /** The attempt that settled the signal, recorded in the same step. */
  attempt?: Attempt;
}

export interface FinishOutcome {
  record: SignalRecord;
  realized_pnl_today: number;
  /** PnL this fill realized (0 without a fill, or when the signal was already final). */
  realized_pnl_fill: number;
  /** The mode this finish switched to (`exit_only`, `daily_loss`), or null when it did not. */
  mode_changed: ModeState | null;
  /** The order row, when the order is followed. */
  order: OrderRecord | null;
}

export interface FinishStore {
  recordAttempt(signalId: string, attempt: Attempt): Promise<void>;
  listAttempts(signalId: string): Promise<Attempt[]>;
  /**
   * executing → executed | failed, recording the order (its row and what filled so far), and
   * releasing the reservation unless an order followed is still open, appending the events.
   */
  finishSignal(input: FinishInput): Promise<FinishOutcome>;
}
