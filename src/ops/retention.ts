/**
 * Retention (docs/configuration.md#retention `retention.signals_days`): a scheduled job deletes final signals older
 * than the window, with their attempts, in small batches so it never holds the writer long;
 * their idempotency keys go with them. The event log is never pruned.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';

const BATCH = 1_000;

export async function pruneOnce(deps: { store: Pick<Store, 'pruneSignals'>; now: () => Date }, days: number): Promise<number> {
  const before = new Date(deps.now().getTime() - days * 86_400_000);
  let total = 0;
  for (;;) {
    const n = await deps.store.pruneSignals(before, BATCH);
    total += n;
    if (n < BATCH) return total;
  }
}

/** Runs a pass shortly after start and then every hour, until stopped. */
export function startRetention(deps: { store: Pick<Store, 'pruneSignals'>; logger: Logger; now: () => Date }, days: number, everyMs = 3_600_000): { stop: () => void } {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const run = async () => {
    try {
      const n = await pruneOnce(deps, days);
      if (n > 0) deps.logger.info({ pruned: n, days }, 'retention: pruned old signals');
    } catch (err) {
      deps.logger.error({ err }, 'retention pass failed; retrying at the next one');
    }
  };
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void run().finally(() => schedule(everyMs)), ms);
    timer.unref();
  };
  schedule(Math.min(everyMs, 60_000));
  return {
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
