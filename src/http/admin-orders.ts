/**
 * `GET /admin/orders` (docs/http-api.md#orders): the orders sluice placed and follows until they
 * are terminal, newest first, filtered and paged like `/admin/signals`.
 */
import { Hono } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../deps.js';
import { INSTRUMENT_PATTERN, ORDER_STATUSES } from '../domain/types.js';
import { ORDER_CURSOR_PATTERN } from '../store/plans/orders.js';
import { parseInput } from './body.js';
import type { AppEnv } from './context.js';
import { orderView } from './views.js';

const ORDER_FILTERS = ['open', 'terminal', ...ORDER_STATUSES] as const;

export const orderListQuery = v.object({
  status: v.optional(v.picklist(ORDER_FILTERS, `expected one of ${ORDER_FILTERS.join(', ')}`)),
  connector: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'expected a connector name'))),
  instrument: v.optional(v.pipe(v.string(), v.trim(), v.regex(INSTRUMENT_PATTERN, 'expected an instrument'), v.toUpperCase())),
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, 'expected an integer 1-500'),
      v.transform(Number),
      v.minValue(1, 'expected an integer 1-500'),
      v.maxValue(500, 'expected an integer 1-500'),
    ),
    '100',
  ),
  // The store's own cursor rule: a cursor it never handed out never reaches it.
  cursor: v.optional(v.pipe(v.string(), v.regex(ORDER_CURSOR_PATTERN, 'expected a cursor from next_cursor'))),
});

export function orderRoutes(deps: Pick<Deps, 'store'>): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/orders', async (c) => {
    const q = parseInput(orderListQuery, c.req.query());
    const page = await deps.store.listOrders({
      limit: q.limit,
      ...(q.status === undefined ? {} : { status: q.status }),
      ...(q.connector === undefined ? {} : { connector: q.connector }),
      ...(q.instrument === undefined ? {} : { instrument: q.instrument }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    return c.json({ items: page.items.map(orderView), next_cursor: page.next_cursor });
  });
  return app;
}
