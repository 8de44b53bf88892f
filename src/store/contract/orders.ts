/**
 * Orders followed to their end (docs/execution.md#orders): the order row of every order placed at
 * a connector that reports what happens to it, and the one step that books what it reports.
 */
import type { Order, OrderStatus, OrderType, Side } from '../../domain/types.js';
import type { ModeState } from './runtime.js';
import type { Page } from './signals.js';

export interface OrderRecord {
  client_order_id: string;
  connector: string;
  signal_id: string;
  instrument: string;
  /** The broker's id, once it told one. */
  order_id: string | null;
  side: Side;
  quantity: number;
  order_type: OrderType;
  limit_price: number | null;
  stop_price: number | null;
  status: OrderStatus;
  /** Cumulative filled quantity booked into the ledger. */
  filled_quantity: number;
  /** Average price of what filled; null while nothing did. */
  avg_fill_price: number | null;
  created_at: string;
  updated_at: string;
}

/** What booking a report needs besides the report: the clock and the daily-loss rule. */
export interface BookingContext {
  now: Date;
  /** Trading day (YYYY-MM-DD in `policy.trading_day_tz`) the realized PnL is added to. */
  trading_day: string;
  /** `policy.max_daily_loss` (null: none): a fill that breaches it switches the mode to `exit_only`. */
  max_daily_loss: number | null;
}

export interface OrderUpdateInput extends BookingContext {
  connector: string;
  /** The order as the connector reports it now (cumulative fills). */
  order: Order;
}

export interface BookedFill {
  quantity: number;
  price: number;
  /** PnL this fill realized. */
  realized_pnl: number;
}

export interface OrderUpdateOutcome {
  /** The order after the update; null when sluice has no order under this client_order_id (yet). */
  record: OrderRecord | null;
  /** Whether anything changed (status, fills, the broker's id): false for a repeated report. */
  changed: boolean;
  /** The fill this report booked (the increase of the cumulative filled quantity), or null. */
  fill: BookedFill | null;
  /** The report carried a fill that cannot be booked (not a positive quantity at a positive price). */
  unusable_fill: boolean;
  /** The mode this fill switched to (`exit_only`, `daily_loss`), or null. */
  mode_changed: ModeState | null;
}

export interface OrderQuery {
  /** `open` (new, partially_filled), `terminal`, or one status. */
  status?: 'open' | 'terminal' | OrderStatus;
  connector?: string;
  instrument?: string;
  /** 1–500. */
  limit: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

export interface OrderStore {
  /**
   * Books what a connector reports about one of sluice's orders, in one transaction under the
   * order row's lock: the status moves forward (a terminal status is final), the increase of
   * the cumulative filled quantity is booked into the position and the day's PnL (and judged
   * against `max_daily_loss`), the reservation shrinks to the unfilled remainder and is
   * released when the order is terminal, and an `order.<status>` event is appended. A report
   * that changes nothing writes nothing, so every instance may apply every report it gets.
   */
  applyOrderUpdate(input: OrderUpdateInput): Promise<OrderUpdateOutcome>;
  /** Newest first. */
  listOrders(query: OrderQuery): Promise<Page<OrderRecord>>;
  /** Open orders (new, partially_filled), oldest first; of one connector and instrument when given. */
  openOrders(connector?: string, instrument?: string): Promise<OrderRecord[]>;
  /** The orders a signal placed (one, or none). */
  ordersOfSignal(signalId: string): Promise<OrderRecord[]>;
}
