/**
 * The fake Alpaca's account: orders, their fills over time, positions and prices. An order is
 * taken as Alpaca takes it (`accepted`, nothing filled) and then lives on by a fill plan, each
 * change published as a trade update (the events and fields Alpaca's streaming page documents)
 * for test/fakes/alpaca-stream-server.ts to send. Test controls fill, expire or reject an order
 * by hand.
 */
import { randomUUID } from 'node:crypto';

/** An order as Alpaca serializes it (the fields the fake sets). */
export type AlpacaOrderJson = Record<string, unknown> & {
  id: string;
  client_order_id: string;
  symbol: string;
  status: string;
};

/**
 * How a working order fills:
 * - `immediate`: at once, inside the POST (the answer is already `filled`);
 * - `{ delay_ms, parts }`: answered `accepted`, then `parts` fills, one every `delay_ms`;
 * - `never`: answered `accepted`, rests until canceled, expired, rejected or filled by hand.
 */
export type FillPlan = 'immediate' | 'never' | { delay_ms: number; parts: number };

/**
 * Which non-market orders work: `marketable` (default) a limit at or through the fake's price, a
 * stop whose stop price was reached (rechecked on every setPrice); `rest` none; `fill` all, at
 * their limit (or stop) price.
 */
export type LimitOrders = 'marketable' | 'rest' | 'fill';

export interface TradeUpdate {
  event: 'new' | 'partial_fill' | 'fill' | 'canceled' | 'expired' | 'rejected';
  order: AlpacaOrderJson;
  timestamp: string;
  execution_id?: string;
  price?: string;
  qty?: string;
  position_qty?: string;
}

export interface Book {
  place(body: Record<string, unknown>, opts: { reject: boolean }): AlpacaOrderJson;
  byId(id: string): AlpacaOrderJson | undefined;
  byClientId(clientOrderId: string): AlpacaOrderJson | undefined;
  /** DELETE: canceled, unknown, or no longer cancelable (filled, canceled, expired, rejected). */
  cancel(id: string): 'canceled' | 'not_found' | 'not_cancelable';
  fill(clientOrderId: string, qty: number, price: number): void;
  expire(clientOrderId: string): void;
  reject(clientOrderId: string): void;
  orders(): AlpacaOrderJson[];
  positions(): { symbol: string; qty: number; avg: number }[];
  priceOf(symbol: string): number;
  setPrice(symbol: string, price: number): void;
  assetId(symbol: string): string;
  close(): void;
}

/** Alpaca's statuses of an order that may still fill (listed by `status=open`, cancelable). */
export const OPEN_STATUSES = new Set(['new', 'accepted', 'pending_new', 'partially_filled', 'held', 'accepted_for_bidding', 'pending_cancel', 'pending_replace', 'done_for_day', 'stopped', 'suspended', 'calculated']);

