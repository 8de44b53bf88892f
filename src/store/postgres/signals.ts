/** Signals on PostgreSQL: recording a delivery once across instances, reads, retry and retention. */
import { and, asc, count, desc, eq, inArray, lt, lte, max, min, sql } from 'drizzle-orm';
import type { NewSignal, QueueStats, RecordOutcome, SignalNonce, SignalStore } from '../contract/signals.js';
import { signalAccepted, signalRetried } from '../plans/events.js';
import { newSignalRow, nonceRow, planRecordSignal, PRUNABLE, retryValues, SIGNAL_COLUMNS, withoutReplay } from '../plans/signals.js';
import { parseWindowCursor, signalFilter, signalWindowFilter, signalWindowPageFilter, windowCursor } from '../filters.js';
import { pageOf, queueStatsFromRows, signalRecordFromRow as toRecord } from '../records.js';
import { ph, phs, phSql } from '../placeholders.js';
import { toNumberOrNull, type Emit, type PgContext, type PgLocks } from './context.js';
import { builder, run, statement, type Tx } from './statements.js';
import * as t from './schema.js';

const q = {
  byId: statement(builder.select().from(t.signals).where(eq(t.signals.id, ph('id'))).prepare('signal_by_id')),
  // The race between deliveries of one key (on any instance) is settled by the unique index.
  insert: statement(
    builder
      .insert(t.signals)
      .values({ ...phs(...SIGNAL_COLUMNS), status: 'accepted' })
      .onConflictDoNothing({ target: [t.signals.source, t.signals.dedupe_key] })
      .returning()
      .prepare('signal_insert'),
  ),
  pruneNonces: statement(builder.delete(t.nonces).where(lte(t.nonces.expires_at, ph('now'))).prepare('nonces_prune')),
  // A concurrent delivery of the same nonce waits on its row and then finds it taken.
  takeNonce: statement(builder.insert(t.nonces).values(phs('source', 'nonce', 'expires_at')).onConflictDoNothing().returning({ nonce: t.nonces.nonce }).prepare('nonce_take')),
  dropNonce: statement(builder.delete(t.nonces).where(and(eq(t.nonces.source, ph('source')), eq(t.nonces.nonce, ph('nonce')))).prepare('nonce_drop')),
  // The newest signal of the source with this body (replay_window_ms).
  twin: statement(
    builder
      .select()
      .from(t.signals)
      .where(and(eq(t.signals.source, ph('source')), eq(t.signals.fingerprint, ph('fingerprint'))))
      .orderBy(desc(t.signals.seq))
      .limit(1)
      .prepare('signal_twin'),
  ),
  rekey: statement(builder.update(t.signals).set({ dedupe_key: phSql('dedupe_key') }).where(eq(t.signals.seq, ph('seq'))).prepare('signal_rekey')),
  keyHolder: statement(
    builder
      .select()
      .from(t.signals)
      .where(and(eq(t.signals.source, ph('source')), eq(t.signals.dedupe_key, ph('dedupe_key'))))
      .for('update')
      .prepare('signal_key_holder'),
  ),
};

