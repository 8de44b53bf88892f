/**
 * Orders followed to their end, as writes (docs/execution.md#orders): the row a placement
 * creates, and what a report of the connector makes of it. A fill is the increase of the
 * cumulative filled quantity over what the row has booked, so a report repeated, replayed or
 * applied by several instances books nothing twice; a terminal status is final; the reservation
 * follows the unfilled remainder and goes with the order's end.
 */
import { roundQty } from '../../domain/ledger.js';
import { isTerminalOrderStatus, type Order, type OrderStatus, type Side } from '../../domain/types.js';
import type { Fill } from '../contract/finish.js';
import type { Page } from '../contract/signals.js';
import type { OrderRecord, OrderUpdateOutcome } from '../contract/orders.js';
import type { TimedEvent } from './events.js';

/** An order row as both dialects store it: the record's fields, times in ms, and `open` (1 while not terminal). */
export type OrderRow = Omit<OrderRecord, 'created_at' | 'updated_at'> & { open: number; created_at: number; updated_at: number };

/** What the row of a new order holds before the placement's report is applied to it: nothing filled. */
export function newOrderRow(signal: { signal_id: string; connector: string; instrument: string; stop_price: number | null }, placed: Order, now: Date): OrderRow {
  return {
    client_order_id: placed.client_order_id,
    connector: signal.connector,
    signal_id: signal.signal_id,
    instrument: signal.instrument,
    order_id: null,
    side: placed.side,
    quantity: placed.quantity,
    order_type: placed.order_type,
    limit_price: placed.limit_price,
    // A connector's report carries no stop price: the signal's is the order's.
    stop_price: signal.stop_price,
    status: 'new',
    open: 1,
    filled_quantity: 0,
    avg_fill_price: null,
    created_at: now.getTime(),
    updated_at: now.getTime(),
  };
}

/** An order row's columns as inserted (newOrderRow), in both dialects. */
export const ORDER_COLUMNS = [
  'client_order_id', 'connector', 'signal_id', 'instrument', 'order_id', 'side', 'quantity', 'order_type', 'limit_price',
  'stop_price', 'status', 'open', 'filled_quantity', 'avg_fill_price', 'created_at', 'updated_at',
] as const satisfies readonly (keyof OrderRow)[];
/** The columns a report's update sets (OrderUpdatePlan['values']). */
export const ORDER_UPDATE_COLUMNS = ['order_id', 'status', 'open', 'filled_quantity', 'avg_fill_price', 'updated_at'] as const satisfies readonly (keyof OrderUpdatePlan['values'])[];

export interface OrderUpdatePlan {
  /** The columns the update sets (conditional on the row's `updated_at` and `filled_quantity` as read). */
  values: Pick<OrderRow, 'order_id' | 'status' | 'open' | 'filled_quantity' | 'avg_fill_price' | 'updated_at'>;
  /** The fill to book into the position, or null. */
  fill: Fill | null;
  /** The report carried more fill than booked, but not as a positive quantity at a positive price. */
  unusable_fill: boolean;
  /** The order is terminal now: its reservation goes. */
  terminal: boolean;
  event: TimedEvent;
}

const positiveFinite = (n: number | null): n is number => n !== null && Number.isFinite(n) && n > 0;

/**
 * The fill a report adds to what the row booked: its quantity is the increase of the cumulative
 * filled quantity, its price the one that moves the booked average to the reported average
 * (falling back to the reported average when float noise makes that meaningless).
 */
export function fillIncrement(booked: { filled_quantity: number; avg_fill_price: number | null }, reported: Pick<Order, 'side' | 'filled_quantity' | 'fill_price'>): { fill: Fill | null; unusable: boolean } {
  const cumulative = Number.isFinite(reported.filled_quantity) ? roundQty(reported.filled_quantity) : Number.NaN;
  if (!(cumulative > booked.filled_quantity)) return { fill: null, unusable: Number.isNaN(cumulative) };
  if (!positiveFinite(reported.fill_price)) return { fill: null, unusable: true };
  const quantity = roundQty(cumulative - booked.filled_quantity);
  const cost = cumulative * reported.fill_price - booked.filled_quantity * (booked.avg_fill_price ?? 0);
  const derived = cost / quantity;
  // Within 1e-9 relative of a real price or not at all: noise falls back to the average.
  const price = positiveFinite(derived) && booked.filled_quantity > 0 ? Number(derived.toPrecision(12)) : reported.fill_price;
  return { fill: { side: reported.side, quantity, price }, unusable: false };
}

/**
 * The status after a report: a terminal status is final (a late report of a fill is still
 * booked, the status stays); `new` with something filled is `partially_filled`.
 */
export function nextOrderStatus(current: OrderStatus, reported: OrderStatus, filled: number): OrderStatus {
  if (isTerminalOrderStatus(current)) return current;
  if (reported === 'new' && filled > 0) return 'partially_filled';
  if (reported === 'new' && current === 'partially_filled') return current;
  return reported;
}