export function createBook(opts: { fills: FillPlan; limit_orders: LimitOrders; default_price: number }, publish: (u: TradeUpdate) => void): Book {
  const orders = new Map<string, AlpacaOrderJson>();
  const byClientId = new Map<string, string>();
  const positions = new Map<string, { qty: number; avg: number }>();
  const prices = new Map<string, number>();
  const assetIds = new Map<string, string>();
  /** Pending fill/accept timers per order id: a terminal order has none. */
  const timers = new Map<string, Set<NodeJS.Timeout>>();
  /** Orders that work (will fill by the plan) once a timer or a price says so. */
  const scheduled = new Set<string>();

  const priceOf = (symbol: string): number => prices.get(symbol) ?? opts.default_price;
  const assetId = (symbol: string): string => {
    let id = assetIds.get(symbol);
    if (id === undefined) {
      id = randomUUID();
      assetIds.set(symbol, id);
    }
    return id;
  };
  const snapshot = (o: AlpacaOrderJson): AlpacaOrderJson => ({ ...o });
  const num = (o: AlpacaOrderJson, key: string): number => Number(o[key] ?? 0);

  function later(o: AlpacaOrderJson, ms: number, fn: () => void): void {
    let set = timers.get(o.id);
    if (set === undefined) {
      set = new Set();
      timers.set(o.id, set);
    }
    const own = set;
    const t = setTimeout(() => {
      own.delete(t);
      fn();
    }, ms);
    own.add(t);
  }

  function settle(o: AlpacaOrderJson): void {
    for (const t of timers.get(o.id) ?? []) clearTimeout(t);
    timers.delete(o.id);
    scheduled.delete(o.id);
  }

  function end(o: AlpacaOrderJson, status: 'canceled' | 'expired' | 'rejected', at: string): void {
    const now = new Date().toISOString();
    Object.assign(o, { status, [at]: now, updated_at: now });
    settle(o);
    publish({ event: status, order: snapshot(o), timestamp: now });
  }

  function applyFill(o: AlpacaOrderJson, qty: number, price: number): void {
    const filled = num(o, 'filled_qty');
    const total = num(o, 'qty');
    if (!OPEN_STATUSES.has(o.status)) throw new Error(`order ${o.client_order_id} is ${o.status}: nothing left to fill`);
    if (!(qty > 0) || round(filled + qty) > total) throw new Error(`cannot fill ${qty} of ${o.client_order_id}: ${round(total - filled)} left`);
    const now = new Date().toISOString();
    const next = round(filled + qty);
    const avg = filled === 0 ? price : (Number(o['filled_avg_price']) * filled + price * qty) / next;
    const done = next >= total;
    Object.assign(o, {
      filled_qty: dec(next),
      filled_avg_price: dec(avg),
      status: done ? 'filled' : 'partially_filled',
      updated_at: now,
      ...(done ? { filled_at: now } : {}),
    });
    const side = o['side'] === 'sell' ? -1 : 1;
    const position = movePosition(o.symbol, side * qty, price);
    if (done) settle(o);
    publish({ event: done ? 'fill' : 'partial_fill', order: snapshot(o), timestamp: now, execution_id: randomUUID(), price: dec(price), qty: dec(qty), position_qty: dec(position) });
  }

  function movePosition(symbol: string, signed: number, price: number): number {
    const held = positions.get(symbol) ?? { qty: 0, avg: 0 };
    const next = round(held.qty + signed);
    let avg = held.avg;
    if (held.qty === 0 || Math.sign(next) !== Math.sign(held.qty)) avg = price; // opened or flipped
    else if (Math.abs(next) > Math.abs(held.qty)) avg = (held.avg * Math.abs(held.qty) + price * Math.abs(signed)) / Math.abs(next);
    if (next === 0) positions.delete(symbol);
    else positions.set(symbol, { qty: next, avg });
    return next;
  }

  /** Whether the order works now, and at what price it fills. */
  function working(o: AlpacaOrderJson): number | undefined {
    const type = String(o['type']);
    const market = priceOf(o.symbol);
    if (type === 'market') return market;
    const limit = o['limit_price'] === null ? undefined : Number(o['limit_price']);
    const stop = o['stop_price'] === null ? undefined : Number(o['stop_price']);
    if (opts.limit_orders === 'rest') return undefined;
    if (opts.limit_orders === 'fill') return limit ?? stop ?? market;
    const buy = o['side'] !== 'sell';
    const through = (p: number | undefined): boolean => p === undefined || (buy ? market <= p : market >= p);
    const triggered = stop === undefined || (buy ? market >= stop : market <= stop);
    return triggered && through(limit) ? market : undefined;
  }

  /** Starts the plan's fills for a working order: `parts` fills, one every `delay_ms`. */
  function schedule(o: AlpacaOrderJson): void {
    const plan = opts.fills;
    if (typeof plan !== 'object' || scheduled.has(o.id)) return;
    scheduled.add(o.id);
    const parts = Math.max(1, Math.floor(plan.parts));
    const total = num(o, 'qty');
    for (let k = 1; k <= parts; k++) {
      later(o, plan.delay_ms * k, () => {
        const price = working(o) ?? priceOf(o.symbol);
        const left = round(total - num(o, 'filled_qty'));
        const qty = k === parts ? left : Math.min(left, round(total / parts));
        if (qty > 0 && OPEN_STATUSES.has(o.status)) applyFill(o, qty, price);
      });
    }
  }

  function place(b: Record<string, unknown>, how: { reject: boolean }): AlpacaOrderJson {
    const now = new Date().toISOString();
    const symbol = String(b['symbol']);
    const type = String(b['type']);
    const o: AlpacaOrderJson = {
      id: randomUUID(),
      client_order_id: typeof b['client_order_id'] === 'string' ? b['client_order_id'] : randomUUID(),
      created_at: now,
      updated_at: now,
      submitted_at: now,
      filled_at: null,
      expired_at: null,
      canceled_at: null,
      failed_at: null,
      replaced_at: null,
      replaced_by: null,
      replaces: null,
      asset_id: assetId(symbol),
      symbol,
      asset_class: 'us_equity',
      notional: null,
      qty: String(b['qty']),
      filled_qty: '0',
      filled_avg_price: null,
      order_class: typeof b['order_class'] === 'string' ? b['order_class'] : 'simple',
      order_type: type,
      type,
      side: String(b['side']),
      time_in_force: String(b['time_in_force']),
      limit_price: typeof b['limit_price'] === 'string' ? b['limit_price'] : null,
      stop_price: typeof b['stop_price'] === 'string' ? b['stop_price'] : null,
      status: 'accepted',
      extended_hours: false,
      legs: null,
      trail_percent: null,
      trail_price: null,
      hwm: null,
    };
    orders.set(o.id, o);
    byClientId.set(o.client_order_id, o.id);
    const routed = (): void => {
      const at = new Date().toISOString();
      Object.assign(o, { status: 'new', updated_at: at });
      publish({ event: 'new', order: snapshot(o), timestamp: at });
    };
    if (how.reject) {
      later(o, 0, () => end(o, 'rejected', 'failed_at'));
    } else if (opts.fills === 'immediate') {
      // Today's fake: the answer already says what happened (filled, or resting as `new`).
      routed();
      const price = working(o);
      if (price !== undefined) applyFill(o, num(o, 'qty'), price);
    } else {
      // As Alpaca: the answer says `accepted`; the routing and the fills come on the stream.
      later(o, 0, () => {
        routed();
        if (working(o) !== undefined) schedule(o);
      });
    }
    return snapshot(o);
  }

  const find = (clientOrderId: string): AlpacaOrderJson => {
    const id = byClientId.get(clientOrderId);
    const o = id === undefined ? undefined : orders.get(id);
    if (o === undefined) throw new Error(`the fake has no order ${clientOrderId}`);
    return o;
  };
  const open = (o: AlpacaOrderJson): AlpacaOrderJson => {
    if (!OPEN_STATUSES.has(o.status)) throw new Error(`order ${o.client_order_id} is already ${o.status}`);
    return o;
  };

  return {
    place,
    byId: (id) => orders.get(id),
    byClientId: (coid) => {
      const id = byClientId.get(coid);
      return id === undefined ? undefined : orders.get(id);
    },
    cancel(id) {
      const o = orders.get(id);
      if (o === undefined) return 'not_found';
      if (!OPEN_STATUSES.has(o.status)) return 'not_cancelable';
      end(o, 'canceled', 'canceled_at');
      return 'canceled';
    },
    fill: (coid, qty, price) => applyFill(find(coid), qty, price),
    expire: (coid) => end(open(find(coid)), 'expired', 'expired_at'),
    reject: (coid) => end(open(find(coid)), 'rejected', 'failed_at'),
    orders: () => [...orders.values()].map(snapshot),
    positions: () => [...positions.entries()].map(([symbol, p]) => ({ symbol, qty: p.qty, avg: p.avg })),
    priceOf,
    setPrice(symbol, price) {
      prices.set(symbol, price);
      // A resting order the new price reaches starts working, as at an exchange.
      for (const o of orders.values()) {
        if (o.symbol !== symbol || (o.status !== 'new' && o.status !== 'partially_filled') || scheduled.has(o.id) || working(o) === undefined) continue;
        if (opts.fills === 'immediate') applyFill(o, round(num(o, 'qty') - num(o, 'filled_qty')), priceOf(symbol));
        else schedule(o);
      }
    },
    assetId,
    close() {
      for (const set of timers.values()) for (const t of set) clearTimeout(t);
      timers.clear();
    },
  };
}

/** Alpaca's decimal strings: never exponent notation, at most 9 decimals. */
export function dec(n: number): string {
  const fixed = n.toFixed(9);
  const trimmed = fixed.replace(/0+$/, '').replace(/\.$/, '');
  return trimmed === '-0' ? '0' : trimmed;
}

export function round(n: number): number {
  return Number(n.toFixed(9));
}
