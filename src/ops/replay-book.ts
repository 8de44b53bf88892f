/**
 * Replay's simulated broker and ledger (docs/configuration.md#sluice-replay): pure, in memory,
 * one per policy replayed. It fills an allowed order at once at the signal's own price (a market
 * order at `price`, a limit order at its limit when `price` crosses it, a stop when `price`
 * reaches it), books the fill with the live ledger arithmetic (`applyFill`), sums realized PnL per
 * connector and trading day, and switches to exit_only when a fill trips the daily-loss limit,
 * as live does (`tripsDailyLoss`). From it comes the gate state each replayed signal is decided
 * against: no orders in flight (fills are immediate), nothing reserved.
 */
import type { PolicyConfig } from '../config/schema.js';
import type { StoredGateState } from '../domain/gate-state.js';
import { applyFill, grossExposure, roundQty, type LedgerEntry } from '../domain/ledger.js';
import type { Decision, Mode, Rule, Signal } from '../domain/types.js';
import { tripsDailyLoss } from '../guardrails/daily-loss.js';
import { tradingDay } from '../guardrails/trading-time.js';

/** What became of a decided signal at the simulated broker. */
export type FillKind = 'filled' | 'unfilled' | 'unpriced' | 'none';

export interface SimulatedFill {
  kind: FillKind;
  price: number | null;
}

/**
 * Where an allowed order fills, from the signal alone. `none`: nothing was ordered (rejected,
 * or nothing to do); `unpriced`: the signal carries no `price`, so nothing can be booked;
 * `unfilled`: a limit or stop the signal's price did not reach.
 */
export function simulateFill(signal: Signal, decision: Pick<Decision, 'allowed' | 'side' | 'quantity'>): SimulatedFill {
  const { side, quantity } = decision;
  if (!decision.allowed || side === null || quantity === null || quantity <= 0) return { kind: 'none', price: null };
  const price = signal.price;
  if (price === undefined) return { kind: 'unpriced', price: null };
  const buy = side === 'buy';
  const stopReached = (stop: number | undefined): boolean => stop !== undefined && (buy ? price >= stop : price <= stop);
  const limitCrossed = (limit: number | undefined): boolean => limit !== undefined && (buy ? price <= limit : price >= limit);
  const unfilled: SimulatedFill = { kind: 'unfilled', price: null };
  switch (signal.order_type) {
    case 'market':
      return { kind: 'filled', price };
    case 'limit':
      return limitCrossed(signal.limit_price) ? { kind: 'filled', price: signal.limit_price ?? price } : unfilled;
    case 'stop':
      return stopReached(signal.stop_price) ? { kind: 'filled', price } : unfilled;
    case 'stop_limit':
      return stopReached(signal.stop_price) && limitCrossed(signal.limit_price) ? { kind: 'filled', price: signal.limit_price ?? price } : unfilled;
  }
}

interface BookPosition extends LedgerEntry {
  last_price: number | null;
}

export interface DailyLossTrip {
  day: string;
  at: string;
  signal_id: string;
  connector: string;
  realized_pnl_day: number;
}

export interface BookTotals {
  signals: number;
  allowed: number;
  rejected: number;
  /** Rejected signals per failed rule (a signal failing two rules counts under both). */
  rejected_by_rule: Partial<Record<Rule, number>>;
  /** Allowed orders the signal gave no price for: decided, not booked. */
  unpriced: number;
  /** Allowed limit or stop orders the signal's price did not reach. */
  unfilled: number;
  /** Signals whose replayed decision (allowed, side, quantity, failed rules) differs from the recorded one. */
  differs_from_original: number;
  positions: Array<{ connector: string; instrument: string; quantity: number; avg_price: number }>;
  peak_gross_exposure: number;
  realized_pnl: number;
  /** Realized PnL per trading day (policy.trading_day_tz), all connectors. */
  realized_pnl_by_day: Record<string, number>;
  daily_loss_tripped: DailyLossTrip | null;
  final_mode: Mode;
}

const key = (connector: string, instrument: string): string => `${connector}\u0000${instrument}`;
const money = (n: number): number => Math.round(n * 1e6) / 1e6 + 0;

/** One policy's simulated book; `gateState` → decide → `record`, signal by signal. */
export class ReplayBook {
  private mode: Mode = 'enabled';
  private readonly positions = new Map<string, BookPosition & { connector: string; instrument: string }>();
  private readonly pnl = new Map<string, number>();
  private readonly byDay = new Map<string, number>();
  /** Times (ms) of this replay's own orders, oldest first, pruned past the minute. */
  private readonly orderTimes: number[] = [];
  private readonly totals = { signals: 0, allowed: 0, rejected: 0, unpriced: 0, unfilled: 0, differs: 0 };
  private readonly byRule = new Map<Rule, number>();
  private realized = 0;
  private peak = 0;
  private trip: DailyLossTrip | null = null;

