/** `GET /admin/status` (docs/http-api.md#status): one read of everything an operator checks first. */
import type { Connector } from '../connectors/connector.js';
import { breakerView, initialBreaker, type BreakerView } from '../domain/breaker.js';
import type { Mode, SignalStatus } from '../domain/types.js';
import type { StreamStatus } from '../execution/tracker.js';
import type { Spool } from '../ingest/spool.js';
import { describeDbError, isDatabaseBusy } from '../store/errors.js';
import type { Store } from '../store/store.js';
import type { RecentErrors, RecentError } from '../telemetry/recent-errors.js';
import type { DatabaseHealth } from './database-health.js';
import type { DegradedEntry, DegradedState } from './degraded.js';

export interface StatusDeps {
  store: Pick<Store, 'getMode' | 'lastSignal' | 'queueStats' | 'getBreakers' | 'openOrders'>;
  connectors: ReadonlyMap<string, Connector>;
  /** The order streams of this process (the tracker's `streamStatus`). */
  streams: () => StreamStatus[];
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
  /** Null only when the database could not be read and never was by this process. */
  mode: Mode | null;
  mode_reason: string | null;
  mode_changed_at: string | null;
  /** When mode, breakers, queue and last signal were read from the database (null: never). */
  read_at: string | null;
  test_mode: boolean;
  degraded: DegradedEntry[];
  breakers: Record<string, BreakerView>;
  last_signal: { signal_id: string; source: string; status: SignalStatus; received_at: string } | null;
  recent_errors: RecentError[];
  queue: { accepted: number; executing: number; oldest_accepted_age_seconds: number } | null;
  spool: { pending: number };
  /** Orders sluice follows that are not terminal yet, read from the database (null: never read). */
  orders: { open: number; by_connector: Record<string, number> } | null;
  /** This process's order streams (connectors with `order_updates: stream`). */
  streams: StreamStatus[];
  version: string;
  uptime_seconds: number;
}

async function readStored(store: StatusDeps['store'], at: Date) {
  const [mode, last, queue, breakers, open] = await Promise.all([store.getMode(), store.lastSignal(), store.queueStats(), store.getBreakers(), store.openOrders()]);
  return { mode, last, queue, breakers, open, read_at: at.toISOString() };
}
type Stored = Awaited<ReturnType<typeof readStored>>;

/**
 * The status reader of one app: it keeps the last values it read, to answer while the database
 * is down with those values and the time they were read. What it never read it does not make up.
 */
export function statusReader(deps: StatusDeps): () => Promise<StatusView> {
  let lastGood: Stored | null = null;
  return async () => {
    try {
      lastGood = await readStored(deps.store, deps.now());
      return statusView(deps, lastGood, null);
    } catch (err) {
      // Down, or too busy to answer: `degraded` says so either way; only an outage starts the probe.
      if (!isDatabaseBusy(err)) deps.database.failed(err);
      return statusView(deps, lastGood, { error: err });
    }
  };
}

/** `stored` is null when nothing was ever read; `failure` is set when this read failed. */
function statusView(deps: StatusDeps, stored: Stored | null, failure: { error: unknown } | null): StatusView {
  const now = deps.now();
  const degraded: DegradedEntry[] = deps.degraded.list();
  if (failure !== null && !degraded.some((d) => d.component === 'database')) {
    degraded.push({ component: 'database', reason: describeDbError(failure.error), since: now.toISOString() });
  }
  const pending = deps.spool?.pending ?? 0;
  if (pending > 0 && !degraded.some((d) => d.component === 'spool')) {
    degraded.push({ component: 'spool', reason: `${pending} deliveries waiting for the database`, since: now.toISOString() });
  }
  const breakers: Record<string, BreakerView> = {};
  // Never read: no breaker is shown rather than one shown closed.
  for (const name of stored === null ? [] : deps.connectors.keys()) {
    const view = breakerView(stored?.breakers[name] ?? initialBreaker());
    breakers[name] = view;
    if (view.state !== 'closed') degraded.push({ component: `breaker:${name}`, reason: `circuit breaker ${view.state} after ${view.consecutive_failures} consecutive failures`, since: view.opened_at ?? now.toISOString() });
  }
  return {
    status: degraded.length > 0 ? 'degraded' : 'ok',
    mode: stored?.mode.mode ?? null,
    mode_reason: stored?.mode.reason ?? null,
    mode_changed_at: stored?.mode.changed_at ?? null,
    read_at: stored?.read_at ?? null,
    test_mode: deps.testMode,
    degraded,
    breakers,
    last_signal: lastSignalView(stored?.last ?? null),
    recent_errors: deps.recentErrors.list(),
    queue: stored === null ? null : queueView(stored.queue, now),
    spool: { pending },
    orders: stored === null ? null : ordersView(stored.open, deps.connectors.keys()),
    streams: deps.streams(),
    version: deps.version,
    uptime_seconds: Math.round((now.getTime() - deps.startedAt.getTime()) / 1000),
  };
}

function lastSignalView(last: Stored['last']): StatusView['last_signal'] {
  return last === null ? null : { signal_id: last.signal_id, source: last.source, status: last.status, received_at: last.received_at };
}

/** Every configured connector (0 when none is open), and any other that still has open orders. */
function ordersView(open: Stored['open'], connectors: Iterable<string>): NonNullable<StatusView['orders']> {
  const byConnector: Record<string, number> = {};
  for (const name of connectors) byConnector[name] = 0;
  for (const order of open) byConnector[order.connector] = (byConnector[order.connector] ?? 0) + 1;
  return { open: open.length, by_connector: byConnector };
}

function queueView(queue: Stored['queue'], now: Date): StatusView['queue'] {
  const oldest = queue.oldest_accepted_at;
  return {
    accepted: queue.accepted,
    executing: queue.executing,
    oldest_accepted_age_seconds: oldest === null ? 0 : Math.max(0, Math.round((now.getTime() - Date.parse(oldest)) / 1000)),
  };
}
