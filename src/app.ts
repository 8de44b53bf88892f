/**
 * `createApp(deps)`: the HTTP surface, with no side effects. main.ts alone listens; tests call
 * `createApp(deps).request(...)` or serve it on a free port.
 */
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Deps } from './deps.js';
import { adminRoutes } from './http/admin.js';
import { orderRoutes } from './http/admin-orders.js';
import { REPLAY_PATH, replayRoutes } from './http/admin-replay.js';
import type { AppEnv } from './http/context.js';
import { AppError, errorResponse, isAppError } from './http/errors.js';
import { dashboardRoutes } from './http/dashboard.js';
import { eventRoutes } from './http/events.js';
import { healthRoutes } from './http/health.js';
import { buildOpenApi } from './http/openapi.js';
import { adminAuth, requestContext } from './http/middleware.js';
import { webhookRoutes } from './http/webhooks.js';
import { isDatabaseBusy } from './store/errors.js';

async function databaseUnreachable(deps: Deps): Promise<boolean> {
  if (deps.database.down) return true;
  try {
    await deps.store.ping();
    return false;
  } catch {
    return true;
  }
}

export function createApp(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requestContext({ logger: deps.logger }));
  app.route('/', healthRoutes(deps));
  const openapi = JSON.stringify(buildOpenApi(deps.version));
  app.get('/openapi.json', (c) => {
    c.header('Content-Type', 'application/json');
    return c.body(openapi);
  });
  app.route('/webhooks', webhookRoutes(deps));
  // The page and its assets need no token: every call the page makes carries the operator's.
  app.route('/', dashboardRoutes({ logger: deps.logger }));
  const auth = adminAuth({ adminToken: deps.config.admin_token, readToken: deps.config.read_token, readOnlyPosts: [REPLAY_PATH] });
  app.use('/admin/*', auth);
  app.use('/metrics', auth);
  app.route('/admin', adminRoutes(deps));
  app.route('/admin', orderRoutes(deps));
  app.route('/admin', replayRoutes(deps));
  app.route('/admin', eventRoutes(deps));
  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.contentType);
    return c.body(await deps.metrics.render());
  });

  app.notFound((c) => {
    return errorResponse(c, new AppError('not_found', `no route ${c.req.method} ${c.req.path}`));
  });

  app.onError(async (err, c) => {
    let appError: AppError;
    if (isAppError(err)) {
      appError = err;
    } else if (err instanceof HTTPException && err.status < 500) {
      appError = new AppError('invalid_request', err.message || 'bad request');
    } else if (isDatabaseBusy(err)) {
      // The database answers but gave up waiting (lock or statement timeout): retry shortly.
      appError = new AppError('unavailable', 'the database is busy (a lock or statement timeout); retry later', { retryAfter: 2, cause: err });
    } else if (await databaseUnreachable(deps)) {
      // The store failed because the database is down: a 503 the caller can retry, not a 500.
      deps.database.failed(err);
      appError = new AppError('unavailable', 'the database is unavailable; retry later', { retryAfter: 5 });
    } else {
      // Never leak an unexpected error's message to the client: the log has it.
      c.get('logger').error({ err }, 'unhandled error');
      deps.recentErrors.add({ at: deps.now().toISOString(), component: 'http', message: (err as Error).message, signal_id: null });
      appError = new AppError('internal', 'internal error; see the server log with this request_id');
    }
    return errorResponse(c, appError);
  });
  return app;
}
