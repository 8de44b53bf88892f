/**
 * The executor (docs/execution.md#pipeline), composed of its parts: lanes (arrival order per
 * (connector, instrument), lanes in parallel up to `execution.concurrency`), leases and recovery
 * (at start, signals left `executing` are recovered by client_order_id before anything else
 * runs, then `accepted` ones resume), waiters (`Prefer: wait`), the per-signal pipeline, and
 * the order tracker that follows every order placed to its end.
 */
import { isStoreUnavailable } from '../store/errors.js';
import type { SignalRecord } from '../store/store.js';
import type { ExecutorDeps } from './executor-deps.js';
import { Lanes } from './lanes.js';
import { END_OF_TIME, Leases } from './leases.js';
import { laneBlockedDelay, storeRetryDelay } from './outcome.js';
import { SignalRunner } from './run-signal.js';
import { OrderTracker } from './tracker.js';
import { Waiters } from './waiters.js';

export type { ExecutorDeps } from './executor-deps.js';

export class Executor {
  private readonly waiters = new Waiters();
  private readonly leases: Leases;
  private readonly runner: SignalRunner;
  private readonly lanes: Lanes;
  /** Follows every order placed until it is terminal (its streams, polling). */
  readonly tracker: OrderTracker;

  constructor(private readonly deps: ExecutorDeps) {
    const { store, owner, now, singleInstance, logger, execution } = deps;
    this.leases = new Leases({ store, owner, now, singleInstance, logger, leaseMs: execution.lease_seconds * 1000 });
    this.tracker = new OrderTracker(deps);
    this.runner = new SignalRunner(deps, this.leases, this.tracker, (record) => this.waiters.notify(record));
    this.lanes = new Lanes(execution.concurrency, {
      run: (signalId) => this.runner.process(signalId),
      failed: (signalId, err) => this.processFailed(signalId, err),
      left: (signalId) => this.leases.release(signalId),
      // If it was executing, the retry recovers it first.
      retrying: (signalId) => this.leases.claim(signalId),
      retryDelay: storeRetryDelay,
      blockedDelay: laneBlockedDelay,
    });
  }

  /**
   * Recovers `executing` signals left by a dead run, runs `beforeResume` (position
   * reconciliation), then resumes `accepted` ones, oldest first, and starts the lease keeper.
   */
  async start(beforeResume?: () => Promise<void>): Promise<void> {
    this.tracker.start();
    await this.leases.recoverAtStart((record) => this.runner.recoverExecuting(record));
    await beforeResume?.();
    await this.leases.resumeAccepted(END_OF_TIME, (record) => this.submit(record));
    this.lanes.open();
    this.leases.startKeeper({
      submit: (record) => this.submit(record),
      takeOver: (record) => {
        // Queued here as accepted before another instance took it: queue it again, as claimed.
        this.lanes.forget(record.signal_id);
        this.submit(record);
      },
    });
  }

  /** Queues a signal in its lane (accepted ones, and executing ones this instance claimed). */
  submit(record: SignalRecord): void {
    this.lanes.submit(record);
  }

  /** Resolves with the final record, or null when `ms` passes first or the executor stops. */
  waitForFinal(signalId: string, ms: number): Promise<SignalRecord | null> {
    return this.waiters.wait(signalId, ms);
  }

  /** Stops taking work; resolves when in-flight signals finished (true) or the deadline passed (false). */
  stop(deadlineMs: number): Promise<boolean> {
    this.leases.stop();
    this.waiters.close();
    this.runner.stop();
    this.tracker.stop();
    return this.lanes.stop(deadlineMs);
  }

  /**
   * A throw from processing: the signal keeps its durable state and its lane tries it again with
   * backoff. A database error that is not about a bad value means an outage; anything else (a
   * bug, a connector's broken answer) is retried without flagging the database.
   */
  private processFailed(signalId: string, err: unknown): void {
    this.deps.logger.error({ err, signal_id: signalId }, 'executor could not process signal; retrying');
    this.deps.onError?.('executor', err instanceof Error ? err.message : String(err), signalId);
    if (isStoreUnavailable(err)) this.deps.onStoreFailure?.(err);
  }
}