export function pgSignals(ctx: PgContext): SignalStore {
  const { db, transact, reconnecting } = ctx;
  /** One transaction: the nonce (when given), then recordIn. */
  const record = (input: NewSignal, given?: SignalNonce) =>
    transact(async (tx, emit): Promise<RecordOutcome | { kind: 'replay' }> => {
      // The nonce first: a concurrent delivery of the same nonce waits on its row and then
      // finds it taken. It is kept only if the signal is inserted (deleted again otherwise).
      const nonce = nonceRow(input.source, given);
      if (nonce !== null) {
        await run(q.pruneNonces, tx, { now: input.received_at.getTime() });
        const taken = (await run(q.takeNonce, tx, nonce)).length === 0;
        if (taken) return { kind: 'replay' };
      }
      const outcome = await recordIn(tx, emit, input, ctx.locks);
      if (nonce !== null && outcome.kind !== 'inserted') {
        await run(q.dropNonce, tx, { source: nonce.source, nonce: nonce.nonce });
      }
      return outcome;
    });

  return {
    async recordSignal(input) {
      return withoutReplay(await record(input));
    },

    recordSignalWithNonce(input, nonce) {
      return record(input, nonce);
    },

    getSignal(signalId) {
      return reconnecting(async () => {
        const [row] = await run(q.byId, db, { id: signalId });
        return row === undefined ? null : toRecord(row);
      });
    },

    listSignals(query) {
      return reconnecting(async () => {
        const rows = await db
          .select()
          .from(t.signals)
          .where(signalFilter(t.signals, query))
          .orderBy(desc(t.signals.seq))
          .limit(query.limit + 1);
        return pageOf(rows, query.limit, toRecord, (r) => String(r.seq));
      });
    },

    listSignalWindow(query) {
      return reconnecting(async () => {
        let range = parseWindowCursor(query.cursor);
        if (range === null) {
          // The first page: the window's seq bounds, through signals_received_at_idx.
          const [bounds] = await db.select({ first: min(t.signals.seq), last: max(t.signals.seq) }).from(t.signals).where(signalWindowFilter(t.signals, query));
          const first = toNumberOrNull(bounds?.first ?? null);
          const lastSeq = toNumberOrNull(bounds?.last ?? null);
          if (first === null || lastSeq === null) return { items: [], next_cursor: null };
          range = { after: first - 1, last: lastSeq };
        }
        const rows = await db.select().from(t.signals).where(signalWindowPageFilter(t.signals, query, range)).orderBy(asc(t.signals.seq)).limit(query.limit + 1);
        const last = range.last;
        return pageOf(rows, query.limit, toRecord, (r) => windowCursor({ after: r.seq, last }));
      });
    },

    lastSignal() {
      return reconnecting(async () => {
        const [row] = await db.select().from(t.signals).orderBy(desc(t.signals.seq)).limit(1);
        return row === undefined ? null : toRecord(row);
      });
    },

    queueStats(): Promise<QueueStats> {
      return reconnecting(async () => {
        const rows = await db
          .select({ status: t.signals.status, n: count(), oldest: sql<number | null>`min(${t.signals.received_at})`.mapWith(toNumberOrNull) })
          .from(t.signals)
          .where(inArray(t.signals.status, ['accepted', 'executing']))
          .groupBy(t.signals.status);
        return queueStatsFromRows(rows);
      });
    },

    listStaleAccepted(before, limit) {
      return reconnecting(async () => {
        const rows = await db
          .select()
          .from(t.signals)
          .where(and(eq(t.signals.status, 'accepted'), lt(t.signals.received_at, before.getTime())))
          .orderBy(asc(t.signals.seq))
          .limit(limit);
        return rows.map(toRecord);
      });
    },

    retrySignal(signalId, actor, now) {
      return transact(async (tx, emit) => {
        // Conditional UPDATE: of two concurrent retries only one finds the signal still failed.
        const [updated] = await tx
          .update(t.signals)
          .set(retryValues(now))
          .where(and(eq(t.signals.id, signalId), eq(t.signals.status, 'failed')))
          .returning();
        if (updated === undefined) return null;
        emit(signalRetried(signalId, actor, now));
        return toRecord(updated);
      });
    },

    pruneSignals(before, limit) {
      return transact(async (tx) => {
        // SKIP LOCKED: a signal another transaction holds is left for the next pass.
        const doomed = await tx
          .select({ seq: t.signals.seq, id: t.signals.id })
          .from(t.signals)
          .where(and(lt(t.signals.received_at, before.getTime()), inArray(t.signals.status, PRUNABLE)))
          .orderBy(asc(t.signals.seq))
          .limit(limit)
          .for('update', { skipLocked: true });
        if (doomed.length === 0) return 0;
        await tx.delete(t.attempts).where(inArray(t.attempts.signal_id, doomed.map((d) => d.id)));
        await tx.delete(t.signals).where(inArray(t.signals.seq, doomed.map((d) => d.seq)));
        return doomed.length;
      });
    },
  };
}

/** recordSignal past the nonce: the key's holder, the twin of a replayable body, the insert. */
async function recordIn(tx: Tx, emit: Emit, input: NewSignal, locks: PgLocks): Promise<RecordOutcome> {
  const values = newSignalRow(input);
  let twin: typeof t.signals.$inferSelect | undefined;
  if (input.replay_window_ms !== undefined) {
    // Two deliveries of one body under different keys (on any instance) take turns here, so the
    // second finds the first as its twin.
    await locks.body(tx, input.source, input.fingerprint);
    [twin] = await run(q.twin, tx, { source: input.source, fingerprint: input.fingerprint });
    if (twin !== undefined) {
      const [holder] = await run(q.keyHolder, tx, { source: input.source, dedupe_key: input.idempotency_key });
      const plan = planRecordSignal(holder, input, { twin });
      if (plan.kind === 'duplicate_body') return { kind: 'duplicate', record: toRecord(twin) };
      if (holder !== undefined && (plan.kind === 'duplicate' || plan.kind === 'conflict')) return { kind: plan.kind, record: toRecord(holder) };
    }
  }
  // Bounded: each round either inserts, answers, or saw the key's holder re-keyed by a
  // concurrent delivery (then the next round finds the new holder).
  for (let round = 0; round < 5; round += 1) {
    // The race between deliveries of one key (on any instance) is settled by the unique
    // index: INSERT … ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING. A concurrent
    // insert of the same key makes this statement wait for that transaction; if it
    // committed, nothing is returned here.
    const [inserted] = await run(q.insert, tx, values);
    if (inserted !== undefined) {
      emit(signalAccepted(input));
      return { kind: 'inserted', record: toRecord(inserted) };
    }
    // The key's holder, locked: a concurrent delivery past the window cannot re-key it
    // under us, and we can re-key it ourselves.
    const [holder] = await run(q.keyHolder, tx, { source: input.source, dedupe_key: input.idempotency_key });
    // Re-keyed by a concurrent delivery between the two statements: claim again.
    if (holder === undefined) continue;
    const plan = planRecordSignal(holder, input, { twin });
    if (plan.kind === 'duplicate' || plan.kind === 'conflict') return { kind: plan.kind, record: toRecord(holder) };
    if (plan.kind === 'duplicate_body' && twin !== undefined) return { kind: 'duplicate', record: toRecord(twin) };
    // Past its window: the next round inserts under the freed key.
    if (plan.kind === 'rekey') await run(q.rekey, tx, { dedupe_key: plan.dedupe_key, seq: holder.seq });
  }
  throw new Error(`recordSignal: key ${input.idempotency_key} of ${input.source} kept changing hands`);
}
