/**
 * A local fake of Alpaca's Trading API v2 for the connector tests. Every request is checked
 * against Alpaca's own OpenAPI document (test/fixtures/alpaca/trading-api.json, alpaca-spec.ts):
 * the path and method must exist, path and query parameters and the JSON body must match their
 * schemas, and both API key headers must be sent. A request that does not validate is answered
 * 400 and recorded as a violation, so a test can assert that the connector never sent anything
 * Alpaca would not accept. The fake's own 2xx answers, and the orders it sends on its stream, are
 * checked against the document's schemas as well, so that the connector is tested against shapes
 * the real API sends.
 *
 * Behaviour (alpaca-book.ts): as at Alpaca, an order is answered `accepted` with nothing filled,
 * then routed (`new`) and filled later by the `fills` plan; `fills: 'immediate'` answers market
 * orders already filled (the fake's behaviour before the stream existed). client_order_id is
 * unique for ever. The `trade_updates` stream (alpaca-stream-server.ts) is served on the same
 * server at /stream. Scripted faults are queued with failNext() and consumed by the next request
 * they apply to.
 */
import { randomUUID } from 'node:crypto';
import { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createBook, OPEN_STATUSES, type AlpacaOrderJson, type FillPlan, type LimitOrders } from './alpaca-book.js';
import { accountJson, orderRuleProblem, positionJson } from './alpaca-json.js';
import { createSpecChecker, isJson, loadOperations, type Operation } from './alpaca-spec.js';
import { createStreamServer, type StreamFrames, type StreamServer, type StreamStats } from './alpaca-stream-server.js';

export type { AlpacaOrderJson, FillPlan, LimitOrders, StreamFrames, StreamStats };

/**
 * - `500_after_place`: the next POST /v2/orders places the order, then answers 500.
 * - `hang_after_place`: the next POST /v2/orders places the order and never answers (until close).
 * - `403_buying_power`: the next POST /v2/orders is refused, nothing placed.
 * - `reject`: the next POST /v2/orders is answered `accepted`, then the order is rejected.
 * - `429`: the next request of any kind is rate limited, X-RateLimit-Reset one second ahead.
 * - `account_blocked`: the next GET /v2/account reports trading_blocked and account_blocked.
 */
export type FakeAlpacaFault = '500_after_place' | '429' | 'hang_after_place' | '403_buying_power' | 'reject' | 'account_blocked';

export interface RecordedRequest {
  at: string;
  method: string;
  path: string;
  query: Record<string, string>;
  /** Lower-cased names. */
  headers: Record<string, string>;
  /** Parsed JSON, the raw text when not JSON, or null. */
  body: unknown;
}

export interface Violation {
  /** `request`: the connector sent something Alpaca would refuse; `response`: the fake itself is off-spec; `stream`: the connector sent the stream something Alpaca would not take. */
  kind: 'unknown_operation' | 'auth' | 'request' | 'semantic' | 'not_implemented' | 'response' | 'stream';
  method: string;
  path: string;
  message: string;
}

export interface FakeAlpacaOptions {
  key_id?: string;
  secret_key?: string;
  /** Fill price of market orders for symbols without their own price (default 100). */
  fill_price?: number;
  /** How working orders fill (default `{ delay_ms: 200, parts: 1 }`): see FillPlan. */
  fills?: FillPlan;
  /** Which limit and stop orders work (default `marketable`): see LimitOrders. */
  limit_orders?: LimitOrders;
  /** The stream's frames (default `binary`, as the paper stream sends them). */
  stream_frames?: StreamFrames;
}

