/** `GET /admin/status` (docs/http-api.md#status): one read of everything an operator checks first. */
import type { Deps } from '../deps.js';
import { breakerView, initialBreaker, type BreakerView } from '../domain/breaker.js';
import type { Mode, SignalStatus } from '../domain/types.js';
import type { RecentError } from '../telemetry/recent-errors.js';
import type { DegradedEntry } from './degraded.js';

/** The body of `GET /admin/status` (its OpenAPI schema in http/schemas.ts is checked against this type). */
export interface StatusView {
  status: 'ok' | 'degraded';
  mode: Mode;
  mode_reason: string | null;
  mode_changed_at: string;
  test_mode: boolean;
  degraded: DegradedEntry[];
  breakers: Record<string, BreakerView>;
  last_signal: { signal_id: string; source: string; status: SignalStatus; received_at: string } | null;
  recent_errors: RecentError[];
  queue: { accepted: number; executing: number; oldest_accepted_age_seconds: number };
  spool: { pending: number };
  version: string;
  uptime_seconds: number;
}

async function readStored(deps: Deps) {
  const [mode, last, queue, breakers] = await Promise.all([deps.store.getMode(), deps.store.lastSignal(), deps.store.queueStats(), deps.store.getBreakers()]);
  return { mode, last, queue, breakers };
}

/** The last status read from the store, per app, for answering while the database is down. */
const lastGood = new WeakMap<Deps, Awaited<ReturnType<typeof readStored>>>();

export async function getStatus(deps: Deps): Promise<StatusView> {
  const now = deps.now();
  let stored: Awaited<ReturnType<typeof readStored>>;
  try {
    stored = await readStored(deps);
    lastGood.set(deps, stored);
  } catch (err) {
    // The database is down: answer with what was last read, and say so in `degraded`.
    deps.database.failed(err);
    stored = lastGood.get(deps) ?? { mode: { mode: 'enabled', reason: null, changed_at: deps.lifecycle.startedAt.toISOString() }, last: null, queue: { accepted: 0, executing: 0, oldest_accepted_at: null }, breakers: {} };
  }
  const { mode, last, queue, breakers: storedBreakers } = stored;
  const degraded: DegradedEntry[] = deps.degraded.list();
  const pending = deps.spool?.pending ?? 0;
  if (pending > 0 && !degraded.some((d) => d.component === 'spool')) {
    degraded.push({ component: 'spool', reason: `${pending} deliveries waiting for the database`, since: now.toISOString() });
  }
  const breakers: Record<string, BreakerView> = {};
  for (const name of deps.connectors.keys()) {
    const view = breakerView(storedBreakers[name] ?? initialBreaker());
    breakers[name] = view;
    if (view.state !== 'closed') degraded.push({ component: `breaker:${name}`, reason: `circuit breaker ${view.state} after ${view.consecutive_failures} consecutive failures`, since: view.opened_at ?? now.toISOString() });
  }
  return {
    status: degraded.length > 0 ? 'degraded' : 'ok',
    mode: mode.mode,
    mode_reason: mode.reason,
    mode_changed_at: mode.changed_at,
    test_mode: deps.config.test_mode,
    degraded,
    breakers,
    last_signal: last === null ? null : { signal_id: last.signal_id, source: last.source, status: last.status, received_at: last.received_at },
    recent_errors: deps.recentErrors.list(),
    queue: {
      accepted: queue.accepted,
      executing: queue.executing,
      oldest_accepted_age_seconds: queue.oldest_accepted_at === null ? 0 : Math.max(0, Math.round((now.getTime() - Date.parse(queue.oldest_accepted_at)) / 1000)),
    },
    spool: { pending: deps.spool?.pending ?? 0 },
    version: deps.version,
    uptime_seconds: Math.round((now.getTime() - deps.lifecycle.startedAt.getTime()) / 1000),
  };
}