/** What a report makes of the row, or null when it changes nothing (a repeated report). */
export function planOrderUpdate(row: OrderRow, reported: Order, now: Date): OrderUpdatePlan | null {
  const { fill, unusable } = fillIncrement(row, reported);
  const filled = fill === null ? row.filled_quantity : roundQty(row.filled_quantity + fill.quantity);
  // A fill that cannot be booked keeps the order open (and polled, and reserved) until a report
  // with a usable price books it: ending it now would lose that fill for good.
  const reportedStatus = unusable && isTerminalOrderStatus(reported.status) ? (filled > 0 ? 'partially_filled' : 'new') : reported.status;
  const status = nextOrderStatus(row.status, reportedStatus, filled);
  const orderId = row.order_id ?? (reported.order_id === '' ? null : reported.order_id);
  if (fill === null && status === row.status && orderId === row.order_id) return null;
  const avg = fill === null ? row.avg_fill_price : positiveFinite(reported.fill_price) ? reported.fill_price : row.avg_fill_price;
  const terminal = isTerminalOrderStatus(status);
  const values = { order_id: orderId, status, open: terminal ? 0 : 1, filled_quantity: filled, avg_fill_price: avg, updated_at: Math.max(now.getTime(), row.updated_at) };
  return { values, fill, unusable_fill: unusable, terminal, event: orderEvent({ ...row, ...values }, fill, now) };
}

/**
 * The outcome of a report that changes nothing (planOrderUpdate gave null): nothing is written,
 * but a fill it carried that cannot be booked is still said, so that it is not passed over.
 */
export function unchangedOutcome(row: OrderRow, reported: Order): OrderUpdateOutcome {
  return { record: orderRecordFromRow(row), changed: false, fill: null, unusable_fill: fillIncrement(row, reported).unusable, mode_changed: null };
}

/** `order.<status>`, with the cumulative figures and the fill this transition booked. */
export function orderEvent(row: OrderRow, fill: Fill | null, now: Date): TimedEvent {
  return {
    event: {
      type: `order.${row.status}`,
      signal_id: row.signal_id,
      data: {
        connector: row.connector,
        instrument: row.instrument,
        client_order_id: row.client_order_id,
        order_id: row.order_id,
        side: row.side,
        quantity: row.quantity,
        filled_quantity: row.filled_quantity,
        avg_fill_price: row.avg_fill_price,
        fill: fill === null ? null : { quantity: fill.quantity, price: fill.price },
      },
    },
    at: now,
  };
}

/** A reservation as stored: the signed remainder and the notional it still holds. */
export interface ReservationRow {
  quantity: number;
  notional: number;
}

/**
 * The reservation once `filled` of the order's `quantity` has filled: the signed unfilled
 * remainder, and the notional scaled down with it (what filled is a position now, counted as
 * exposure there); null: released (the order is terminal, or nothing remains).
 */
export function planReservation(reservation: ReservationRow, order: { side: Side; quantity: number }, filled: number, terminal: boolean): ReservationRow | null {
  const remaining = roundQty(order.quantity - filled);
  if (terminal || remaining <= 0) return null;
  const held = Math.abs(reservation.quantity);
  const notional = held > 0 ? (reservation.notional * Math.min(remaining, held)) / held : 0;
  return { quantity: order.side === 'buy' ? Math.min(remaining, held) : -Math.min(remaining, held), notional };
}

export function orderRecordFromRow(row: OrderRow): OrderRecord {
  return {
    client_order_id: row.client_order_id,
    connector: row.connector,
    signal_id: row.signal_id,
    instrument: row.instrument,
    order_id: row.order_id,
    side: row.side,
    quantity: row.quantity,
    order_type: row.order_type,
    limit_price: row.limit_price,
    stop_price: row.stop_price,
    status: row.status,
    filled_quantity: row.filled_quantity,
    avg_fill_price: row.avg_fill_price,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

/** A page cursor of `listOrders`: the seq of the page's last order (orders are listed newest first by seq). */
export const ORDER_CURSOR_PATTERN = /^[1-9]\d{0,14}$/;

/** The seq to list below; throws a RangeError on a cursor `listOrders` did not hand out (the HTTP layer checks first). */
export function orderCursorSeq(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  if (!ORDER_CURSOR_PATTERN.test(cursor)) throw new RangeError(`listOrders: invalid cursor ${JSON.stringify(cursor)}`);
  return Number(cursor);
}

/** A page of `listOrders` from up to `limit + 1` rows read newest first: the extra row says another page follows. */
export function orderPage(rows: ReadonlyArray<OrderRow & { seq: number }>, limit: number): Page<OrderRecord> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items: items.map(orderRecordFromRow), next_cursor: rows.length > limit && last !== undefined ? String(last.seq) : null };
}
