/**
 * Database health (docs/http-api.md#status `degraded`, docs/guarantees.md#degraded-mode): any store failure seen by ingest or the executor
 * puts `database` into degraded with its reason; while down, a probe pings the store every
 * second and, once it answers, clears the state and runs the recovery (spool replay, resumed
 * work). A periodic ping notices an outage even when no traffic comes.
 */
import type { Logger } from 'pino';
import { describeDbError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import type { DegradedState } from './degraded.js';

export class DatabaseHealth {
  private isDown = false;
  private probe: NodeJS.Timeout | null = null;
  private watch: NodeJS.Timeout | null = null;
  private recovering: Promise<void> | null = null;
  /** One probe ping at a time: during an outage a ping can hang for the connect timeout. */
  private pinging = false;
  private stopped = false;

  constructor(
    private readonly deps: {
      store: Pick<Store, 'ping'>;
      degraded: Pick<DegradedState, 'enter' | 'exit'>;
      logger: Logger;
      now: () => Date;
      onRecovered: () => Promise<void>;
      probeMs?: number;
      watchMs?: number;
    },
  ) {}

  get down(): boolean {
    return this.isDown;
  }

  /** Starts the periodic ping that notices an outage without traffic. */
  start(): void {
    const every = this.deps.watchMs ?? 5_000;
    this.watch = setInterval(() => {
      if (this.isDown) return;
      this.deps.store.ping().catch((err: unknown) => this.failed(err));
    }, every);
    this.watch.unref();
  }

  failed(err: unknown): void {
    if (this.stopped) return;
    const reason = describeDbError(err);
    this.deps.degraded.enter('database', reason, this.deps.now());
    if (this.isDown) return;
    this.isDown = true;
    this.deps.logger.error({ reason }, 'database unavailable');
    const every = this.deps.probeMs ?? 1_000;
    this.probe = setInterval(() => void this.check(), every);
    this.probe.unref();
  }

  private async check(): Promise<void> {
    if (this.recovering !== null || this.pinging) return;
    this.pinging = true;
    try {
      await this.deps.store.ping();
    } catch {
      return;
    } finally {
      this.pinging = false;
    }
    if (this.stopped || !this.isDown) return;
    if (this.probe !== null) clearInterval(this.probe);
    this.probe = null;
    this.isDown = false;
    this.deps.degraded.exit('database');
    this.deps.logger.warn('database is back');
    this.recovering = this.deps.onRecovered().catch((err: unknown) => {
      this.deps.logger.error({ err }, 'recovery after the database came back failed');
      this.failed(err);
    });
    await this.recovering;
    this.recovering = null;
  }

  stop(): void {
    this.stopped = true;
    if (this.probe !== null) clearInterval(this.probe);
    if (this.watch !== null) clearInterval(this.watch);
  }
}
