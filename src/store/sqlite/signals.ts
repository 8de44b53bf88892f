/** Signals on SQLite: recording (one job per delivery, durable), reads, retry and retention. */
import { and, asc, count, desc, eq, inArray, lt, lte, max, min, sql } from 'drizzle-orm';
import type { NewSignal, QueueStats, RecordOutcome, SignalNonce, SignalStore } from '../contract/signals.js';
import { signalAccepted, signalRetried } from '../plans/events.js';
import { newSignalRow, nonceRow, planRecordSignal, PRUNABLE, retryValues, SIGNAL_COLUMNS, withoutReplay } from '../plans/signals.js';
import { parseWindowCursor, signalFilter, signalWindowFilter, signalWindowPageFilter, windowCursor } from '../filters.js';
import { pageOf, queueStatsFromRows, signalRecordFromRow as toRecord } from '../records.js';
import { DURABLE, type SqliteContext } from './context.js';
import { ph, phs, phSql } from '../placeholders.js';
import * as t from './schema.js';

export function sqliteSignals(ctx: SqliteContext): SignalStore {
  const { db, writer } = ctx;
  const q = {
    signalByKey: db
      .select()
      .from(t.signals)
      .where(and(eq(t.signals.source, ph('source')), eq(t.signals.dedupe_key, ph('key'))))
      .prepare(),
    // Writes on the hot path, prepared once.
    insertSignal: db
      .insert(t.signals)
      .values({ ...phs(...SIGNAL_COLUMNS), status: 'accepted' })
      .returning()
      .prepare(),
    rekey: db.update(t.signals).set({ dedupe_key: phSql('dedupe_key') }).where(eq(t.signals.seq, ph('seq'))).prepare(),
    // The newest signal of the source with this body (replay_window_ms only). No LIMIT: `.get()`
    // steps once, and SQLite prepares a statement with a bound LIMIT again at every run.
    twin: db
      .select()
      .from(t.signals)
      .where(and(eq(t.signals.source, ph('source')), eq(t.signals.fingerprint, ph('fingerprint'))))
      .orderBy(desc(t.signals.seq))
      .prepare(),
    expireNonces: db.delete(t.nonces).where(lte(t.nonces.expires_at, ph('now'))).prepare(),
    nonceTaken: db
      .select({ nonce: t.nonces.nonce })
      .from(t.nonces)
      .where(and(eq(t.nonces.source, ph('source')), eq(t.nonces.nonce, ph('nonce'))))
      .prepare(),
    insertNonce: db.insert(t.nonces).values(phs('source', 'nonce', 'expires_at')).prepare(),
  };

  /** One writer job: the nonce (when given), the key's holder, the twin of a replayable body, the insert. */
  const record = (input: NewSignal, given?: SignalNonce) =>
    writer.run((): RecordOutcome | { kind: 'replay' } => {
      const nonce = nonceRow(input.source, given);
      // Expired nonces go first, so a row still here is a live one.
      if (nonce !== null) q.expireNonces.run({ now: input.received_at.getTime() });
      const holder = q.signalByKey.get({ source: input.source, key: input.idempotency_key });
      const twin = input.replay_window_ms === undefined ? undefined : q.twin.get({ source: input.source, fingerprint: input.fingerprint });
      const plan = planRecordSignal(holder, input, {
        nonce_taken: nonce !== null && q.nonceTaken.get({ source: nonce.source, nonce: nonce.nonce }) !== undefined,
        twin,
      });
      if (plan.kind === 'replay') return { kind: 'replay' };
      if (plan.kind === 'duplicate_body' && twin !== undefined) return { kind: 'duplicate', record: toRecord(twin) };
      if (holder !== undefined) {
        if (plan.kind === 'duplicate' || plan.kind === 'conflict') return { kind: plan.kind, record: toRecord(holder) };
        if (plan.kind === 'rekey') q.rekey.run({ dedupe_key: plan.dedupe_key, seq: holder.seq });
      }
      if (nonce !== null) q.insertNonce.run(nonce);
      const row = q.insertSignal.get(newSignalRow(input));
      if (row === undefined) throw new Error('recordSignal: the insert returned no row');
      ctx.append(signalAccepted(input));
      return { kind: 'inserted', record: toRecord(row) };
    }, DURABLE);

  return {
    async recordSignal(input) {
      return withoutReplay(await record(input));
    },

    recordSignalWithNonce(input, nonce) {
      return record(input, nonce);
    },

    async getSignal(signalId) {
      const row = ctx.q.signalById.get({ id: signalId });
      return row === undefined ? null : toRecord(row);
    },

    async listSignals(query) {
      const rows = db
        .select()
        .from(t.signals)
        .where(signalFilter(t.signals, query))
        .orderBy(desc(t.signals.seq))
        .limit(query.limit + 1)
        .all();
      return pageOf(rows, query.limit, toRecord, (r) => String(r.seq));
    },

    async listSignalWindow(query) {
      let range = parseWindowCursor(query.cursor);
      if (range === null) {
        // The first page: the window's seq bounds, through signals_received_at_idx.
        const bounds = db.select({ first: min(t.signals.seq), last: max(t.signals.seq) }).from(t.signals).where(signalWindowFilter(t.signals, query)).get();
        if (bounds?.first == null || bounds.last == null) return { items: [], next_cursor: null };
        range = { after: bounds.first - 1, last: bounds.last };
      }
      const rows = db.select().from(t.signals).where(signalWindowPageFilter(t.signals, query, range)).orderBy(asc(t.signals.seq)).limit(query.limit + 1).all();
      const last = range.last;
      return pageOf(rows, query.limit, toRecord, (r) => windowCursor({ after: r.seq, last }));
    },

    async lastSignal() {
      const row = db.select().from(t.signals).orderBy(desc(t.signals.seq)).limit(1).get();
      return row === undefined ? null : toRecord(row);
    },

    async queueStats(): Promise<QueueStats> {
      const rows = db
        .select({ status: t.signals.status, n: count(), oldest: sql<number | null>`min(${t.signals.received_at})` })
        .from(t.signals)
        .where(inArray(t.signals.status, ['accepted', 'executing']))
        .groupBy(t.signals.status)
        .all();
      return queueStatsFromRows(rows);
    },

    async listStaleAccepted(before, limit) {
      return db
        .select()
        .from(t.signals)
        .where(and(eq(t.signals.status, 'accepted'), lt(t.signals.received_at, before.getTime())))
        .orderBy(asc(t.signals.seq))
        .limit(limit)
        .all()
        .map(toRecord);
    },

    retrySignal(signalId, actor, now) {
      return writer.run(() => {
        const updated = db
          .update(t.signals)
          .set(retryValues(now))
          .where(and(eq(t.signals.id, signalId), eq(t.signals.status, 'failed')))
          .returning()
          .get();
        if (updated === undefined) return null;
        ctx.append(signalRetried(signalId, actor, now));
        return toRecord(updated);
      }, DURABLE);
    },

    pruneSignals(before, limit) {
      return writer.run(() => {
        const doomed = db
          .select({ seq: t.signals.seq, id: t.signals.id })
          .from(t.signals)
          .where(and(lt(t.signals.received_at, before.getTime()), inArray(t.signals.status, PRUNABLE)))
          .orderBy(asc(t.signals.seq))
          .limit(limit)
          .all();
        if (doomed.length === 0) return 0;
        db.delete(t.attempts).where(inArray(t.attempts.signal_id, doomed.map((d) => d.id))).run();
        db.delete(t.signals).where(inArray(t.signals.seq, doomed.map((d) => d.seq))).run();
        return doomed.length;
      });
    },
  };
}
