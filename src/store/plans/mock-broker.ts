/**
 * The mock broker's rules (docs/execution.md#the-mock-connector), pure: how an order is placed
 * (filled at once, scheduled in parts, or resting until a price crosses it), what its next step
 * is (a part, an expiry), which prices cross it, and how a fill moves the mock position.
 */
import { applyFill, roundQty, type LedgerEntry } from '../../domain/ledger.js';
import type { Order, OrderType, Side, TimeInForce } from '../../domain/types.js';
import { tradingDayEnd } from '../../guardrails/trading-time.js';
import type { MockOrderChange, MockOrderState, MockOrderVersion, MockPlacement } from '../contract/mock-broker.js';

export { OPEN_ORDER_STATUSES } from '../../domain/types.js';

/** How the mock fills (its connector config); the defaults fill every order at once. */
export interface MockFillSettings {
  fill_delay_ms: number;
  partial_fills: number;
  resting_orders: boolean;
}

export const IMMEDIATE_FILLS: MockFillSettings = { fill_delay_ms: 0, partial_fills: 1, resting_orders: false };

export function mockOrderRow(connector: string, order: MockPlacement, now: Date) {
  const { stop_price = null, time_in_force = 'gtc', price = null, next_fill_at = null, expires_at = null, ...rest } = order;
  const at = now.getTime();
  return { connector, ...orderOf(rest), stop_price, time_in_force, price, next_fill_at, expires_at, created_at: at, updated_at: at };
}

/** A mock order row's columns as inserted (mockOrderRow), in both dialects. */
export const MOCK_ORDER_COLUMNS = [
  'connector', 'client_order_id', 'order_id', 'instrument', 'side', 'quantity', 'order_type', 'limit_price', 'status', 'filled_quantity', 'fill_price',
  'stop_price', 'time_in_force', 'price', 'next_fill_at', 'expires_at', 'created_at', 'updated_at',
] as const satisfies readonly (keyof ReturnType<typeof mockOrderRow>)[];

/** The order as a connector reports it, without the mock's own columns. */
export function orderOf(o: Order): Order {
  const { client_order_id, order_id, instrument, side, quantity, order_type, limit_price, status, filled_quantity, fill_price } = o;
  return { client_order_id, order_id, instrument, side, quantity, order_type, limit_price, status, filled_quantity, fill_price };
}

export function versionOf(o: MockOrderState): MockOrderVersion {
  return { client_order_id: o.client_order_id, status: o.status, filled_quantity: o.filled_quantity, next_fill_at: o.next_fill_at, stop_price: o.stop_price };
}

/** Whether the order moves the mock position (the dialect reads, and locks, it only then). */
export const mockOrderFills = (order: Order): order is Order & { fill_price: number } => order.filled_quantity > 0 && order.fill_price !== null;

/** The mock position after the order, or null when the order did not fill (nothing moves). */
export function planMockFill(current: LedgerEntry | null, order: Order): LedgerEntry | null {
  if (!mockOrderFills(order)) return null;
  return planMockPart(current, order.side, { quantity: order.filled_quantity, price: order.fill_price });
}

/** The mock position after one part of an order filled. */
export function planMockPart(current: LedgerEntry | null, side: Side, part: { quantity: number; price: number }): LedgerEntry {
  const next = applyFill(current, { side, quantity: part.quantity, price: part.price });
  return { quantity: next.quantity, avg_price: next.avg_price };
}

// ── parts ─────────────────────────────────────────────────────────────────────────────────────

/**
 * The size of the next part: `quantity / parts` rounded like the ledger, the last part taking the
 * rounding rest. Worked out from what already filled, so an order resumed under other settings
 * still ends at exactly its quantity.
 */
export function nextPartSize(quantity: number, filled: number, parts: number): number {
  const remaining = roundQty(quantity - filled);
  const size = roundQty(quantity / Math.max(1, Math.floor(parts)));
  if (size <= 0) return remaining;
  const done = Math.round(filled / size);
  return done >= parts - 1 || roundQty(remaining - size) <= 0 ? remaining : size;
}

