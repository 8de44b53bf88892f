/**
 * The operator API (docs/http-api.md#operator-api), under `/admin`: thin handlers that validate input, call one
 * verb and shape the answer. Bearer auth (admin / read-only) is applied by the parent app.
 */
import { Hono } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../deps.js';
import { INSTRUMENT_PATTERN, MODES } from '../domain/types.js';
import { tradingDay } from '../guardrails/trading-time.js';
import { isMockConnector } from '../connectors/mock.js';
import { breakerView, initialBreaker, resetBreaker } from '../domain/breaker.js';
import { verifyAuditChain } from '../ops/audit.js';
import { cancelOpenOrders, flattenPositions, type CancelDeps, type FlattenDeps } from '../ops/flatten.js';
import { statusReader } from '../ops/status.js';
import { parseInput, parseJsonBody } from './body.js';
import { limitParam } from './params.js';
import type { AppEnv } from './context.js';
import { mountMockRoutes } from './admin-mock.js';
import { AppError } from './errors.js';
import { orderView, signalView } from './views.js';

// At most 15 digits: every cursor fits a safe integer and a bigint column.
const cursorParam = v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'expected a cursor from next_cursor')));
/** Signal ids are `sig_` + hex; anything else cannot name one (and never reaches the database). */
const SIGNAL_ID = /^sig_[0-9a-f]{1,64}$/;

export const signalsQuery = v.object({
  status: v.optional(v.picklist(['accepted', 'executing', 'executed', 'rejected', 'failed'], 'expected a signal status')),
  source: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a source name'))),
  instrument: v.optional(v.pipe(v.string(), v.trim(), v.regex(INSTRUMENT_PATTERN, 'expected an instrument'), v.toUpperCase())),
  limit: limitParam(500, 50),
  cursor: cursorParam,
});

export const modeBody = v.strictObject({
  mode: v.picklist(MODES, `expected one of ${MODES.join(', ')}`),
  reason: v.pipe(v.string('expected a reason'), v.minLength(1, 'expected a reason'), v.maxLength(500, 'expected at most 500 characters')),
  cancel_open_orders: v.optional(v.boolean('expected true or false'), false),
});

export const flattenBody = v.strictObject({
  reason: v.pipe(v.string('expected a reason'), v.minLength(1, 'expected a reason'), v.maxLength(500, 'expected at most 500 characters')),
});

