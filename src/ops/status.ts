/** `GET /admin/status` (docs/http-api.md#status): one read of everything an operator checks first. */
import type { Connector } from '../connectors/connector.js';
import { breakerView, initialBreaker, type BreakerView } from '../domain/breaker.js';
import type { Mode, SignalStatus } from '../domain/types.js';
import type { Spool } from '../ingest/spool.js';
import type { Store } from '../store/store.js';
import type { RecentErrors, RecentError } from '../telemetry/recent-errors.js';
import type { DatabaseHealth } from './database-health.js';
import type { DegradedEntry, DegradedState } from './degraded.js';

export interface StatusDeps {
  store: Pick<Store, 'getMode' | 'lastSignal' | 'queueStats' | 'getBreakers'>;
  connectors: ReadonlyMap<string, Connector>;
  now: () => Date;
  database: Pick<DatabaseHealth, 'failed'>;
  degraded: Pick<DegradedState, 'list'>;
  recentErrors: Pick<RecentErrors, 'list'>;
  /** Null when `degraded.on_database_down: reject`. */
  spool: Pick<Spool, 'pending'> | null;
  testMode: boolean;
  version: string;
  startedAt: Date;
}

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

async function readStored(store: StatusDeps['store']) {
  const [mode, last, queue, breakers] = await Promise.all([store.getMode(), store.lastSignal(), store.queueStats(), store.getBreakers()]);
  return { mode, last, queue, breakers };
}
type Stored = Awaited<ReturnType<typeof readStored>>;

/** The status reader of one app: it keeps the last values it read, to answer while the database is down. */
export function statusReader(deps: StatusDeps): () => Promise<StatusView> {
  let lastGood: Stored | null = null;
  return async () => {
    let stored: Stored;
    try {
      stored = await readStored(deps.store);
      lastGood = stored;
    } catch (err) {
      // The database is down: answer with what was last read, and say so in `degraded`.
      deps.database.failed(err);
      stored = lastGood ?? { mode: { mode: 'enabled', reason: null, changed_at: deps.startedAt.toISOString() }, last: null, queue: { accepted: 0, executing: 0, oldest_accepted_at: null }, breakers: {} };
    }
    return statusView(deps, stored);
  };
}

function statusView(deps: StatusDeps, stored: Stored): StatusView {
  const now = deps.now();
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
    test_mode: deps.testMode,
    degraded,
    breakers,
    last_signal: last === null ? null : { signal_id: last.signal_id, source: last.source, status: last.status, received_at: last.received_at },
    recent_errors: deps.recentErrors.list(),
    queue: {
      accepted: queue.accepted,
      executing: queue.executing,
      oldest_accepted_age_seconds: queue.oldest_accepted_at === null ? 0 : Math.max(0, Math.round((now.getTime() - Date.parse(queue.oldest_accepted_at)) / 1000)),
    },
    spool: { pending },
    version: deps.version,
    uptime_seconds: Math.round((now.getTime() - deps.startedAt.getTime()) / 1000),
  };
}
