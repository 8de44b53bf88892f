/**
 * The `alpaca` connector (docs/execution.md#the-alpaca-connector) against Alpaca's Trading API v2, as described by
 * test/fixtures/alpaca/trading-api.json: the REST calls here, the JSON mapping in alpaca-wire.ts,
 * the `trade_updates` stream in alpaca-stream.ts. It adds Alpaca's meaning to the generic
 * classification of http-client: a 422 "client_order_id must be unique" means an earlier attempt
 * landed, so the order is looked up and adopted (at most one order per client_order_id,
 * docs/guarantees.md#idempotency-and-at-most-one-order); a 404 on a lookup is "no such order".
 * A client-side token bucket keeps this process under Alpaca's 200 requests/minute. The API keys
 * go into headers and the stream's auth message and nowhere else.
 */
import type { ConnectorConfig } from '../config/schema.js';
import type { Order, Position } from '../domain/types.js';
import type { CallResult, Connector, OrderRequest, OrderStreamListener } from './connector.js';
import type { ConnectorCapabilities } from '../domain/types.js';
import { failure, notForwardable, success } from './connector.js';
import type { JsonResponse } from './http-client.js';
import { callJson } from './http-client.js';
import { SILENT_LOGGER, STREAM_TIMING, startAlpacaStream, type AlpacaStream, type StreamLogger, type StreamTiming } from './alpaca-stream.js';
import { orderBody, sameSymbol, streamUrlOf, stringField, toOrderResult, toPosition, unexpected } from './alpaca-wire.js';

export type AlpacaConnectorConfig = Extract<ConnectorConfig, { type: 'alpaca' }>;

export interface AlpacaConnectorDeps {
  now: () => Date;
  fetch?: typeof fetch;
  /** How the throttle waits; tests pass one that advances their clock instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
  /** Where the stream logs (connects, drops, an unauthorized answer); nowhere when left out. */
  logger?: StreamLogger;
  /** The stream's timing; tests shorten it. */
  stream?: Partial<StreamTiming>;
  /** The backoff's jitter (Math.random). */
  random?: () => number;
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

/** Open orders fetched per page of a cancel; Alpaca's maximum page size. */
const OPEN_ORDERS_LIMIT = 500;
/** A bound on a cancel's pages (10,000 orders), so that a server that keeps listing cannot loop it. */
const MAX_CANCEL_PAGES = 20;

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
  const streams = new Set<AlpacaStream>();
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
      // Alpaca lists at most OPEN_ORDERS_LIMIT orders a page, newest first: list again until a
      // page is not full. A canceled order normally leaves the list at once; one still in
      // pending_cancel stays, so a full page of known orders is followed by the oldest-first page
      // (its far end), and a page with nothing new ends the cancel.
      const tried = new Set<string>();
      let cancelled = 0;
      let direction: 'desc' | 'asc' = 'desc';
      for (let page = 0; page < MAX_CANCEL_PAGES; page++) {
        const list = await request('GET', '/v2/orders', { status: 'open', symbols: instrument, limit: String(OPEN_ORDERS_LIMIT), direction });
        if (!list.ok) return list;
        if (!Array.isArray(list.value.body)) return unexpected('open orders');
        let fresh = 0;
        for (const item of list.value.body) {
          const id = stringField(item, 'id');
          // The symbols filter is the server's; checking again costs nothing and keeps a cancel of
          // one instrument from ever touching another.
          if (id === undefined || tried.has(id) || !sameSymbol(stringField(item, 'symbol'), instrument)) continue;
          tried.add(id);
          fresh += 1;
          const del = await request('DELETE', `/v2/orders/${encodeURIComponent(id)}`);
          if (del.ok) cancelled += 1;
          // 404 gone, 422 no longer cancelable (filled or cancelled meanwhile): nothing left to cancel.
          else if (del.http_status !== 404 && del.http_status !== 422) return del;
        }
        if (list.value.body.length < OPEN_ORDERS_LIMIT) break;
        if (fresh === 0) {
          if (direction === 'asc') break;
          direction = 'asc';
        }
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

    subscribe(listener: OrderStreamListener): () => void {
      const stream = startAlpacaStream(
        {
          name,
          url: streamUrlOf(config),
          key_id: config.key_id,
          secret_key: config.secret_key,
          logger: deps.logger ?? SILENT_LOGGER,
          timing: { ...STREAM_TIMING, ...deps.stream },
          random: deps.random ?? Math.random,
        },
        listener,
      );
      streams.add(stream);
      return () => {
        stream.stop();
        streams.delete(stream);
      };
    },

    async close(): Promise<void> {
      for (const stream of streams) stream.stop();
      streams.clear();
    },
  };
}
