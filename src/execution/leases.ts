/**
 * Leases and recovery: which `executing` signals this instance holds (their leases renewed while
 * they run) and which it claimed from a dead owner (to be recovered by client_order_id before
 * anything is placed again). Owns start-up recovery, the lease keeper (renew, take over expired
 * leases, resume orphaned `accepted` signals) and its timer.
 */
import type { Logger } from 'pino';
import type { SignalRecord, Store } from '../store/store.js';

export interface LeaseDeps {
  store: Store;
  owner: string;
  now: () => Date;
  leaseMs: number;
  /** SQLite: one process owns the file, so at start every `executing` signal is an orphan. */
  singleInstance: boolean;
  logger: Logger;
}

export interface KeeperHooks {
  /** Queue an orphaned `accepted` signal. */
  submit(record: SignalRecord): void;
  /** Queue an `executing` signal just claimed from an owner that stopped renewing its lease. */
  takeOver(record: SignalRecord): void;
}

/** Later than any signal: "everything" as a time bound. */
export const END_OF_TIME = new Date(8.64e15);

export class Leases {
  /** Executing signals this instance holds a lease on (renewed while they run). */
  private readonly held = new Set<string>();
  /** Executing signals this instance claimed from a dead owner: recover these. */
  private readonly claimed = new Set<string>();
  private keeper: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly deps: LeaseDeps) {}

  /** Holds the signal's lease (the keeper renews it) while `fn` runs. */
  async withLease(signalId: string, fn: () => Promise<void>): Promise<void> {
    this.held.add(signalId);
    try {
      await fn();
    } finally {
      this.held.delete(signalId);
    }
  }

  claim(signalId: string): void {
    this.claimed.add(signalId);
  }

  isClaimed(signalId: string): boolean {
    return this.claimed.has(signalId);
  }

  release(signalId: string): void {
    this.claimed.delete(signalId);
  }

  /**
   * Start-up recovery: claims the `executing` signals a dead run left (all of them with SQLite;
   * those whose lease expired with PostgreSQL) and recovers each, one at a time, under its lease.
   */
  async recoverAtStart(recover: (record: SignalRecord) => Promise<void>): Promise<void> {
    const { store, now, owner, singleInstance } = this.deps;
    for (;;) {
      const horizon = singleInstance ? END_OF_TIME : now();
      const orphans = await store.claimExpired(owner, horizon, this.leaseUntil(), 100);
      if (orphans.length === 0) return;
      for (const record of orphans) await this.withLease(record.signal_id, () => recover(record));
    }
  }

  /** Queues `accepted` signals received before `before` (all at start; orphans later), oldest first. */
  async resumeAccepted(before: Date, submit: (record: SignalRecord) => void): Promise<void> {
    const seen = new Set<string>();
    for (;;) {
      const accepted = (await this.deps.store.listStaleAccepted(before, 1000)).filter((r) => !seen.has(r.signal_id));
      if (accepted.length === 0) break;
      for (const record of accepted) {
        seen.add(record.signal_id);
        submit(record);
      }
      if (accepted.length < 1000) break;
    }
  }

  /** Runs the lease keeper every third of a lease (at least every 250 ms) until `stop`. */
  startKeeper(hooks: KeeperHooks): void {
    const every = Math.max(250, Math.floor(this.deps.leaseMs / 3));
    const tick = () => {
      if (this.stopped) return;
      this.keeper = setTimeout(() => {
        void this.sweep(hooks).finally(() => {
          if (!this.stopped) tick();
        });
      }, every);
      this.keeper.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.keeper !== null) clearTimeout(this.keeper);
  }

  /**
   * One pass of the lease keeper: renews the leases held here, takes over executing signals whose
   * owner stopped renewing (recovered by client_order_id first), and queues accepted signals
   * that waited longer than a lease (their instance died before executing them).
   */
  private async sweep(hooks: KeeperHooks): Promise<void> {
    const { store, now, owner, logger } = this.deps;
    try {
      const until = this.leaseUntil();
      await store.renewLeases(owner, [...this.held], until);
      const expired = await store.claimExpired(owner, now(), until, 50);
      for (const record of expired) {
        logger.warn({ signal_id: record.signal_id }, 'took over an executing signal whose lease expired');
        this.claimed.add(record.signal_id);
        hooks.takeOver(record);
      }
      await this.resumeAccepted(new Date(now().getTime() - this.deps.leaseMs), hooks.submit);
    } catch (err) {
      logger.error({ err }, 'lease keeper failed; retrying at the next tick');
    }
  }

  private leaseUntil(): Date {
    return new Date(this.deps.now().getTime() + this.deps.leaseMs);
  }
}
