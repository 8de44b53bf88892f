/**
 * Group commit for SQLite. Writes queued during one event-loop turn run in a single
 * transaction at the next `setImmediate`, and each caller's promise settles only after that
 * transaction committed: every answer still waits for its own durable commit, but one fsync
 * serves every request of the turn. Each job runs inside its own SAVEPOINT so that a job that
 * throws is rolled back alone and the others still commit.
 *
 * Jobs are synchronous functions (better-sqlite3 is synchronous): never pass anything async
 * into one (drizzle issues #1472, #2275, #5063).
 */
import type Database from 'better-sqlite3';

interface Job {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface WriterHooks {
  /** Taken before each job, restored if the job fails: in-memory state that mirrors the rows. */
  snapshot: () => unknown;
  restore: (snapshot: unknown) => void;
  /** The whole batch failed to commit: reload in-memory mirrors from the database. */
  onBatchFailed: (error: unknown) => void;
  /** The batch committed: publish what it wrote. */
  onCommitted: () => void;
}

export class GroupCommitWriter {
  private pending: Job[] = [];
  private scheduled = false;

  constructor(
    private readonly sqlite: Database.Database,
    private readonly hooks: WriterHooks,
  ) {}

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run: fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs every queued job in one transaction. Exposed for shutdown (drain without waiting a turn). */
  flush(): void {
    this.scheduled = false;
    const jobs = this.pending;
    this.pending = [];
    if (jobs.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.sqlite.exec('BEGIN IMMEDIATE');
      for (const job of jobs) {
        const snap = this.hooks.snapshot();
        this.sqlite.exec('SAVEPOINT job');
        try {
          const value = job.run();
          this.sqlite.exec('RELEASE job');
          outcomes.push({ ok: true, value });
        } catch (error) {
          this.sqlite.exec('ROLLBACK TO job');
          this.sqlite.exec('RELEASE job');
          this.hooks.restore(snap);
          outcomes.push({ ok: false, error });
        }
      }
      this.sqlite.exec('COMMIT');
    } catch (error) {
      if (this.sqlite.inTransaction) {
        try {
          this.sqlite.exec('ROLLBACK');
        } catch {
          // The connection is already out of the transaction; nothing to undo.
        }
      }
      this.hooks.onBatchFailed(error);
      for (const job of jobs) job.reject(error);
      return;
    }
    this.hooks.onCommitted();
    jobs.forEach((job, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) job.reject(new Error('group commit lost a job outcome'));
      else if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }
}