export interface FakeAlpaca {
  url: string;
  key_id: string;
  secret_key: string;
  close(): Promise<void>;
  orders(): AlpacaOrderJson[];
  /** The orders still open (accepted, new, partially filled, …). */
  openOrders(): AlpacaOrderJson[];
  order(clientOrderId: string): AlpacaOrderJson | undefined;
  positions(): { symbol: string; qty: number; avg_entry_price: number }[];
  requests(): RecordedRequest[];
  violations(): Violation[];
  failNext(kind: FakeAlpacaFault): void;
  setPrice(symbol: string, price: number): void;
  /** Fills part or all of an open order by hand (a `partial_fill` or `fill` on the stream). */
  fill(clientOrderId: string, qty: number, price: number): void;
  expire(clientOrderId: string): void;
  reject(clientOrderId: string): void;
  /** Terminates every stream connection. */
  dropStream(): void;
  /** Refuses new stream connections (`connection`, HTTP 503) or their authentication (`auth`). */
  refuseStream(on: boolean, how?: 'connection' | 'auth'): void;
  /** While on, trade updates are not sent: they are lost, as in a real drop. */
  pauseStream(on: boolean): void;
  /** While on, the stream behaves as a dead peer: no pongs, no updates, nothing closed. */
  muteStream(on: boolean): void;
  setStreamFrames(kind: StreamFrames): void;
  streamStats(): StreamStats;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const DEFAULT_FILLS: FillPlan = { delay_ms: 200, parts: 1 };

export async function startFakeAlpaca(options: FakeAlpacaOptions = {}): Promise<FakeAlpaca> {
  const keyId = options.key_id ?? 'PKFAKEKEYID0000000001';
  const secretKey = options.secret_key ?? 'fakeSecretKey0000000000000000000000000001';
  const spec = createSpecChecker();
  const operations = loadOperations();
  const recorded: RecordedRequest[] = [];
  const violations: Violation[] = [];
  const faults: FakeAlpacaFault[] = [];
  const hung = new Set<() => void>();
  const accountId = randomUUID();
  // Bound once the HTTP server listens; nothing is published before an order exists.
  let stream: StreamServer | undefined;
  const book = createBook(
    { fills: options.fills ?? DEFAULT_FILLS, limit_orders: options.limit_orders ?? 'marketable', default_price: options.fill_price ?? 100 },
    (update) => {
      const off = spec.order(update.order);
      if (off !== undefined) violations.push({ kind: 'response', method: 'WS', path: '/stream', message: `trade update order: ${off}` });
      stream?.publish(update);
    },
  );

  function takeFault(operationId: string): FakeAlpacaFault | undefined {
    const i = faults.findIndex(
      (f) =>
        f === '429' ||
        (f === 'account_blocked' && operationId === 'getAccount') ||
        ((f === '500_after_place' || f === 'hang_after_place' || f === '403_buying_power' || f === 'reject') && operationId === 'postOrder'),
    );
    if (i < 0) return undefined;
    const [fault] = faults.splice(i, 1);
    return fault;
  }

  const notFound: Answer = { status: 404, body: { code: 40410000, message: 'order not found' } };

  async function handle(op: Operation, pathParams: Record<string, string>, query: URLSearchParams, body: unknown): Promise<Answer> {
    const fault = takeFault(op.operationId);
    if (fault === '429') {
      const reset = Math.ceil(Date.now() / 1000) + 1;
      return {
        status: 429,
        body: { code: 42910000, message: 'rate limit exceeded' },
        headers: { 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
      };
    }
    switch (op.operationId) {
      case 'postOrder': {
        const b = isJson(body) ? body : {};
        if (fault === '403_buying_power') return { status: 403, body: { code: 40310000, message: 'insufficient buying power' } };
        const problem = orderRuleProblem(b);
        if (problem !== undefined) {
          violations.push({ kind: 'semantic', method: 'POST', path: '/v2/orders', message: problem });
          return { status: 422, body: { code: 40010001, message: problem } };
        }
        const coid = b['client_order_id'];
        if (typeof coid === 'string' && book.byClientId(coid) !== undefined) {
          return { status: 422, body: { code: 40010001, message: 'client_order_id must be unique' } };
        }
        const order = book.place(b, { reject: fault === 'reject' });
        if (fault === '500_after_place') return { status: 500, body: { code: 50010000, message: 'internal server error' } };
        if (fault === 'hang_after_place') {
          await new Promise<void>((resolve) => hung.add(resolve));
          return { status: 504, body: { message: 'gateway timeout' } };
        }
        return { status: 200, body: order };
      }
      case 'getOrderByClientOrderId': {
        const order = book.byClientId(query.get('client_order_id') ?? '');
        return order === undefined ? notFound : { status: 200, body: order };
      }
      case 'getOrderByOrderID': {
        const order = book.byId(pathParams['order_id'] ?? '');
        return order === undefined ? notFound : { status: 200, body: order };
      }
      case 'getAllOrders': {
        const status = query.get('status') ?? 'open';
        const symbols = query.get('symbols')?.split(',').filter((s) => s !== '');
        const limit = Number(query.get('limit') ?? '50');
        let list = book.orders().filter((o) => (status === 'all' ? true : status === 'open' ? OPEN_STATUSES.has(o.status) : !OPEN_STATUSES.has(o.status)));
        if (symbols !== undefined) list = list.filter((o) => symbols.includes(o.symbol));
        if (query.get('direction') !== 'asc') list.reverse();
        return { status: 200, body: list.slice(0, limit) };
      }
      case 'deleteOrderByOrderID': {
        const outcome = book.cancel(pathParams['order_id'] ?? '');
        if (outcome === 'not_found') return notFound;
        if (outcome === 'not_cancelable') return { status: 422, body: { code: 42210000, message: 'order is not cancelable' } };
        return { status: 204 };
      }
      case 'getAllOpenPositions':
        return { status: 200, body: book.positions().map((p) => positionJson(p.symbol, p, book.priceOf(p.symbol), book.assetId(p.symbol))) };
      case 'getAccount':
        return { status: 200, body: accountJson(accountId, fault === 'account_blocked') };
      default:
        violations.push({ kind: 'not_implemented', method: op.method.toUpperCase(), path: op.template, message: `${op.operationId} is not implemented by the fake` });
        return { status: 501, body: { message: `not implemented by the fake: ${op.operationId}` } };
    }
  }

  const app = new Hono();
  app.all('*', async (c) => {
    const url = new URL(c.req.url);
    const method = c.req.method.toLowerCase();
    const raw = await c.req.text();
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((value, key) => {
      headers[key] = value;
    });
    let recordedBody: unknown = raw === '' ? null : raw;
    try {
      recordedBody = raw === '' ? null : (JSON.parse(raw) as unknown);
    } catch {
      // kept as text
    }
    recorded.push({
      at: new Date().toISOString(),
      method: method.toUpperCase(),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams.entries()),
      headers,
      body: recordedBody,
    });

    const refuse = (kind: Violation['kind'], status: number, message: string): Response => {
      violations.push({ kind, method: method.toUpperCase(), path: url.pathname, message });
      return c.json({ message: kind === 'auth' ? message : `validation: ${message}` }, status as 400);
    };

    let op: Operation | undefined;
    let pathParams: Record<string, string> = {};
    for (const candidate of operations) {
      if (candidate.method !== method) continue;
      const m = candidate.matcher.exec(url.pathname);
      if (m === null) continue;
      op = candidate;
      pathParams = Object.fromEntries(candidate.paramNames.map((name, i) => [name, decodeURIComponent(m[i + 1] ?? '')]));
      break;
    }
    if (op === undefined) return refuse('unknown_operation', 400, `no operation ${method.toUpperCase()} ${url.pathname} in the document`);

    // securitySchemes: both API key headers, on every operation.
    if (headers['apca-api-key-id'] !== keyId || headers['apca-api-secret-key'] !== secretKey) {
      return refuse('auth', 401, 'unauthorized.');
    }

    const checked = spec.request(op, pathParams, url.searchParams, raw, c.req.header('content-type') ?? null);
    if (checked.problem !== undefined) return refuse('request', 400, checked.problem);

    const answer = await handle(op, pathParams, url.searchParams, checked.body);
    const off = spec.response(op, answer.status, answer.body);
    if (off !== undefined) violations.push({ kind: 'response', method: op.method.toUpperCase(), path: op.template, message: off });
    if (answer.status === 204 || answer.body === undefined) return new Response(null, { status: answer.status, headers: answer.headers });
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json', ...answer.headers },
    });
  });

  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => resolve({ server: s, port: info.port }));
  });
  if (!(server instanceof Server)) throw new Error('the fake needs a node:http server for its stream');
  const ws = createStreamServer(server, {
    key_id: keyId,
    secret_key: secretKey,
    frames: options.stream_frames ?? 'binary',
    onViolation: (message) => violations.push({ kind: 'stream', method: 'WS', path: '/stream', message }),
  });
  stream = ws;

  return {
    url: `http://127.0.0.1:${port}`,
    key_id: keyId,
    secret_key: secretKey,
    async close() {
      book.close();
      ws.close();
      for (const release of hung) release();
      hung.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    orders: () => book.orders(),
    openOrders: () => book.orders().filter((o) => OPEN_STATUSES.has(o.status)),
    order: (coid) => {
      const o = book.byClientId(coid);
      return o === undefined ? undefined : { ...o };
    },
    positions: () => book.positions().map((p) => ({ symbol: p.symbol, qty: p.qty, avg_entry_price: p.avg })),
    requests: () => [...recorded],
    violations: () => [...violations],
    failNext(kind) {
      faults.push(kind);
    },
    setPrice: (symbol, price) => book.setPrice(symbol, price),
    fill: (coid, qty, price) => book.fill(coid, qty, price),
    expire: (coid) => book.expire(coid),
    reject: (coid) => book.reject(coid),
    dropStream: () => ws.drop(),
    refuseStream: (on, how) => ws.refuse(on, how),
    pauseStream: (on) => ws.pause(on),
    muteStream: (on) => ws.mute(on),
    setStreamFrames: (kind) => ws.frames(kind),
    streamStats: () => ws.stats(),
  };
}
