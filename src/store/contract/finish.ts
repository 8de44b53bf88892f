/** Settling an executing signal: its attempts, and the finish that books the fill. */
import type { Side } from '../../domain/types.js';
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
  /** The fill to book into the ledger, if the order filled (fully or partly). */
  fill: Fill | null;
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
}

export interface FinishStore {
  recordAttempt(signalId: string, attempt: Attempt): Promise<void>;
  listAttempts(signalId: string): Promise<Attempt[]>;
  /** executing → executed | failed, booking the fill, releasing the reservation, appending events. */
  finishSignal(input: FinishInput): Promise<FinishOutcome>;
}
