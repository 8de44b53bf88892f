/** `GET /admin/status` (CONTRACT §6): one read of everything an operator checks first. */
import type { Deps } from '../deps.js';

export async function getStatus(deps: Deps) {
  const now = deps.now();
  const [mode, last, queue] = await Promise.all([deps.store.getMode(), deps.store.lastSignal(), deps.store.queueStats()]);
  const degraded: Array<{ component: string; reason: string; since: string }> = [];
  const breakers: Record<string, { state: string; consecutive_failures: number; opened_at: string | null }> = {};
  for (const name of deps.connectors.keys()) breakers[name] = { state: 'closed', consecutive_failures: 0, opened_at: null };
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
    spool: { pending: 0 },
    version: deps.version,
    uptime_seconds: Math.round((now.getTime() - deps.lifecycle.startedAt.getTime()) / 1000),
  };
}
