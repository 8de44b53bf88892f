/** `/healthz` (the process runs) and `/readyz` (signals are being accepted): no auth. */
import { Hono } from 'hono';
import type { Deps } from '../deps.js';
import { describeDbError } from '../store/errors.js';
import type { AppEnv } from './context.js';

/** How long one write probe's answer stands: a load balancer polling often costs one write a second. */
const PROBE_TTL_MS = 1_000;
/** The runtime-state row the probe writes (a consumer offset nobody reads). */
const PROBE_CURSOR = 'readyz';

type Probe = { ok: true } | { ok: false; reason: string };

/**
 * Whether the database takes a write now. Reading is not enough: a full disk, a read-only file or
 * a locked database answers reads and refuses every delivery. Concurrent calls share one write.
 */
function writeProbe(deps: Pick<Deps, 'store' | 'now'>): () => Promise<Probe> {
  let last: { at: number; result: Probe } | null = null;
  let inFlight: Promise<Probe> | null = null;
  return () => {
    const now = deps.now().getTime();
    if (last !== null && now - last.at < PROBE_TTL_MS) return Promise.resolve(last.result);
    inFlight ??= deps.store
      .setCursor(PROBE_CURSOR, 0)
      .then(
        (): Probe => ({ ok: true }),
        (err: unknown): Probe => ({ ok: false, reason: describeDbError(err) }),
      )
      .then((result) => {
        last = { at: deps.now().getTime(), result };
        inFlight = null;
        return result;
      });
    return inFlight;
  };
}

export function healthRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const probe = writeProbe(deps);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    if (deps.lifecycle.shuttingDown) return c.json({ status: 'shutting_down' }, 503);
    // Database down: still ready while deliveries can go into the spool.
    if (deps.database.down) {
      if (deps.spool === null || deps.spool.full) return c.json({ status: 'unavailable', reason: 'database down' }, 503);
      return c.json({ status: 'ready', degraded: 'spooling' });
    }
    // Reachable but refusing writes: this instance cannot record a delivery; route elsewhere.
    const written = await probe();
    if (!written.ok) {
      c.get('logger').warn({ reason: written.reason }, 'readyz: the database refuses writes');
      return c.json({ status: 'unavailable', reason: 'database writes fail' }, 503);
    }
    return c.json({ status: 'ready' });
  });
  return app;
}