  constructor(readonly policy: PolicyConfig) {}

  /** The gate state of a signal at `at`, from this book alone (the breaker is closed: the caller passes it). */
  gateState(connector: string, instrument: string, at: Date): StoredGateState {
    const position = this.positions.get(key(connector, instrument));
    const since = at.getTime() - 60_000;
    while (this.orderTimes.length > 0 && (this.orderTimes[0] ?? 0) < since) this.orderTimes.shift();
    return {
      mode: this.mode,
      position: position?.quantity ?? 0,
      pending_quantity: 0,
      last_price: position?.last_price ?? null,
      gross_exposure: this.gross(connector),
      reserved_exposure: 0,
      reserved_instrument: 0,
      realized_pnl_today: this.pnl.get(key(connector, tradingDay(at, this.policy.trading_day_tz))) ?? 0,
      // Counted up to one past the limit, as live counts them.
      orders_last_minute: this.ordersLastMinute(since),
    };
  }

  /** Books a decided signal: counts it, fills it at the simulated broker, and trips the daily loss. */
  record(input: { signal_id: string; connector: string; signal: Signal; at: Date; decision: Decision; differs: boolean }): SimulatedFill {
    const { decision, connector, signal, at } = input;
    this.totals.signals += 1;
    if (input.differs) this.totals.differs += 1;
    if (!decision.allowed) {
      this.totals.rejected += 1;
      for (const rule of new Set(decision.failures.map((f) => f.rule))) this.byRule.set(rule, (this.byRule.get(rule) ?? 0) + 1);
      return { kind: 'none', price: null };
    }
    this.totals.allowed += 1;
    if (decision.side !== null) this.orderTimes.push(at.getTime());
    const fill = simulateFill(signal, decision);
    if (fill.kind === 'unpriced') this.totals.unpriced += 1;
    if (fill.kind === 'unfilled') this.totals.unfilled += 1;
    if (fill.kind !== 'filled' || fill.price === null || decision.side === null || decision.quantity === null) return fill;

    const k = key(connector, signal.instrument);
    const held = this.positions.get(k) ?? null;
    const next = applyFill(held, { side: decision.side, quantity: decision.quantity, price: fill.price });
    this.positions.set(k, { connector, instrument: signal.instrument, quantity: next.quantity, avg_price: next.avg_price, last_price: fill.price });
    const day = tradingDay(at, this.policy.trading_day_tz);
    const today = money((this.pnl.get(key(connector, day)) ?? 0) + next.realized_pnl);
    this.pnl.set(key(connector, day), today);
    this.byDay.set(day, money((this.byDay.get(day) ?? 0) + next.realized_pnl));
    this.realized = money(this.realized + next.realized_pnl);
    this.peak = Math.max(this.peak, this.allGross());
    if (tripsDailyLoss({ max_daily_loss: this.policy.max_daily_loss, realized_pnl_fill: next.realized_pnl, realized_pnl_today: today, mode: this.mode })) {
      this.mode = 'exit_only';
      this.trip ??= { day, at: at.toISOString(), signal_id: input.signal_id, connector, realized_pnl_day: today };
    }
    return fill;
  }

  result(): BookTotals {
    const positions = [...this.positions.values()]
      .filter((p) => roundQty(p.quantity) !== 0)
      .map((p) => ({ connector: p.connector, instrument: p.instrument, quantity: p.quantity, avg_price: money(p.avg_price) }))
      .sort((a, b) => a.connector.localeCompare(b.connector) || a.instrument.localeCompare(b.instrument));
    return {
      signals: this.totals.signals,
      allowed: this.totals.allowed,
      rejected: this.totals.rejected,
      rejected_by_rule: Object.fromEntries([...this.byRule.entries()].sort(([a], [b]) => a.localeCompare(b))),
      unpriced: this.totals.unpriced,
      unfilled: this.totals.unfilled,
      differs_from_original: this.totals.differs,
      positions,
      peak_gross_exposure: money(this.peak),
      realized_pnl: this.realized,
      realized_pnl_by_day: Object.fromEntries([...this.byDay.entries()].sort(([a], [b]) => a.localeCompare(b))),
      daily_loss_tripped: this.trip,
      final_mode: this.mode,
    };
  }

  private ordersLastMinute(since: number): number {
    const max = this.policy.max_orders_per_minute;
    return max === null ? 0 : Math.min(max + 1, this.orderTimes.filter((t) => t >= since).length);
  }

  private gross(connector: string): number {
    return grossExposure([...this.positions.values()].filter((p) => p.connector === connector));
  }

  private allGross(): number {
    return grossExposure([...this.positions.values()]);
  }
}
