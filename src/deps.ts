/**
 * The dependencies sluice is built from, created once at the composition root (main.ts) and
 * passed down. Request-scoped values (request id, child logger) go on the Hono context instead.
 */
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import type { Connector } from './connectors/connector.js';
import type { Executor } from './execution/executor.js';
import type { IngestSource } from './ingest/ingest.js';
import type { Spool } from './ingest/spool.js';
import type { DatabaseHealth } from './ops/database-health.js';
import type { DegradedState } from './ops/degraded.js';
import type { Metrics } from './telemetry/metrics.js';
import type { RecentErrors } from './telemetry/recent-errors.js';
import type { SignalRecord, Store } from './store/store.js';

export interface Lifecycle {
  /** Set on SIGTERM/SIGINT: intake answers 503 shutting_down from then on. */
  shuttingDown: boolean;
  /** Aborted when shutdown starts: long-lived responses (the event stream) end themselves. */
  shutdown: AbortController;
  startedAt: Date;
}

export interface Deps {
  config: Config;
  logger: Logger;
  store: Store;
  connectors: ReadonlyMap<string, Connector>;
  sources: ReadonlyMap<string, IngestSource>;
  /**
   * To wait for outcomes, and its order tracker (stream status, settling open orders before a
   * flatten): signals reach the executor through `submitAccepted`.
   */
  executor: Pick<Executor, 'waitForFinal' | 'tracker'>;
  /**
   * The one way a signal that just became `accepted` (a delivery, a spool replay, an operator's
   * retry, a flatten) reaches the executor: counted, then queued, so the two cannot diverge.
   */
  submitAccepted: (record: SignalRecord) => void;
  recentErrors: RecentErrors;
  degraded: DegradedState;
  metrics: Metrics;
  /** Null when `degraded.on_database_down: reject`. */
  spool: Spool | null;
  database: DatabaseHealth;
  lifecycle: Lifecycle;
  now: () => Date;
  version: string;
}
