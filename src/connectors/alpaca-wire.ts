/**
 * Alpaca's JSON ↔ sluice's types, for the REST calls (alpaca.ts) and the `trade_updates` stream
 * (alpaca-stream.ts) alike: one order mapping, so that a stream update and a lookup of the same
 * order read the same. Pure: every case is a line in a table test (test/connectors/alpaca-wire.test.ts).
 * Numbers travel as decimal strings both ways.
 */
import type { Order, OrderStatus, OrderType, Position } from '../domain/types.js';
import type { CallResult, PlacedOrderRequest } from './connector.js';
import { failure, success } from './connector.js';

/**
 * The stream's address: `stream_url` when configured, else `base_url` with http(s) → ws(s) and
 * `/stream` appended to its path (wss://paper-api.alpaca.markets/stream for the paper host).
 */
export function streamUrlOf(config: { base_url: string; stream_url?: string | undefined }): string {
  if (config.stream_url !== undefined) return config.stream_url;
  const url = new URL(config.base_url);
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/stream`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** The trading stream's authentication, in the form Alpaca's streaming page documents. */
export function authMessage(keyId: string, secretKey: string): string {
  return JSON.stringify({ action: 'auth', key: keyId, secret: secretKey });
}

export const LISTEN_MESSAGE = JSON.stringify({ action: 'listen', data: { streams: ['trade_updates'] } });

/** One message of the trading stream, as the client acts on it. */
export type StreamMessage =
  | { kind: 'authorized' }
  | { kind: 'unauthorized'; action: string }
  | { kind: 'listening'; trade_updates: boolean }
  | { kind: 'trade_update'; event: string; order: Order }
  /** The server's in-stream error, sent before it closes the connection. */
  | { kind: 'error'; message: string }
  /** Not something the stream should send (bad JSON, a trade update without a readable order). */
  | { kind: 'unreadable'; why: string }
  /** Well-formed but of no interest (another stream, a future message type). */
  | { kind: 'ignored' };

/**
 * A frame's messages: the paper stream sends binary frames holding JSON, the live one text; a
 * frame may hold one message or an array of them.
 */
export function parseStreamFrame(text: string): StreamMessage[] {
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    return [{ kind: 'unreadable', why: 'a frame that is not JSON' }];
  }
  return (Array.isArray(json) ? json : [json]).map(parseStreamMessage);
}

export function parseStreamMessage(json: unknown): StreamMessage {
  if (typeof json !== 'object' || json === null) return { kind: 'unreadable', why: 'a message that is not an object' };
  const m = json as Record<string, unknown>;
  const data = typeof m['data'] === 'object' && m['data'] !== null ? (m['data'] as Record<string, unknown>) : {};
  if (m['action'] === 'error') {
    const message = stringField(data, 'error_message') ?? 'unspecified error';
    return { kind: 'error', message };
  }
  switch (m['stream']) {
    case 'authorization':
      return data['status'] === 'authorized' ? { kind: 'authorized' } : { kind: 'unauthorized', action: stringField(data, 'action') ?? 'authenticate' };
    case 'listening': {
      const streams = data['streams'];
      return { kind: 'listening', trade_updates: Array.isArray(streams) && streams.includes('trade_updates') };
    }
    case 'trade_updates': {
      const event = stringField(data, 'event') ?? 'unknown';
      const order = toOrder(data['order']);
      if (order === undefined) return { kind: 'unreadable', why: `a ${event} update without a readable order` };
      return { kind: 'trade_update', event, order };
    }
    default:
      return { kind: 'ignored' };
  }
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
    // An Order has no price while nothing is filled, whatever the answer carries.
    fill_price: filled > 0 ? (numberField(json, 'filled_avg_price') ?? null) : null,
  };
}

export function toOrderResult(body: unknown, context?: 'placed'): CallResult<Order> {
  const order = toOrder(body);
  if (order !== undefined) return success(order);
  // A 2xx to a POST we cannot read may still be a placed order: let the executor look it up.
  return failure('unexpected order response from Alpaca', { retryable: true, ambiguous: context === 'placed' });
}

/** Positions are signed in sluice: a short is negative whatever sign Alpaca's qty carries. */
export function toPosition(json: unknown): Position | undefined {
  const symbol = stringField(json, 'symbol');
  const qty = numberField(json, 'qty');
  const avg = numberField(json, 'avg_entry_price');
  if (symbol === undefined || qty === undefined || avg === undefined) return undefined;
  const side = stringField(json, 'side');
  return { instrument: symbol, quantity: side === 'short' ? -Math.abs(qty) : Math.abs(qty), avg_price: avg };
}

export function unexpected(what: string): CallResult<never> {
  return failure(`unexpected ${what} response from Alpaca`, { retryable: true, ambiguous: false });
}

function isOrderType(t: string | undefined): t is OrderType {
  return t === 'market' || t === 'limit' || t === 'stop' || t === 'stop_limit';
}

/** Alpaca writes crypto pairs both as BTC/USD and BTCUSD. */
export function sameSymbol(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const norm = (s: string): string => s.replace('/', '').toUpperCase();
  return norm(a) === norm(b);
}

export function stringField(json: unknown, key: string): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const v = (json as Record<string, unknown>)[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A decimal-string field (Alpaca sends numbers as strings), also accepting a JSON number. */
export function numberField(json: unknown, key: string): number | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const v = (json as Record<string, unknown>)[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}