export const pageQuery = v.object({ limit: limitParam(500, 50), cursor: cursorParam });
export function adminRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const getStatus = statusReader({
    store: deps.store,
    connectors: deps.connectors,
    streams: () => deps.executor.tracker.streamStatus(),
    now: deps.now,
    database: deps.database,
    degraded: deps.degraded,
    recentErrors: deps.recentErrors,
    spool: deps.spool,
    testMode: deps.config.test_mode,
    version: deps.version,
    startedAt: deps.lifecycle.startedAt,
  });
  const cancelDeps: CancelDeps = { store: deps.store, connectors: deps.connectors };
  const flattenDeps: FlattenDeps = {
    store: deps.store,
    connectors: deps.connectors,
    now: deps.now,
    tradingDayTz: deps.config.policy.trading_day_tz,
    submit: deps.submitAccepted,
    settleOpen: (connector, instrument, sleep) => deps.executor.tracker.settleOpen(connector, instrument, sleep),
  };

  // `role` tells a client (the dashboard) which token it holds, so it can disable what it may not do.
  app.get('/status', async (c) => c.json({ ...(await getStatus()), role: c.get('role') }));

  app.post('/mode', async (c) => {
    const body = await parseJsonBody(c.req.raw, modeBody);
    await deps.store.setMode(body.mode, body.reason, 'operator', deps.now());
    c.get('logger').warn({ mode: body.mode, reason: body.reason }, 'mode changed by operator');
    if (body.cancel_open_orders) {
      const cancelled = await cancelOpenOrders(cancelDeps);
      await deps.store.appendEvent({ type: 'orders.cancelled', data: { reason: body.reason, actor: 'operator', cancelled } });
    }
    return c.json({ ...(await getStatus()), role: c.get('role') });
  });

  app.post('/flatten', async (c) => {
    const body = await parseJsonBody(c.req.raw, flattenBody);
    c.get('logger').warn({ reason: body.reason }, 'flatten requested by operator');
    const outcome = await flattenPositions(flattenDeps, { reason: body.reason, requestId: c.get('requestId') });
    return c.json({ status: 'accepted' as const, ...outcome }, 202);
  });

  app.get('/signals', async (c) => {
    const q = parseInput(signalsQuery, c.req.query());
    const page = await deps.store.listSignals({
      limit: q.limit,
      ...(q.status === undefined ? {} : { status: q.status }),
      ...(q.source === undefined ? {} : { source: q.source }),
      ...(q.instrument === undefined ? {} : { instrument: q.instrument }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    return c.json({ items: page.items.map(signalView), next_cursor: page.next_cursor });
  });

  app.get('/signals/:id', async (c) => {
    const id = c.req.param('id');
    const record = SIGNAL_ID.test(id) ? await deps.store.getSignal(id) : null;
    if (record === null) throw new AppError('not_found', `no signal ${id}`);
    const [attempts, events, orders] = await Promise.all([deps.store.listAttempts(id), deps.store.listSignalEvents(id), deps.store.ordersOfSignal(id)]);
    return c.json({ ...signalView(record), attempts, events, orders: orders.map(orderView) });
  });

  app.post('/signals/:id/retry', async (c) => {
    const id = c.req.param('id');
    const existing = SIGNAL_ID.test(id) ? await deps.store.getSignal(id) : null;
    if (existing === null) throw new AppError('not_found', `no signal ${id}`);
    const record = await deps.store.retrySignal(id, 'operator', deps.now());
    if (record === null) throw new AppError('conflict', `signal ${id} is ${existing.status}; only a failed signal can be retried`);
    c.get('logger').warn({ signal_id: id }, 'signal retried by operator');
    deps.submitAccepted(record);
    return c.json(signalView(record), 202);
  });

  app.get('/audit/verify', async (c) => c.json(await verifyAuditChain(deps.store)));

  app.get('/deliveries', async (c) => {
    const q = parseInput(pageQuery, c.req.query());
    return c.json(await deps.store.listRefusedDeliveries(q.limit, q.cursor));
  });

  app.get('/positions', async (c) => {
    const day = tradingDay(deps.now(), deps.config.policy.trading_day_tz);
    const out: Record<string, unknown> = {};
    for (const name of deps.connectors.keys()) {
      const ledger = await deps.store.getLedger(name, day);
      out[name] = {
        positions: ledger.positions.map((p) => ({ instrument: p.instrument, quantity: p.quantity, avg_price: p.avg_price })),
        gross_exposure: ledger.gross_exposure,
        reserved_exposure: ledger.reserved_exposure,
        realized_pnl_today: ledger.realized_pnl_today,
        // The limit today's realized PnL is judged against (per connector), null when none.
        max_daily_loss: deps.config.policy.max_daily_loss,
      };
    }
    return c.json({ connectors: out });
  });

  app.get('/connectors', async (c) => {
    const stored = await deps.store.getBreakers();
    const items = [...deps.connectors.values()].map((connector) => {
      // In test mode a mock stands in for a configured connector: its configured type is shown.
      const standsInFor = isMockConnector(connector) ? connector.standsInFor : null;
      return {
        name: connector.name,
        type: standsInFor ?? connector.type,
        mocked: standsInFor !== null,
        capabilities: connector.capabilities,
        breaker: breakerView(stored[connector.name] ?? initialBreaker()),
      };
    });
    return c.json({ items, next_cursor: null });
  });

  app.post('/breakers/:connector/reset', async (c) => {
    const name = c.req.param('connector');
    if (!deps.connectors.has(name)) throw new AppError('not_found', `no connector named "${name}"`);
    const next = await deps.store.updateBreaker(name, (s) => resetBreaker(s), deps.now(), 'reset by operator');
    c.get('logger').warn({ connector: name }, 'breaker reset by operator');
    return c.json({ connector: name, breaker: breakerView(next) });
  });

  mountMockRoutes(app, deps);

  return app;
}
