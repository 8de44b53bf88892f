/**
 * Database health (CONTRACT §6 `degraded`, §8): any store failure seen by ingest or the executor
 * puts `database` into degraded with its reason; while down, a probe pings the store every
 * second and, once it answers, clears the state and runs the recovery (spool replay, resumed
 * work). A periodic ping notices an outage even when no traffic comes.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import type { DegradedState } from './degraded.js';

export function describeDbError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? `${e.code}: ` : '';
  const message = typeof e.message === 'string' ? e.message.split('\n')[0] ?? '' : String(err);
  // Never the connection string (it can hold a password).
  return `${code}${message}`.replace(/postgres(ql)?:\/\/[^\s]*/g, 'postgres://***').slice(0, 200);
}

/**
 * True for a database error that a bad value caused (PostgreSQL classes 22 "data exception" and
 * 23 "integrity constraint", SQLite constraint and type errors): a bug to surface, not an outage
 * to wait out. Everything else — connection refused or reset, timeouts, I/O, busy — is taken as
 * the database being unavailable. Decided from the error alone: asking the database whether it
 * is up would itself wait for a connect timeout during an outage.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH';
}

export class DatabaseHealth {
  private isDown = false;
  private probe: NodeJS.Timeout | null = null;
  private watch: NodeJS.Timeout | null = null;
  private recovering: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly deps: {
      store: Store;
      degraded: DegradedState;
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
    if (this.recovering !== null) return;
    try {
      await this.deps.store.ping();
    } catch {
      return;
    }
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
