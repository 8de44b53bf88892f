/** `/healthz` (the process runs) and `/readyz` (signals are being accepted): no auth. */
import { Hono } from 'hono';
import type { Deps } from '../deps.js';
import type { AppEnv } from './context.js';

export function healthRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    if (deps.lifecycle.shuttingDown) return c.json({ status: 'shutting_down' }, 503);
    // Database down: still ready while deliveries can go into the spool.
    if (deps.database.down) {
      if (deps.spool === null || deps.spool.full) return c.json({ status: 'unavailable', reason: 'database down' }, 503);
      return c.json({ status: 'ready', degraded: 'spooling' });
    }
    return c.json({ status: 'ready' });
  });
  return app;
}
