/**
 * What the executor is built from, in one place for all of its modules.
 */
import type { Logger } from 'pino';
import type { ExecutionConfig, PolicyConfig } from '../config/schema.js';
import type { Connector } from '../connectors/connector.js';
import type { Store } from '../store/store.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface ExecutorDeps {
  store: Store;
  connectors: ReadonlyMap<string, Connector>;
  policy: PolicyConfig;
  execution: ExecutionConfig;
  logger: Logger;
  metrics: Metrics;
  now: () => Date;
  /** This instance's name in leases (unique among instances sharing a database). */
  owner: string;
  /** SQLite: one process owns the file, so at start every `executing` signal is an orphan. */
  singleInstance: boolean;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told about connector trouble, for `/admin/status` `recent_errors`. */
  onError?: (component: string, message: string, signalId: string | null) => void;
  /** Told when a store call failed (the database may be down). */
  onStoreFailure?: (err: unknown) => void;
}
