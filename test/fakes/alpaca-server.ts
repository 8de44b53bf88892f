/**
 * A local fake of Alpaca's Trading API v2 for the connector tests. Every request is checked
 * against Alpaca's own OpenAPI document (test/fixtures/alpaca/trading-api.json): the path and method
 * must exist, path and query parameters and the JSON body must match their schemas, and both API
 * key headers must be sent. A request that does not validate is answered 400 and recorded as a
 * violation, so a test can assert that the connector never sent anything Alpaca would not
 * accept. The fake's own 2xx answers are checked against the document's response schemas as
 * well, so that the connector is tested against shapes the real API sends.
 *
 * Behaviour: orders are kept (client_order_id unique for ever, as Alpaca does), market orders fill
 * at once at a configurable price and make positions, other orders stay open. Scripted faults are
 * queued with failNext() and consumed by the next request they apply to.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Hono } from 'hono';

/** Alpaca's published OpenAPI document, shipped with the tests (see test/fixtures/alpaca/README.md). */
const SPEC_PATH = new URL('../fixtures/alpaca/trading-api.json', import.meta.url);
const SPEC_ID = 'alpaca-trading-api.json';

/**
 * - `500_after_place`: the next POST /v2/orders places the order, then answers 500.
 * - `hang_after_place`: the next POST /v2/orders places the order and never answers (until close).
 * - `403_buying_power`: the next POST /v2/orders is refused, nothing placed.
 * - `429`: the next request of any kind is rate limited, X-RateLimit-Reset one second ahead.
 * - `account_blocked`: the next GET /v2/account reports trading_blocked and account_blocked.
 */
export type FakeAlpacaFault = '500_after_place' | '429' | 'hang_after_place' | '403_buying_power' | 'account_blocked';

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
  /** `request`: the connector sent something Alpaca would refuse; `response`: the fake itself is off-spec. */
  kind: 'unknown_operation' | 'auth' | 'request' | 'semantic' | 'not_implemented' | 'response';
  method: string;
  path: string;
  message: string;
}

/** An order as Alpaca serializes it (the fields the fake sets). */
export type AlpacaOrderJson = Record<string, unknown> & {
  id: string;
  client_order_id: string;
  symbol: string;
  status: string;
};

export interface FakeAlpacaOptions {
  key_id?: string;
  secret_key?: string;
  /** Fill price of market orders for symbols without their own price (default 100). */
  fill_price?: number;
}

export interface FakeAlpaca {
  url: string;
  key_id: string;
  secret_key: string;
  close(): Promise<void>;
  orders(): AlpacaOrderJson[];
  positions(): { symbol: string; qty: number; avg_entry_price: number }[];
  requests(): RecordedRequest[];
  violations(): Violation[];
  failNext(kind: FakeAlpacaFault): void;
  setPrice(symbol: string, price: number): void;
}

type Json = Record<string, unknown>;

interface Operation {
  method: string;
  template: string;
  operationId: string;
  /** JSON pointer of the operation object inside the document. */
  pointer: string;
  op: Json;
  pathItem: Json;
  matcher: RegExp;
  paramNames: string[];
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const OPEN_STATUSES = new Set([
  'new',
  'accepted',
  'pending_new',
  'partially_filled',
  'held',
  'accepted_for_bidding',
  'pending_cancel',
  'pending_replace',
  'done_for_day',
  'stopped',
  'suspended',
  'calculated',
]);

const DECIMAL = /^-?\d+(\.\d+)?$/;

const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Json;
// ajv-formats is CommonJS with a default export; under NodeNext its namespace is what we get.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** OpenAPI 3.0 schemas carry `example`, `x-*`, `nullable`: strict mode off, `nullable` is understood by ajv. */
function createValidatorFactory(): (pointer: string) => ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('decimal', DECIMAL);
  ajv.addSchema(spec, SPEC_ID);
  const cache = new Map<string, ValidateFunction>();
  return (pointer) => {
    let v = cache.get(pointer);
    if (v === undefined) {
      v = ajv.compile({ $ref: `${SPEC_ID}#${pointer}` });
      cache.set(pointer, v);
    }
    return v;
  };
}

const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

