/**
 * The mock broker's operator routes (docs/http-api.md#connectors), under `/admin/connectors/{name}`
 * for any connector of type mock (the built-in one is `mock`, and in test mode every stand-in):
 * its orders, its faults and fill settings, and the last prices its resting orders wait for.
 */
import type { Hono } from 'hono';
import * as v from 'valibot';
import { isMockConnector, type MockConnector } from '../connectors/mock.js';
import { MOCK_MAX_FILL_DELAY_MS, MOCK_MAX_PARTIAL_FILLS } from '../config/schema.js';
import type { Deps } from '../deps.js';
import { INSTRUMENT_PATTERN, SIGNAL_BOUNDS } from '../domain/types.js';
import { parseInput, parseJsonBody } from './body.js';
import type { AppEnv } from './context.js';
import { AppError } from './errors.js';
import { limitParam } from './params.js';

/** The mock's orders page by creation time and id: `<ms>:<client_order_id>`. */
export const ordersQuery = v.object({
  limit: limitParam(500, 50),
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}:[A-Za-z0-9_.:-]{1,128}$/, 'expected a cursor from next_cursor'))),
});

const int = (min: number, max: number) => {
  const message = `expected an integer ${min}-${max}`;
  return v.pipe(v.number(message), v.integer(message), v.minValue(min, message), v.maxValue(max, message));
};
const rate = v.pipe(v.number('expected a number from 0 to 1'), v.minValue(0, 'expected a number from 0 to 1'), v.maxValue(1, 'expected a number from 0 to 1'));
export const faultsBody = v.strictObject({
  latency_ms: v.optional(int(0, 60_000)),
  failure_rate: v.optional(rate),
  timeout_rate: v.optional(rate),
  fill_delay_ms: v.optional(int(0, MOCK_MAX_FILL_DELAY_MS)),
  partial_fills: v.optional(int(1, MOCK_MAX_PARTIAL_FILLS)),
  resting_orders: v.optional(v.boolean('expected true or false')),
});

const MAX_PRICES = 500;
const { min_price: MIN_PRICE, max_price: MAX_PRICE } = SIGNAL_BOUNDS;
const priceMessage = `expected a price from ${MIN_PRICE} to ${MAX_PRICE}`;
/** `{"AAPL": 151.2, …}`: instruments as in signals (trimmed, upper-cased), each with a finite price in the signals' bounds. */
export const pricesBody = v.pipe(
  // A JSON array is an object too: refused before its indexes could pass for instruments.
  v.custom<Record<string, unknown>>((input) => typeof input === 'object' && input !== null && !Array.isArray(input), 'expected an object of instrument → price'),
  v.record(
    v.pipe(v.string(), v.trim(), v.regex(INSTRUMENT_PATTERN, 'expected an instrument: 1-32 characters of A-Z a-z 0-9 . / : - _ ! space, not only spaces'), v.toUpperCase()),
    v.pipe(v.number(priceMessage), v.finite(priceMessage), v.minValue(MIN_PRICE, priceMessage), v.maxValue(MAX_PRICE, priceMessage)),
    'expected an object of instrument → price',
  ),
  v.check((prices) => Object.keys(prices).length > 0, 'expected at least one instrument'),
  v.check((prices) => Object.keys(prices).length <= MAX_PRICES, `expected at most ${MAX_PRICES} instruments`),
);

export function mountMockRoutes(app: Hono<AppEnv>, deps: Deps): void {
  const mockConnector = (name: string): MockConnector => {
    const connector = deps.connectors.get(name);
    if (connector === undefined || !isMockConnector(connector)) throw new AppError('not_found', `no mock connector named "${name}"`);
    return connector;
  };

  app.get('/connectors/:name/orders', async (c) => {
    const connector = mockConnector(c.req.param('name'));
    const q = parseInput(ordersQuery, c.req.query());
    return c.json(await deps.store.mock.listOrders(connector.name, q.limit, q.cursor));
  });

  app.post('/connectors/:name/faults', async (c) => {
    const connector = mockConnector(c.req.param('name'));
    const body = await parseJsonBody(c.req.raw, faultsBody);
    const faults = connector.setFaults(body);
    c.get('logger').warn({ connector: connector.name, faults }, 'mock faults changed');
    return c.json({ connector: connector.name, faults });
  });

  app.post('/connectors/:name/prices', async (c) => {
    const connector = mockConnector(c.req.param('name'));
    const prices = await parseJsonBody(c.req.raw, pricesBody);
    const orders = await connector.setPrices(prices);
    c.get('logger').info({ connector: connector.name, prices, moved: orders.map((o) => o.client_order_id) }, 'mock prices set');
    return c.json({ connector: connector.name, prices, orders });
  });
}
