/** `/healthz` (the process runs) and `/readyz` (signals are being accepted): no auth. */
import { Hono } from 'hono';
import type { Deps } from '../deps.js';
import type { AppEnv } from './context.js';

export function healthRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    if (deps.lifecycle.shuttingDown) return c.json({ status: 'shutting_down' }, 503);
    return c.json({ status: 'ready' });
  });
  return app;
}
