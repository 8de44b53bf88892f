/**
 * The `alpaca` connector (docs/execution.md#connectors) against Alpaca's Trading API v2, as described by
 * test/fixtures/alpaca/trading-api.json. It adds Alpaca's meaning to the generic classification of
 * http-client: a 422 "client_order_id must be unique" means an earlier attempt landed, so the
 * order is looked up and adopted (at most one order per client_order_id, docs/guarantees.md#idempotency-and-at-most-one-order); a 404 on a lookup
 * is "no such order"; numbers travel as decimal strings. A client-side token bucket keeps this
 * process under Alpaca's 200 requests/minute. The API keys go into headers and nowhere else.
 */
import type { ConnectorConfig } from '../config/schema.js';
import type { Order, OrderStatus, OrderType, Position } from '../domain/types.js';
import type { CallResult, Connector, OrderRequest, PlacedOrderRequest } from './connector.js';
import type { ConnectorCapabilities } from '../domain/types.js';
import { failure, notForwardable, success } from './connector.js';
import type { JsonResponse } from './http-client.js';
import { callJson } from './http-client.js';

export type AlpacaConnectorConfig = Extract<ConnectorConfig, { type: 'alpaca' }>;

export interface AlpacaConnectorDeps {
  now: () => Date;
  fetch?: typeof fetch;
  /** How the throttle waits; tests pass one that advances their clock instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
}

/** What the breaker needs from GET /v2/account (docs/execution.md#connectors: either flag opens it). */
export interface AlpacaAccountFlags {
  trading_blocked: boolean;
  account_blocked: boolean;
}

export interface AlpacaConnector extends Connector {
  getAccount(): Promise<CallResult<AlpacaAccountFlags>>;
}

/**
 * Throttle: a burst of 10 and a refill of 180/minute. A token bucket admits at most
 * burst + rate × window requests in any window, so any 60 s window sees at most 190: under
 * Alpaca's 200/min with room for another tool on the same key. The bucket is per process; with
 * several instances on one key, the 429 path (wait for X-RateLimit-Reset) does the rest.
 */
export const ALPACA_THROTTLE = { burst: 10, refill_per_minute: 180 } as const;

/** Open orders fetched per cancel; Alpaca's maximum page size. */
const OPEN_ORDERS_LIMIT = 500;

const UNIQUE_CLIENT_ORDER_ID = /client_order_id must be unique/i;

/**
 * A token bucket that reserves synchronously and returns how long the caller must wait, so that
 * concurrent callers never race for the same token (the balance may go negative: each caller
 * waits for its own place in the queue).
 */
export function createTokenBucket(opts: { burst: number; refill_per_minute: number; now: () => Date }): { reserve(): number } {
  const perMs = opts.refill_per_minute / 60_000;
  let tokens = opts.burst;
  let last = opts.now().getTime();
  return {
    reserve(): number {
      const t = opts.now().getTime();
      // A clock that steps back must not mint tokens: only forward time refills.
      if (t > last) {
        tokens = Math.min(opts.burst, tokens + (t - last) * perMs);
        last = t;
      }
      tokens -= 1;
      return tokens >= 0 ? 0 : Math.ceil(-tokens / perMs);
    },
  };
}

export function createAlpacaConnector(name: string, config: AlpacaConnectorConfig, deps: AlpacaConnectorDeps): AlpacaConnector {
  const baseUrl = config.base_url.replace(/\/+$/, '');
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const bucket = createTokenBucket({ ...ALPACA_THROTTLE, now: deps.now });
  const capabilities: ConnectorCapabilities = {
    order_types: ['market', 'limit', 'stop', 'stop_limit'],
    brackets: true,
    fractional: true,
    short: true,
    lookup: true,
    positions: true,
    order_updates: 'stream',
  };

  async function request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query?: Record<string, string>,
    body?: unknown,
  ): Promise<CallResult<JsonResponse>> {
    const wait = bucket.reserve();
    if (wait > 0) await sleep(wait);
    const qs = query === undefined ? '' : `?${new URLSearchParams(query).toString()}`;
    return callJson({
      method,
      url: `${baseUrl}${path}${qs}`,
      headers: { 'APCA-API-KEY-ID': config.key_id, 'APCA-API-SECRET-KEY': config.secret_key, 'user-agent': 'sluice' },
      body,
      timeout_ms: config.timeout_ms,
      fetch: deps.fetch,
      now: deps.now,
      redact: [config.key_id, config.secret_key],
    });
  }