/** Every part of an order in order, as `nextPartSize` hands them out. */
export function partSizes(quantity: number, parts: number): number[] {
  const out: number[] = [];
  let filled = 0;
  while (roundQty(quantity - filled) > 0 && out.length <= parts) {
    const part = nextPartSize(quantity, filled, parts);
    out.push(part);
    filled = roundQty(filled + part);
  }
  return out;
}

// ── prices ────────────────────────────────────────────────────────────────────────────────────

interface Priced {
  side: Side;
  order_type: OrderType;
  limit_price: number | null;
  stop_price: number | null;
}

/** What the last price does to a resting order: it fills (at a price), it triggers a stop_limit, or nothing. */
export type Crossing = { kind: 'fill'; price: number } | { kind: 'trigger' } | null;

/**
 * Buy limit: fills when the price is at or below the limit, at the limit; sell limit at or
 * above. Buy stop: triggers at or above the stop, sell stop at or below; a stop then fills at
 * its stop price, a stop_limit becomes a limit at its limit price (and fills at once when the
 * same price crosses that too). A stop_limit whose stop already triggered (stop_price null) is
 * a limit.
 */
export function crossing(order: Priced, last: number): Crossing {
  const buy = order.side === 'buy';
  const limitCrossed = order.limit_price !== null && (buy ? last <= order.limit_price : last >= order.limit_price);
  const stopCrossed = order.stop_price !== null && (buy ? last >= order.stop_price : last <= order.stop_price);
  switch (order.order_type) {
    case 'market':
      return null;
    case 'limit':
      return limitCrossed && order.limit_price !== null ? { kind: 'fill', price: order.limit_price } : null;
    case 'stop':
      return stopCrossed && order.stop_price !== null ? { kind: 'fill', price: order.stop_price } : null;
    case 'stop_limit':
      if (order.stop_price !== null && !stopCrossed) return null;
      if (limitCrossed && order.limit_price !== null) return { kind: 'fill', price: order.limit_price };
      return order.stop_price === null ? null : { kind: 'trigger' };
  }
}

// ── placement ─────────────────────────────────────────────────────────────────────────────────

export interface MockPlacementInput {
  client_order_id: string;
  order_id: string;
  instrument: string;
  side: Side;
  quantity: number;
  order_type: OrderType;
  limit_price: number | null;
  stop_price: number | null;
  time_in_force: TimeInForce;
  /** The reference price at signal time: what a market order (and a stop without a stop price) fills at. */
  reference_price: number | null;
}

/** The price an order fills at once it fills: market at the reference, limit and stop_limit at the limit, stop at the stop. */
export function mockFillPrice(o: Pick<MockPlacementInput, 'order_type' | 'limit_price' | 'stop_price' | 'reference_price'>): number | null {
  switch (o.order_type) {
    case 'market':
      return o.reference_price;
    case 'limit':
    case 'stop_limit':
      return o.limit_price;
    case 'stop':
      return o.stop_price ?? o.reference_price;
  }
}

/** Whether the order rests until a price crosses it (a stop without a stop price cannot: it fills at the reference). */
export function restsUntilCrossed(o: Pick<MockPlacementInput, 'order_type' | 'stop_price'>, settings: MockFillSettings): boolean {
  return settings.resting_orders && o.order_type !== 'market' && !(o.order_type === 'stop' && o.stop_price === null);
}

/**
 * The order as it is placed, or why it cannot be. It fills at once (the defaults), is scheduled
 * in parts (`fill_delay_ms`, `partial_fills`: answered `new`), or rests (`resting_orders`) until
 * the last price crosses it; one that the last price already crosses fills as if crossed now. An
 * `ioc`/`fok` order that would rest is canceled at once. A `day` order still open carries the
 * end of its trading day in `tz`.
 */