function resolvePointer(pointer: string): unknown {
  let node: unknown = spec;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function loadOperations(): Operation[] {
  const ops: Operation[] = [];
  const paths = spec['paths'];
  if (!isJson(paths)) throw new Error('spec has no paths');
  for (const [template, item] of Object.entries(paths)) {
    if (!isJson(item)) continue;
    const paramNames: string[] = [];
    const pattern = template
      .split(/(\{[^}]+\})/)
      .map((part) => {
        const m = /^\{([^}]+)\}$/.exec(part);
        if (m?.[1] !== undefined) {
          paramNames.push(m[1]);
          return '([^/]+)';
        }
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!isJson(op)) continue;
      ops.push({
        method,
        template,
        operationId: typeof op['operationId'] === 'string' ? op['operationId'] : `${method} ${template}`,
        pointer: `/paths/${escapePointer(template)}/${method}`,
        op,
        pathItem: item,
        matcher: new RegExp(`^${pattern}$`),
        paramNames,
      });
    }
  }
  // Literal paths before templated ones, so /v2/orders:by_client_order_id never reads as an id.
  return ops.sort((a, b) => a.paramNames.length - b.paramNames.length);
}

interface ParamSpec {
  name: string;
  in: string;
  required: boolean;
  schemaPointer: string;
  type: string | undefined;
}

/** The operation's parameters (path-level and operation-level, $refs resolved) with schema pointers. */
function parametersOf(op: Operation): ParamSpec[] {
  const out = new Map<string, ParamSpec>();
  const collect = (list: unknown, base: string): void => {
    if (!Array.isArray(list)) return;
    list.forEach((entry: unknown, i) => {
      let pointer = `${base}/${i}`;
      let p: unknown = entry;
      if (isJson(entry) && typeof entry['$ref'] === 'string' && entry['$ref'].startsWith('#')) {
        pointer = entry['$ref'].slice(1);
        p = resolvePointer(pointer);
      }
      if (!isJson(p) || typeof p['name'] !== 'string' || typeof p['in'] !== 'string') return;
      const schema = p['schema'];
      out.set(`${p['in']}:${p['name']}`, {
        name: p['name'],
        in: p['in'],
        required: p['required'] === true,
        schemaPointer: `${pointer}/schema`,
        type: isJson(schema) && typeof schema['type'] === 'string' ? schema['type'] : undefined,
      });
    });
  };
  collect(op.pathItem['parameters'], `/paths/${escapePointer(op.template)}/parameters`);
  collect(op.op['parameters'], `${op.pointer}/parameters`);
  return [...out.values()];
}

/** Query strings carry text: coerce to the schema's type before validating, as a server would. */
function coerce(values: string[], type: string | undefined): unknown {
  const one = values[0] ?? '';
  switch (type) {
    case 'array':
      return values.flatMap((v) => v.split(','));
    case 'integer':
      return /^-?\d+$/.test(one) ? Number(one) : one;
    case 'number':
      return one !== '' && Number.isFinite(Number(one)) ? Number(one) : one;
    case 'boolean':
      return one === 'true' ? true : one === 'false' ? false : one;
    default:
      return one;
  }
}