  async function getOrder(clientOrderId: string): Promise<CallResult<Order | null>> {
    const res = await request('GET', '/v2/orders:by_client_order_id', { client_order_id: clientOrderId });
    if (!res.ok) return res.http_status === 404 ? success(null) : res;
    return toOrderResult(res.value.body);
  }

  return {
    name,
    type: 'alpaca',
    capabilities,
    getOrder,

    async place(order: OrderRequest): Promise<CallResult<Order>> {
      if (order.forwarded === true) return notForwardable(name, order);
      const res = await request('POST', '/v2/orders', undefined, orderBody(order));
      if (res.ok) return toOrderResult(res.value.body, 'placed');
      if (res.http_status === 422 && UNIQUE_CLIENT_ORDER_ID.test(res.reason)) {
        // An earlier attempt (or another instance) placed it: adopt that order, never place twice.
        const found = await getOrder(order.client_order_id);
        if (!found.ok) return found;
        if (found.value === null) {
          // Alpaca says the id is taken but cannot show it yet: ask again later.
          return failure('client_order_id is taken but the order was not found', { retryable: true, ambiguous: true });
        }
        return success(found.value);
      }
      return res;
    },

    async cancel(instrument: string): Promise<CallResult<{ cancelled: number }>> {
      const list = await request('GET', '/v2/orders', {
        status: 'open',
        symbols: instrument,
        limit: String(OPEN_ORDERS_LIMIT),
      });
      if (!list.ok) return list;
      if (!Array.isArray(list.value.body)) return unexpected('open orders');
      let cancelled = 0;
      for (const item of list.value.body) {
        const id = stringField(item, 'id');
        // The symbols filter is the server's; checking again costs nothing and keeps a cancel of
        // one instrument from ever touching another.
        if (id === undefined || !sameSymbol(stringField(item, 'symbol'), instrument)) continue;
        const del = await request('DELETE', `/v2/orders/${encodeURIComponent(id)}`);
        if (del.ok) cancelled += 1;
        // 404 gone, 422 no longer cancelable (filled or cancelled meanwhile): nothing left to cancel.
        else if (del.http_status !== 404 && del.http_status !== 422) return del;
      }
      return success({ cancelled });
    },

    async getPositions(): Promise<CallResult<Position[]>> {
      const res = await request('GET', '/v2/positions');
      if (!res.ok) return res;
      if (!Array.isArray(res.value.body)) return unexpected('positions');
      const positions: Position[] = [];
      for (const item of res.value.body) {
        const p = toPosition(item);
        if (p === undefined) return unexpected('position');
        positions.push(p);
      }
      return success(positions);
    },

    async getAccount(): Promise<CallResult<AlpacaAccountFlags>> {
      const res = await request('GET', '/v2/account');
      if (!res.ok) return res;
      const body = res.value.body;
      if (typeof body !== 'object' || body === null) return unexpected('account');
      const b = body as Record<string, unknown>;
      // Only an explicit true is a block: a missing flag is no evidence, and a blocked account
      // refuses orders with a 403 anyway.
      return success({ trading_blocked: b['trading_blocked'] === true, account_blocked: b['account_blocked'] === true });
    },
  };
}

/** The POST /v2/orders body. Numbers become decimal strings, as the API wants them. */
export function orderBody(order: PlacedOrderRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {
    symbol: order.instrument,
    qty: decimal(order.quantity),
    side: order.side,
    type: order.order_type,
    time_in_force: order.time_in_force,
    client_order_id: order.client_order_id,
  };
  if (order.limit_price !== undefined) body['limit_price'] = decimal(order.limit_price);
  if (order.stop_price !== undefined) body['stop_price'] = decimal(order.stop_price);
  const tp = order.take_profit;
  const sl = order.stop_loss;
  // Alpaca: `bracket` needs both legs; one leg alone is a one-triggers-other order.
  if (tp !== undefined || sl !== undefined) body['order_class'] = tp !== undefined && sl !== undefined ? 'bracket' : 'oto';
  if (tp !== undefined) body['take_profit'] = { limit_price: decimal(tp.limit_price) };
  if (sl !== undefined) {
    body['stop_loss'] =
      sl.limit_price === undefined
        ? { stop_price: decimal(sl.stop_price) }
        : { stop_price: decimal(sl.stop_price), limit_price: decimal(sl.limit_price) };
  }
  return body;
}