export function planPlacement(o: MockPlacementInput, settings: MockFillSettings, last: number | null, now: Date, tz: string): { ok: true; order: MockPlacement } | { ok: false; reason: string } {
  const fillPrice = mockFillPrice(o);
  if (fillPrice === null) return { ok: false, reason: `a ${o.order_type} order needs a price to fill` };
  const base = {
    client_order_id: o.client_order_id,
    order_id: o.order_id,
    instrument: o.instrument,
    side: o.side,
    quantity: o.quantity,
    order_type: o.order_type,
    limit_price: o.limit_price,
    stop_price: o.stop_price,
    time_in_force: o.time_in_force,
  };
  // Only an order that stays open needs its end (the zone arithmetic stays off the default path).
  const endOfDay = (): number | null => (o.time_in_force === 'day' ? tradingDayEnd(now, tz).getTime() : null);
  let price = fillPrice;
  let stop_price = o.stop_price;
  if (restsUntilCrossed(o, settings)) {
    const crossed = last === null ? null : crossing({ ...o, stop_price }, last);
    if (crossed?.kind === 'trigger') stop_price = null;
    if (crossed === null || crossed.kind === 'trigger') {
      const immediate = o.time_in_force === 'ioc' || o.time_in_force === 'fok';
      const status = immediate ? 'canceled' : 'new';
      return { ok: true, order: { ...base, stop_price, status, filled_quantity: 0, fill_price: null, price: null, next_fill_at: null, expires_at: immediate ? null : endOfDay() } };
    }
    price = crossed.price;
  }
  const now_ms = now.getTime();
  if (settings.fill_delay_ms === 0 && settings.partial_fills <= 1) {
    return { ok: true, order: { ...base, stop_price, status: 'filled', filled_quantity: o.quantity, fill_price: price, price, next_fill_at: null, expires_at: null } };
  }
  return { ok: true, order: { ...base, stop_price, status: 'new', filled_quantity: 0, fill_price: null, price, next_fill_at: now_ms + settings.fill_delay_ms, expires_at: endOfDay() } };
}

// ── steps after placement ─────────────────────────────────────────────────────────────────────

const isOpen = (o: MockOrderState): boolean => o.status === 'new' || o.status === 'partially_filled';

/**
 * The order's next due step at `now` (ms): its next part when that is due (and not after its
 * end), else its expiry when its end has passed, else nothing. Parts follow one another
 * `fill_delay_ms` apart from when each was due, so parts missed while no instance ran fill
 * one after another at once.
 */
export function planDue(o: MockOrderState, settings: MockFillSettings, now: number): MockOrderChange | null {
  if (!isOpen(o)) return null;
  const partDue = o.next_fill_at !== null && o.price !== null && o.next_fill_at <= now && (o.expires_at === null || o.next_fill_at < o.expires_at);
  if (partDue && o.next_fill_at !== null && o.price !== null) return planPart(o, o.price, o.next_fill_at + settings.fill_delay_ms, settings);
  if (o.expires_at !== null && o.expires_at <= now) return { ...unchanged(o), status: 'expired', next_fill_at: null, part: null };
  return null;
}

/** What the last price does to a resting order at `now` (ms): a trigger, the start of its fills, or nothing. */
export function planCross(o: MockOrderState, last: number, settings: MockFillSettings, now: number): MockOrderChange | null {
  if (!isOpen(o) || o.next_fill_at !== null) return null;
  const crossed = crossing(o, last);
  if (crossed === null) return null;
  if (crossed.kind === 'trigger') return { ...unchanged(o), stop_price: null, part: null };
  const startsAt = now + settings.fill_delay_ms;
  // Without a delay the first part fills in this same step.
  if (settings.fill_delay_ms === 0) return planPart({ ...o, price: crossed.price }, crossed.price, startsAt, settings);
  return { ...unchanged(o), price: crossed.price, next_fill_at: startsAt, part: null };
}

function unchanged(o: MockOrderState): Omit<MockOrderChange, 'part'> {
  return { status: o.status, filled_quantity: o.filled_quantity, fill_price: o.fill_price, price: o.price, next_fill_at: o.next_fill_at, stop_price: o.stop_price };
}

function planPart(o: MockOrderState, price: number, nextAt: number, settings: MockFillSettings): MockOrderChange {
  const size = nextPartSize(o.quantity, o.filled_quantity, settings.partial_fills);
  const filled = roundQty(o.filled_quantity + size);
  const done = filled >= o.quantity;
  const average = o.fill_price === null || o.filled_quantity === 0 ? price : (o.fill_price * o.filled_quantity + price * size) / (o.filled_quantity + size);
  return {
    status: done ? 'filled' : 'partially_filled',
    filled_quantity: done ? o.quantity : filled,
    fill_price: average,
    price,
    next_fill_at: done ? null : nextAt,
    stop_price: o.stop_price,
    part: { quantity: size, price },
  };
}
