/**
 * When booking a fill switches the mode to `exit_only` (reason `daily_loss`). Decided inside the
 * transaction that books the fill, against the mode read in it, so the switch is atomic with the
 * fill that causes it and never overwrites an operator's concurrent change.
 */
import type { Mode } from '../domain/types.js';

export interface DailyLossInput {
  /** `policy.max_daily_loss`; null: no limit. */
  max_daily_loss: number | null;
  /** PnL this fill realized. */
  realized_pnl_fill: number;
  /** The trading day's realized PnL after this fill. */
  realized_pnl_today: number;
  /** The stored mode in the same transaction. */
  mode: Mode;
}

/**
 * Only a fill that realizes a loss trips the limit, and only from `enabled`: after an operator
 * re-enabled with the day's loss standing, exits and cancels must not flip it back (the
 * `daily_loss` rule still refuses increases meanwhile), and `paused` is never loosened.
 */
export function tripsDailyLoss(input: DailyLossInput): boolean {
  return input.max_daily_loss !== null && input.mode === 'enabled' && input.realized_pnl_fill < 0 && input.realized_pnl_today <= -input.max_daily_loss;
}