export async function startFakeAlpaca(options: FakeAlpacaOptions = {}): Promise<FakeAlpaca> {
  const keyId = options.key_id ?? 'PKFAKEKEYID0000000001';
  const secretKey = options.secret_key ?? 'fakeSecretKey0000000000000000000000000001';
  const defaultPrice = options.fill_price ?? 100;
  const validator = createValidatorFactory();
  const operations = loadOperations();

  const orders = new Map<string, AlpacaOrderJson>();
  const byClientId = new Map<string, string>();
  const positions = new Map<string, { qty: number; avg: number }>();
  const prices = new Map<string, number>();
  const assetIds = new Map<string, string>();
  const recorded: RecordedRequest[] = [];
  const violations: Violation[] = [];
  const faults: FakeAlpacaFault[] = [];
  const hung = new Set<() => void>();
  const accountId = randomUUID();

  const assetId = (symbol: string): string => {
    let id = assetIds.get(symbol);
    if (id === undefined) {
      id = randomUUID();
      assetIds.set(symbol, id);
    }
    return id;
  };
  const priceOf = (symbol: string): number => prices.get(symbol) ?? defaultPrice;

  function takeFault(operationId: string): FakeAlpacaFault | undefined {
    const i = faults.findIndex(
      (f) =>
        f === '429' ||
        (f === 'account_blocked' && operationId === 'getAccount') ||
        ((f === '500_after_place' || f === 'hang_after_place' || f === '403_buying_power') && operationId === 'postOrder'),
    );
    if (i < 0) return undefined;
    const [fault] = faults.splice(i, 1);
    return fault;
  }

  function applyFill(symbol: string, side: string, qty: number, price: number): void {
    const signed = side === 'buy' ? qty : -qty;
    const held = positions.get(symbol) ?? { qty: 0, avg: 0 };
    const next = round(held.qty + signed);
    let avg = held.avg;
    if (held.qty === 0 || Math.sign(next) !== Math.sign(held.qty)) avg = price; // opened or flipped
    else if (Math.abs(next) > Math.abs(held.qty)) avg = (held.avg * Math.abs(held.qty) + price * qty) / Math.abs(next);
    if (next === 0) positions.delete(symbol);
    else positions.set(symbol, { qty: next, avg });
  }

  /** Alpaca's business rules that the schema cannot express; the connector must never break them. */
  function orderRuleProblem(b: Json): string | undefined {
    const type = b['type'];
    const orderClass = b['order_class'] ?? 'simple';
    if (typeof b['symbol'] !== 'string' || b['symbol'] === '') return 'symbol is required';
    if (typeof b['side'] !== 'string') return 'side is required';
    const hasQty = b['qty'] !== undefined;
    if (hasQty === (b['notional'] !== undefined)) return 'exactly one of qty and notional is required';
    for (const k of ['qty', 'notional', 'limit_price', 'stop_price']) {
      const v = b[k];
      if (v !== undefined && (typeof v !== 'string' || !DECIMAL.test(v))) return `${k} must be a decimal string`;
    }
    if (hasQty && !(Number(b['qty']) > 0)) return 'qty must be > 0';
    const needsLimit = type === 'limit' || type === 'stop_limit';
    const needsStop = type === 'stop' || type === 'stop_limit';
    if (needsLimit !== (b['limit_price'] !== undefined)) return needsLimit ? 'limit_price is required' : `limit_price is not allowed for ${String(type)}`;
    if (needsStop !== (b['stop_price'] !== undefined)) return needsStop ? 'stop_price is required' : `stop_price is not allowed for ${String(type)}`;
    const tp = b['take_profit'];
    const sl = b['stop_loss'];
    if (tp !== undefined && !(isJson(tp) && typeof tp['limit_price'] === 'string')) return 'take_profit.limit_price is required';
    if (sl !== undefined && !(isJson(sl) && typeof sl['stop_price'] === 'string')) return 'stop_loss.stop_price is required';
    if (orderClass === 'bracket' && (tp === undefined || sl === undefined)) return 'bracket orders require take_profit and stop_loss';
    if (orderClass === 'oto' && (tp === undefined) === (sl === undefined)) return 'oto orders require exactly one of take_profit and stop_loss';
    if ((orderClass === 'simple' || orderClass === '') && (tp !== undefined || sl !== undefined)) return 'take_profit/stop_loss need order_class bracket or oto';
    return undefined;
  }

  function placeOrder(b: Json): AlpacaOrderJson {
    const now = new Date().toISOString();
    const symbol = String(b['symbol']);
    const type = String(b['type']);
    const qty = String(b['qty']);
    const price = priceOf(symbol);
    const fills = type === 'market';
    const order: AlpacaOrderJson = {
      id: randomUUID(),
      client_order_id: typeof b['client_order_id'] === 'string' ? b['client_order_id'] : randomUUID(),
      created_at: now,
      updated_at: now,
      submitted_at: now,
      filled_at: fills ? now : null,
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
      qty,
      filled_qty: fills ? qty : '0',
      filled_avg_price: fills ? String(price) : null,
      order_class: typeof b['order_class'] === 'string' ? b['order_class'] : 'simple',
      order_type: type,
      type,
      side: String(b['side']),
      time_in_force: String(b['time_in_force']),
      limit_price: typeof b['limit_price'] === 'string' ? b['limit_price'] : null,
      stop_price: typeof b['stop_price'] === 'string' ? b['stop_price'] : null,
      status: fills ? 'filled' : 'new',
      extended_hours: false,
      legs: null,
      trail_percent: null,
      trail_price: null,
      hwm: null,
    };
    orders.set(order.id, order);
    byClientId.set(order.client_order_id, order.id);
    if (fills) applyFill(symbol, order['side'] === 'buy' ? 'buy' : 'sell', Number(qty), price);
    return order;
  }

  function positionJson(symbol: string, p: { qty: number; avg: number }): Json {
    const price = priceOf(symbol);
    const qty = p.qty;
    const marketValue = qty * price;
    const costBasis = qty * p.avg;
    const pl = marketValue - costBasis;
    return {
      asset_id: assetId(symbol),
      symbol,
      exchange: 'NASDAQ',
      asset_class: 'us_equity',
      asset_marginable: true,
      // Alpaca signs qty for shorts and says so in `side` as well.
      qty: String(qty),
      qty_available: String(qty),
      side: qty < 0 ? 'short' : 'long',
      avg_entry_price: String(p.avg),
      market_value: String(marketValue),
      cost_basis: String(costBasis),
      unrealized_pl: String(pl),
      unrealized_plpc: String(costBasis === 0 ? 0 : pl / Math.abs(costBasis)),
      unrealized_intraday_pl: String(pl),
      unrealized_intraday_plpc: String(costBasis === 0 ? 0 : pl / Math.abs(costBasis)),
      current_price: String(price),
      lastday_price: String(price),
      change_today: '0',
    };
  }

  function accountJson(blocked: boolean): Json {
    return {
      id: accountId,
      account_number: 'PA000FAKE0001',
      status: 'ACTIVE',
      crypto_status: 'ACTIVE',
      currency: 'USD',
      cash: '100000',
      buying_power: '200000',
      equity: '100000',
      portfolio_value: '100000',
      pattern_day_trader: false,
      shorting_enabled: true,
      multiplier: '2',
      trading_blocked: blocked,
      account_blocked: blocked,
      transfers_blocked: blocked,
      trade_suspended_by_user: false,
      created_at: '2026-01-01T00:00:00Z',
    };
  }

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
        if (typeof coid === 'string' && byClientId.has(coid)) {
          return { status: 422, body: { code: 40010001, message: 'client_order_id must be unique' } };
        }
        const order = placeOrder(b);
        if (fault === '500_after_place') return { status: 500, body: { code: 50010000, message: 'internal server error' } };
        if (fault === 'hang_after_place') {
          await new Promise<void>((resolve) => hung.add(resolve));
          return { status: 504, body: { message: 'gateway timeout' } };
        }
        return { status: 200, body: order };
      }
      case 'getOrderByClientOrderId': {
        const id = byClientId.get(query.get('client_order_id') ?? '');
        const order = id === undefined ? undefined : orders.get(id);
        return order === undefined ? { status: 404, body: { code: 40410000, message: 'order not found' } } : { status: 200, body: order };
      }
      case 'getAllOrders': {
        const status = query.get('status') ?? 'open';
        const symbols = query.get('symbols')?.split(',').filter((s) => s !== '');
        const limit = Number(query.get('limit') ?? '50');
        let list = [...orders.values()].filter((o) =>
          status === 'all' ? true : status === 'open' ? OPEN_STATUSES.has(o.status) : !OPEN_STATUSES.has(o.status),
        );
        if (symbols !== undefined) list = list.filter((o) => symbols.includes(o.symbol));
        if (query.get('direction') !== 'asc') list.reverse();
        return { status: 200, body: list.slice(0, limit) };
      }
      case 'deleteOrderByOrderID': {
        const order = orders.get(pathParams['order_id'] ?? '');
        if (order === undefined) return { status: 404, body: { code: 40410000, message: 'order not found' } };
        if (!OPEN_STATUSES.has(order.status)) return { status: 422, body: { code: 42210000, message: 'order is not cancelable' } };
        const now = new Date().toISOString();
        Object.assign(order, { status: 'canceled', canceled_at: now, updated_at: now });
        return { status: 204 };
      }
      case 'getAllOpenPositions':
        return { status: 200, body: [...positions.entries()].map(([symbol, p]) => positionJson(symbol, p)) };
      case 'getAccount':
        return { status: 200, body: accountJson(fault === 'account_blocked') };
      default:
        violations.push({ kind: 'not_implemented', method: op.method.toUpperCase(), path: op.template, message: `${op.operationId} is not implemented by the fake` });
        return { status: 501, body: { message: `not implemented by the fake: ${op.operationId}` } };
    }
  }

  /** Checks one request against the document; returns the problem, or undefined when it validates. */
  function validateRequest(op: Operation, pathParams: Record<string, string>, query: URLSearchParams, raw: string, contentType: string | null): { problem?: string; body: unknown } {
    const params = parametersOf(op);
    for (const p of params.filter((x) => x.in === 'path')) {
      const v = validator(p.schemaPointer);
      if (!v(pathParams[p.name])) return { problem: `path parameter ${p.name}: ${errorsText(v)}`, body: null };
    }
    const queryParams = params.filter((x) => x.in === 'query');
    for (const key of new Set(query.keys())) {
      if (!queryParams.some((p) => p.name === key)) return { problem: `unknown query parameter ${key}`, body: null };
    }
    for (const p of queryParams) {
      const values = query.getAll(p.name);
      if (values.length === 0) {
        if (p.required) return { problem: `query parameter ${p.name} is required`, body: null };
        continue;
      }
      if (values.length > 1 && p.type !== 'array') return { problem: `query parameter ${p.name} given twice`, body: null };
      const v = validator(p.schemaPointer);
      if (!v(coerce(values, p.type))) return { problem: `query parameter ${p.name}: ${errorsText(v)}`, body: null };
    }

    const requestBody = op.op['requestBody'];
    if (!isJson(requestBody)) {
      return raw === '' ? { body: null } : { problem: `${op.method.toUpperCase()} ${op.template} takes no body`, body: null };
    }
    if (raw === '') return requestBody['required'] === true ? { problem: 'a JSON body is required', body: null } : { body: null };
    if (contentType === null || !contentType.toLowerCase().startsWith('application/json')) {
      return { problem: `content-type must be application/json, got ${String(contentType)}`, body: raw };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw) as unknown;
    } catch {
      return { problem: 'body is not JSON', body: raw };
    }
    const v = validator(`${op.pointer}/requestBody/content/application~1json/schema`);
    if (!v(parsed)) return { problem: `body: ${errorsText(v)}`, body: parsed };
    return { body: parsed };
  }

  /** The fake's own answers must match the document too, or the tests prove nothing. */
  function checkResponse(op: Operation, answer: Answer): void {
    if (answer.status < 200 || answer.status >= 300 || answer.body === undefined) return;
    const pointer = `${op.pointer}/responses/${answer.status}/content/application~1json/schema`;
    if (resolvePointer(pointer) === undefined) return;
    const v = validator(pointer);
    if (!v(answer.body)) {
      violations.push({ kind: 'response', method: op.method.toUpperCase(), path: op.template, message: errorsText(v) });
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

    const checked = validateRequest(op, pathParams, url.searchParams, raw, c.req.header('content-type') ?? null);
    if (checked.problem !== undefined) return refuse('request', 400, checked.problem);

    const answer = await handle(op, pathParams, url.searchParams, checked.body);
    checkResponse(op, answer);
    if (answer.status === 204 || answer.body === undefined) return new Response(null, { status: answer.status, headers: answer.headers });
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json', ...answer.headers },
    });
  });

  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => resolve({ server: s, port: info.port }));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    key_id: keyId,
    secret_key: secretKey,
    async close() {
      for (const release of hung) release();
      hung.clear();
      if (server instanceof Server) server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    orders: () => [...orders.values()].map((o) => ({ ...o })),
    positions: () => [...positions.entries()].map(([symbol, p]) => ({ symbol, qty: p.qty, avg_entry_price: p.avg })),
    requests: () => [...recorded],
    violations: () => [...violations],
    failNext(kind) {
      faults.push(kind);
    },
    setPrice(symbol, price) {
      prices.set(symbol, price);
    },
  };
}

function errorsText(v: ValidateFunction): string {
  return (v.errors ?? []).map((e) => `${e.instancePath === '' ? '(root)' : e.instancePath} ${e.message ?? 'is invalid'}`).join('; ');
}

function round(n: number): number {
  return Number(n.toFixed(9));
}
