/**
 * Group commit for SQLite. Writes queued during one event-loop turn run in a single
 * transaction at the next `setImmediate`, and each caller's promise settles only after that
 * transaction committed: every answer still waits for its own durable commit, but one fsync
 * serves every request of the turn. Each job runs inside its own SAVEPOINT so that a job that
 * throws is rolled back alone and the others still commit.
 *
 * Some errors (SQLITE_FULL, SQLITE_IOERR*, SQLITE_NOMEM) make SQLite roll back the whole
 * transaction, not the savepoint. The batch stops there: a job run after it would run in
 * autocommit on a stale chain head and commit while its caller is told it failed. Every job of
 * such a batch fails and none of it is on disk (docs/guarantees.md#durability).
 *
 * Jobs are synchronous functions (better-sqlite3 is synchronous): never pass anything async
 * into one (drizzle issues #1472, #2275, #5063).
 *
 * Durability per batch: a batch holding a `durable` job (one whose result a client is told: a
 * recorded signal's 202, a mode change) commits with `synchronous=FULL`, which fsyncs the WAL
 * and with it every earlier commit. A batch of executor bookkeeping only commits with
 * `synchronous=NORMAL` (no fsync): a power cut can lose that progress, never an acknowledged
 * signal, and the executor redoes it at the next start through the deterministic
 * client_order_id (at most one order per signal either way).
 */
import type Database from 'better-sqlite3';

interface Job {
  run: () => unknown;
  durable: boolean;
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

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** SQLite rolled the whole transaction back while a job ran: the batch stops, nothing commits. */
class BatchRolledBack extends Error {
  constructor(readonly culprit: unknown) {
    super('the transaction was rolled back');
  }
}

/**
 * The failure of a job that did not fail itself but went with its batch. It keeps the code of
 * the error that sank the batch, so callers classify it the same way (an outage, not a bad value).
 */
export class RolledBackWithBatch extends Error {
  readonly code: string | undefined;
  constructor(cause: unknown) {
    const code = (cause as { code?: unknown }).code;
    super(`rolled back with its group-commit batch: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RolledBackWithBatch';
    this.code = typeof code === 'string' ? code : undefined;
  }
}

export class GroupCommitWriter {
  private pending: Job[] = [];
  private scheduled = false;
  /**
   * better-sqlite3's transaction functions: the outer one is BEGIN IMMEDIATE … COMMIT, and the
   * inner one, called inside it, becomes a SAVEPOINT that rolls back alone when its job throws.
   * Their statements are prepared once (exec() would parse SQL on every job).
   */
  private readonly batch: Database.Transaction<(jobs: Job[], outcomes: Outcome[]) => void>;
  private readonly single: Database.Transaction<(fn: () => unknown) => unknown>;

  private readonly fullSync: Database.Statement;
  private readonly normalSync: Database.Statement;
  private synchronous: 'FULL' | 'NORMAL';

  constructor(
    sqlite: Database.Database,
    private readonly hooks: WriterHooks,
    /** FULL: durable jobs fsync; NORMAL: nothing does (crash-safe, not power-cut-safe). */
    private readonly durableLevel: 'FULL' | 'NORMAL' = 'FULL',
  ) {
    this.fullSync = sqlite.prepare('PRAGMA synchronous = FULL');
    this.normalSync = sqlite.prepare('PRAGMA synchronous = NORMAL');
    this.synchronous = durableLevel;
    this.setSynchronous(durableLevel);
    this.single = sqlite.transaction((fn: () => unknown) => fn());
    this.batch = sqlite.transaction((jobs: Job[], outcomes: Outcome[]) => {
      for (const job of jobs) {
        const snap = this.hooks.snapshot();
        try {
          outcomes.push({ ok: true, value: this.single(job.run) });
        } catch (error) {
          // Thrown with no transaction open, better-sqlite3 skips its ROLLBACK and COMMIT.
          if (!sqlite.inTransaction) throw new BatchRolledBack(error);
          this.hooks.restore(snap);
          outcomes.push({ ok: false, error });
        }
      }
    });
  }

  run<T>(fn: () => T, opts: { durable?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run: fn, durable: opts.durable === true, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private setSynchronous(level: 'FULL' | 'NORMAL'): void {
    if (this.synchronous === level) return;
    (level === 'FULL' ? this.fullSync : this.normalSync).run();
    this.synchronous = level;
  }

  /** Runs every queued job in one transaction. Exposed for shutdown (drain without waiting a turn). */
  flush(): void {
    this.scheduled = false;
    const jobs = this.pending;
    this.pending = [];
    if (jobs.length === 0) return;
    const outcomes: Outcome[] = [];
    try {
      this.setSynchronous(this.durableLevel === 'FULL' && jobs.some((j) => j.durable) ? 'FULL' : 'NORMAL');
      this.batch.immediate(jobs, outcomes);
    } catch (error) {
      // COMMIT (or BEGIN) failed, or a job's error took the whole transaction with it: nothing
      // of the batch is on disk. The job that hit it (outcomes.length: the next to run) gets its
      // own error; the others fail with it, whether they ran or not.
      const culprit = error instanceof BatchRolledBack ? outcomes.length : -1;
      const cause = error instanceof BatchRolledBack ? error.culprit : error;
      this.hooks.onBatchFailed(cause);
      jobs.forEach((job, i) => job.reject(culprit === -1 || i === culprit ? cause : new RolledBackWithBatch(cause)));
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