/** A finite number as a plain decimal string: never exponent notation (1e-7), at most 9 decimals. */
export function decimal(n: number): string {
  const fixed = n.toFixed(9);
  const trimmed = fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
  return trimmed === '-0' ? '0' : trimmed;
}

/** Alpaca's order statuses onto ours; anything still working is `new` or `partially_filled`. */
export function mapAlpacaStatus(status: string, filledQty: number, qty: number): OrderStatus {
  switch (status) {
    case 'new':
    case 'accepted':
    case 'pending_new':
      return 'new';
    case 'partially_filled':
    case 'filled':
    case 'canceled':
    case 'rejected':
    case 'expired':
      return status;
    // The original order was replaced by another: it will never fill further.
    case 'replaced':
      return 'canceled';
    // Completed for the day, settlement pending: as filled as it will get.
    case 'calculated':
      return filledQty > 0 && filledQty >= qty ? 'filled' : filledQty > 0 ? 'partially_filled' : 'new';
    // done_for_day, pending_cancel, pending_replace, stopped, suspended, held, accepted_for_bidding:
    // still open as far as sluice is concerned.
    default:
      return filledQty > 0 ? 'partially_filled' : 'new';
  }
}

/** An Alpaca Order JSON as our Order, or undefined when a field we rely on is missing. */
export function toOrder(json: unknown): Order | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const id = stringField(json, 'id');
  const clientOrderId = stringField(json, 'client_order_id');
  const symbol = stringField(json, 'symbol');
  const side = stringField(json, 'side');
  const type = stringField(json, 'type') ?? stringField(json, 'order_type');
  const status = stringField(json, 'status');
  const filled = numberField(json, 'filled_qty') ?? 0;
  // qty is null for a notional order; sluice never sends one, but report what filled.
  const qty = numberField(json, 'qty') ?? filled;
  if (id === undefined || clientOrderId === undefined || symbol === undefined || status === undefined) return undefined;
  if (side !== 'buy' && side !== 'sell') return undefined;
  if (!isOrderType(type)) return undefined;
  return {
    client_order_id: clientOrderId,
    order_id: id,
    instrument: symbol,
    side,
    quantity: qty,
    order_type: type,
    limit_price: numberField(json, 'limit_price') ?? null,
    status: mapAlpacaStatus(status, filled, qty),
    filled_quantity: filled,
    fill_price: numberField(json, 'filled_avg_price') ?? null,
  };
}

function toOrderResult(body: unknown, context?: 'placed'): CallResult<Order> {
  const order = toOrder(body);
  if (order !== undefined) return success(order);
  // A 2xx to a POST we cannot read may still be a placed order: let the executor look it up.
  return failure('unexpected order response from Alpaca', { retryable: true, ambiguous: context === 'placed' });
}

/** Positions are signed in sluice: a short is negative whatever sign Alpaca's qty carries. */
function toPosition(json: unknown): Position | undefined {
  const symbol = stringField(json, 'symbol');
  const qty = numberField(json, 'qty');
  const avg = numberField(json, 'avg_entry_price');
  if (symbol === undefined || qty === undefined || avg === undefined) return undefined;
  const side = stringField(json, 'side');
  return { instrument: symbol, quantity: side === 'short' ? -Math.abs(qty) : Math.abs(qty), avg_price: avg };
}

function unexpected(what: string): CallResult<never> {
  return failure(`unexpected ${what} response from Alpaca`, { retryable: true, ambiguous: false });
}

function isOrderType(t: string | undefined): t is OrderType {
  return t === 'market' || t === 'limit' || t === 'stop' || t === 'stop_limit';
}

/** Alpaca writes crypto pairs both as BTC/USD and BTCUSD. */
function sameSymbol(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const norm = (s: string): string => s.replace('/', '').toUpperCase();
  return norm(a) === norm(b);
}

function stringField(json: unknown, key: string): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const v = (json as Record<string, unknown>)[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A decimal-string field (Alpaca sends numbers as strings), also accepting a JSON number. */
function numberField(json: unknown, key: string): number | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const v = (json as Record<string, unknown>)[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}
