/** Signals: recording once per key, reading back, retry and retention. */
import { describe, expect, test } from 'vitest';
import { verifyAuditChain } from '../../../src/ops/audit.js';
import type { SignalRecord, Store } from '../../../src/store/store.js';
import { T0, DAY, at, must, newSignal, redelivery, allow, reject, gateInput, finishInput, record, recordExecuting, executeFill, allEvents, NOTIONAL_FAILURE, type ContractContext } from './helpers.js';

export function signalsContract({ s }: ContractContext): void {
  describe('recordSignal', () => {
    test('a new key is inserted as accepted with every field stored', async () => {
      const input = newSignal({ instrument: 'AAPL', signal: { strategy: 'momentum_v1', meta: { note: 'é 日本' } } });
      const outcome = await s().recordSignal(input);
      expect(outcome.kind).toBe('inserted');
      const expected: SignalRecord = {
        signal_id: input.signal_id,
        source: input.source,
        idempotency_key: input.idempotency_key,
        fingerprint: input.fingerprint,
        status: 'accepted',
        connector: 'mock',
        instrument: 'AAPL',
        client_order_id: input.client_order_id,
        request_id: input.request_id,
        received_at: T0.toISOString(),
        updated_at: T0.toISOString(),
        signal: input.signal,
        decision: null,
        result: null,
        trace_parent: null,
      };
      expect(outcome.record).toEqual(expected);
      expect(await s().getSignal(input.signal_id)).toEqual(expected);
    });

    test("the delivery's trace context (W3C traceparent) is kept with the signal; none is null", async () => {
      const traceParent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const traced = newSignal({ trace_parent: traceParent });
      expect((await s().recordSignal(traced)).record.trace_parent).toBe(traceParent);
      expect((await s().getSignal(traced.signal_id))?.trace_parent).toBe(traceParent);
      expect((await s().listSignals({ limit: 10 })).items.find((r) => r.signal_id === traced.signal_id)?.trace_parent).toBe(traceParent);
      const plain = newSignal();
      await s().recordSignal(plain);
      expect((await s().getSignal(plain.signal_id))?.trace_parent).toBeNull();
    });

    test('the same key with the same fingerprint is a duplicate of the first signal', async () => {
      const first = newSignal();
      await s().recordSignal(first);
      const again = await s().recordSignal(redelivery(first, { received_at: at(5) }));
      expect(again.kind).toBe('duplicate');
      expect(again.record.signal_id).toBe(first.signal_id);
      expect(again.record.received_at).toBe(T0.toISOString());
      const listed = await s().listSignals({ limit: 10 });
      expect(listed.items.map((r) => r.signal_id)).toEqual([first.signal_id]);
    });

    test('the same key with another fingerprint is a conflict and stores nothing', async () => {
      const first = newSignal();
      await s().recordSignal(first);
      const other = redelivery(first, { fingerprint: 'fp-other', signal: { ...first.signal, quantity: 99 } });
      const outcome = await s().recordSignal(other);
      expect(outcome.kind).toBe('conflict');
      expect(outcome.record.signal_id).toBe(first.signal_id);
      expect(outcome.record.fingerprint).toBe(first.fingerprint);
      expect(outcome.record.signal.quantity).toBe(10);
      expect(await s().getSignal(other.signal_id)).toBeNull();
    });

    test('an explicit key keeps deduplicating after window_ms (only body-hash keys expire)', async () => {
      const first = newSignal({ key_kind: 'explicit', window_ms: 1_000 });
      await s().recordSignal(first);
      const later = await s().recordSignal(redelivery(first, { received_at: at(3_600) }));
      expect(later.kind).toBe('duplicate');
      expect(later.record.signal_id).toBe(first.signal_id);
    });

    test('a body-hash key deduplicates within window_ms and is inserted again after it', async () => {
      const first = newSignal({ key_kind: 'body_hash', idempotency_key: `sha256:${'ab'.repeat(32)}`, window_ms: 60_000 });
      expect((await s().recordSignal(first)).kind).toBe('inserted');

      const within = await s().recordSignal(redelivery(first, { received_at: at(30) }));
      expect(within.kind).toBe('duplicate');
      expect(within.record.signal_id).toBe(first.signal_id);

      const after = redelivery(first, { received_at: at(120) });
      const second = await s().recordSignal(after);
      expect(second.kind).toBe('inserted');
      expect(second.record.signal_id).toBe(after.signal_id);
      expect(second.record.idempotency_key).toBe(first.idempotency_key);

      // Both rows exist, each with its own history.
      expect((await s().getSignal(first.signal_id))?.received_at).toBe(T0.toISOString());
      expect((await s().getSignal(after.signal_id))?.received_at).toBe(at(120).toISOString());
      const listed = await s().listSignals({ source: first.source, limit: 10 });
      expect(listed.items.map((r) => r.signal_id)).toEqual([after.signal_id, first.signal_id]);

      // The window now runs from the second delivery.
      const third = await s().recordSignal(redelivery(first, { received_at: at(150) }));
      expect(third.kind).toBe('duplicate');
      expect(third.record.signal_id).toBe(after.signal_id);
    });

    test('the same key in two sources is two signals', async () => {
      const tv = newSignal({ source: 'tv', idempotency_key: 'shared-key' });
      const internal = newSignal({ source: 'internal', idempotency_key: 'shared-key', fingerprint: tv.fingerprint });
      expect((await s().recordSignal(tv)).kind).toBe('inserted');
      expect((await s().recordSignal(internal)).kind).toBe('inserted');
      expect((await s().getSignal(tv.signal_id))?.source).toBe('tv');
      expect((await s().getSignal(internal.signal_id))?.source).toBe('internal');
    });

    test('50 concurrent deliveries of one key insert exactly one signal', async () => {
      const first = newSignal();
      const deliveries = [first, ...Array.from({ length: 49 }, () => redelivery(first))];
      const outcomes = await Promise.all(deliveries.map((d) => s().recordSignal(d)));
      const inserted = outcomes.filter((o) => o.kind === 'inserted');
      expect(inserted).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'duplicate')).toHaveLength(49);
      const winner = must(inserted[0], 'the inserted outcome').record.signal_id;
      expect(new Set(outcomes.map((o) => o.record.signal_id))).toEqual(new Set([winner]));
      expect((await s().listSignals({ limit: 100 })).items).toHaveLength(1);
      expect((await allEvents(s())).filter((e) => e.type === 'signal.accepted')).toHaveLength(1);
    });
  });

  describe('recordSignalWithNonce', () => {
    const nonce = (n: string, expiresAfterSeconds = 300) => ({ nonce: n, expires_at: at(expiresAfterSeconds) });

    test('the nonce is stored with the inserted signal and is live until it expires', async () => {
      const input = newSignal();
      const outcome = await s().recordSignalWithNonce(input, nonce('n-1'));
      expect(outcome.kind).toBe('inserted');
      expect(await s().nonceSeen(input.source, 'n-1', at(299))).toBe(true);
      expect(await s().nonceSeen(input.source, 'n-1', at(300))).toBe(false);
      expect(await s().nonceSeen('other-source', 'n-1', at(1))).toBe(false);
    });

    test('a live nonce is a replay under any key, and nothing is written', async () => {
      await s().recordSignalWithNonce(newSignal(), nonce('n-2'));
      const eventsBefore = (await allEvents(s())).length;
      const replay = newSignal({ received_at: at(10) });
      expect(await s().recordSignalWithNonce(replay, nonce('n-2'))).toEqual({ kind: 'replay' });
      expect(await s().getSignal(replay.signal_id)).toBeNull();
      expect((await allEvents(s())).length).toBe(eventsBefore);
    });

    test('the nonce is kept only with an inserted signal: a duplicate or a conflict leaves it free', async () => {
      const first = newSignal();
      await s().recordSignal(first);
      expect((await s().recordSignalWithNonce(redelivery(first, { received_at: at(1) }), nonce('n-3'))).kind).toBe('duplicate');
      expect(await s().nonceSeen(first.source, 'n-3', at(2))).toBe(false);
      expect((await s().recordSignalWithNonce(redelivery(first, { fingerprint: 'fp-other', received_at: at(2) }), nonce('n-3'))).kind).toBe('conflict');
      expect(await s().nonceSeen(first.source, 'n-3', at(3))).toBe(false);
      expect((await s().recordSignalWithNonce(newSignal({ received_at: at(3) }), nonce('n-3'))).kind).toBe('inserted');
    });

    test('a nonce is per source, and free again once expired', async () => {
      await s().recordSignalWithNonce(newSignal({ source: 'tv' }), nonce('n-4', 60));
      expect((await s().recordSignalWithNonce(newSignal({ source: 'internal' }), nonce('n-4', 60))).kind).toBe('inserted');
      expect((await s().recordSignalWithNonce(newSignal({ source: 'tv', received_at: at(59) }), nonce('n-4', 600))).kind).toBe('replay');
      expect((await s().recordSignalWithNonce(newSignal({ source: 'tv', received_at: at(60) }), nonce('n-4', 600))).kind).toBe('inserted');
      expect(await s().nonceSeen('tv', 'n-4', at(599))).toBe(true);
    });

    test('two concurrent deliveries of one nonce under different keys: one inserted, one replay', async () => {
      const outcomes = await Promise.all([s().recordSignalWithNonce(newSignal(), nonce('n-5')), s().recordSignalWithNonce(newSignal(), nonce('n-5'))]);
      expect(outcomes.map((o) => o.kind).sort()).toEqual(['inserted', 'replay']);
      expect((await s().listSignals({ limit: 10 })).items).toHaveLength(1);
    });
  });

  describe('replay_window_ms (a body signed without an id or a time)', () => {
    test('the same body under another key within the window is a duplicate of the first; after it, a new signal', async () => {
      const first = newSignal({ replay_window_ms: 60_000 });
      await s().recordSignal(first);
      const resent = await s().recordSignal(newSignal({ fingerprint: first.fingerprint, replay_window_ms: 60_000, received_at: at(59) }));
      expect(resent.kind).toBe('duplicate');
      expect(resent.record.signal_id).toBe(first.signal_id);
      const later = await s().recordSignal(newSignal({ fingerprint: first.fingerprint, replay_window_ms: 60_000, received_at: at(60) }));
      expect(later.kind).toBe('inserted');
    });

    test('without a replay window the same body under another key is a new signal', async () => {
      const first = newSignal();
      await s().recordSignal(first);
      expect((await s().recordSignal(newSignal({ fingerprint: first.fingerprint, received_at: at(1) }))).kind).toBe('inserted');
    });

    test('the key is judged first: the same key with another body is still a conflict', async () => {
      const first = newSignal({ replay_window_ms: 60_000 });
      await s().recordSignal(first);
      expect((await s().recordSignal(redelivery(first, { fingerprint: 'fp-else', received_at: at(1) }))).kind).toBe('conflict');
    });

    test('two concurrent deliveries of one body under different keys: one inserted, one duplicate', async () => {
      const fingerprint = `fp-race-${Math.random()}`;
      const outcomes = await Promise.all([
        s().recordSignal(newSignal({ fingerprint, replay_window_ms: 60_000 })),
        s().recordSignal(newSignal({ fingerprint, replay_window_ms: 60_000 })),
      ]);
      expect(outcomes.map((o) => o.kind).sort()).toEqual(['duplicate', 'inserted']);
    });
  });

  describe('reading signals', () => {
    test('getSignal of an unknown id is null', async () => {
      expect(await s().getSignal('sig_nope')).toBeNull();
    });

    test('listSignals filters by status, source and instrument, newest first', async () => {
      const a = await record(s(), { source: 'tv', instrument: 'AAPL' });
      // TSLA, not MSFT: d is gated below while b stays accepted, and an older accepted signal
      // of d's lane would block it.
      const b = await record(s(), { source: 'tv', instrument: 'TSLA' });
      const c = await record(s(), { source: 'internal', instrument: 'AAPL' });
      const d = await record(s(), { source: 'internal', instrument: 'MSFT' });
      const e = await record(s(), { source: 'tv', instrument: 'AAPL' });
      await s().gateSignal(gateInput(a, allow()));
      await s().gateSignal(gateInput(d, reject([NOTIONAL_FAILURE])));

      const ids = async (q: Omit<Parameters<Store['listSignals']>[0], 'limit'>): Promise<string[]> =>
        (await s().listSignals({ ...q, limit: 100 })).items.map((r) => r.signal_id);
      const cases: { name: string; query: Omit<Parameters<Store['listSignals']>[0], 'limit'>; want: SignalRecord[] }[] = [
        { name: 'no filter', query: {}, want: [e, d, c, b, a] },
        { name: 'status accepted', query: { status: 'accepted' }, want: [e, c, b] },
        { name: 'status executing', query: { status: 'executing' }, want: [a] },
        { name: 'status rejected', query: { status: 'rejected' }, want: [d] },
        { name: 'status executed', query: { status: 'executed' }, want: [] },
        { name: 'source tv', query: { source: 'tv' }, want: [e, b, a] },
        { name: 'instrument AAPL', query: { instrument: 'AAPL' }, want: [e, c, a] },
        { name: 'source + instrument', query: { source: 'internal', instrument: 'MSFT' }, want: [d] },
        { name: 'source + status', query: { source: 'tv', status: 'accepted' }, want: [e, b] },
        { name: 'unknown source', query: { source: 'nope' }, want: [] },
      ];
      for (const c2 of cases) {
        expect(await ids(c2.query), c2.name).toEqual(c2.want.map((r) => r.signal_id));
      }
      const first = must((await s().listSignals({ status: 'executing', limit: 1 })).items[0], 'an executing signal');
      expect(first.status).toBe('executing');
      expect(first.decision).toEqual(allow());
    });

    test('cursor pagination returns every row exactly once, newest first', async () => {
      const made: string[] = [];
      for (let i = 0; i < 7; i += 1) made.push((await record(s(), { instrument: i % 2 === 0 ? 'AAPL' : 'MSFT' })).signal_id);

      const walk = async (q: { instrument?: string }, limit: number): Promise<{ ids: string[]; pages: number[] }> => {
        const ids: string[] = [];
        const pages: number[] = [];
        let cursor: string | undefined;
        for (let guard = 0; guard < 20; guard += 1) {
          const page = await s().listSignals({ ...q, limit, ...(cursor === undefined ? {} : { cursor }) });
          ids.push(...page.items.map((r) => r.signal_id));
          pages.push(page.items.length);
          if (page.next_cursor === null) return { ids, pages };
          cursor = page.next_cursor;
        }
        throw new Error('pagination did not end');
      };

      const everything = await walk({}, 3);
      expect(everything.pages).toEqual([3, 3, 1]);
      expect(everything.ids).toEqual([...made].reverse());

      const exact = await walk({}, 7);
      expect(exact.pages).toEqual([7]);

      const aapl = await walk({ instrument: 'AAPL' }, 2);
      expect(aapl.ids).toEqual(made.filter((_, i) => i % 2 === 0).reverse());
      expect(aapl.pages).toEqual([2, 2]);
    });

    test('listSignalWindow pages the window [from, to) in arrival order, of one source when given', async () => {
      // Arrival order is seq, not received_at: d arrives last with an earlier time (a spooled delivery).
      const before = await record(s(), { source: 'tv', received_at: at(-1) });
      const a = await record(s(), { source: 'tv', received_at: at(0) });
      const b = await record(s(), { source: 'internal', received_at: at(10) });
      const c = await record(s(), { source: 'tv', received_at: at(20) });
      const atTo = await record(s(), { source: 'tv', received_at: at(30) });
      const d = await record(s(), { source: 'tv', received_at: at(5) });
      await s().gateSignal(gateInput(a, allow()));
      expect(before.signal_id).not.toBe(atTo.signal_id);

      const walk = async (source: string | undefined, limit: number): Promise<{ ids: string[]; pages: number[] }> => {
        const ids: string[] = [];
        const pages: number[] = [];
        let cursor: string | undefined;
        for (let guard = 0; guard < 20; guard += 1) {
          const page = await s().listSignalWindow({ from: at(0), to: at(30), limit, ...(source === undefined ? {} : { source }), ...(cursor === undefined ? {} : { cursor }) });
          ids.push(...page.items.map((r) => r.signal_id));
          pages.push(page.items.length);
          if (page.next_cursor === null) return { ids, pages };
          cursor = page.next_cursor;
        }
        throw new Error('pagination did not end');
      };
      const all = await walk(undefined, 2);
      expect(all.ids).toEqual([a, b, c, d].map((r) => r.signal_id));
      expect(all.pages).toEqual([2, 2]);
      expect((await walk('tv', 10)).ids).toEqual([a, c, d].map((r) => r.signal_id));
      expect((await walk('nope', 10)).ids).toEqual([]);
      // Records come whole: the decision the gate stored is on the row.
      const first = must((await s().listSignalWindow({ from: at(0), to: at(1), limit: 5 })).items[0], 'a signal');
      expect(first.decision).toEqual(allow());
    });

    test('lastSignal and queueStats reflect the newest signal and the queue', async () => {
      expect(await s().lastSignal()).toBeNull();
      expect(await s().queueStats()).toEqual({ accepted: 0, executing: 0, oldest_accepted_at: null });
      const a = await record(s(), { received_at: at(-30) });
      await record(s(), { received_at: at(-10) });
      const c = await record(s(), { received_at: at(0) });
      await s().gateSignal(gateInput(a, allow()));
      expect((await s().lastSignal())?.signal_id).toBe(c.signal_id);
      expect(await s().queueStats()).toEqual({ accepted: 2, executing: 1, oldest_accepted_at: at(-10).toISOString() });
    });
  });

  describe('stale and retried signals', () => {
    test('listStaleAccepted lists accepted signals received before a time, oldest first, bounded by limit', async () => {
      const taken = await record(s(), { received_at: at(-90) });
      await s().gateSignal(gateInput(taken, allow()));
      const old1 = await record(s(), { received_at: at(-60) });
      const old2 = await record(s(), { received_at: at(-30) });
      await record(s(), { received_at: at(0) });

      const ids = async (before: Date, limit: number): Promise<string[]> => (await s().listStaleAccepted(before, limit)).map((r) => r.signal_id);
      expect(await ids(at(-10), 10)).toEqual([old1.signal_id, old2.signal_id]);
      expect(await ids(at(-10), 1)).toEqual([old1.signal_id]);
      // Strictly before.
      expect(await ids(at(-30), 10)).toEqual([old1.signal_id]);
      expect(await ids(at(-100), 10)).toEqual([]);
      expect((await s().listStaleAccepted(at(-10), 10))[0]).toEqual(old1);
    });

    test('retrySignal turns a failed signal back to accepted once, keeping its attempts and events', async () => {
      const rec = await recordExecuting(s());
      await s().recordAttempt(rec.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'http_422', error: 'rejected by broker' });
      await s().finishSignal(finishInput(rec, null));

      const retried = must(await s().retrySignal(rec.signal_id, 'admin', at(5)), 'the retried signal');
      expect(retried).toEqual({ ...rec, status: 'accepted', decision: null, result: null, updated_at: at(5).toISOString() });
      expect(await s().getSignal(rec.signal_id)).toEqual(retried);
      // Not failed any more: a second retry finds nothing to do.
      expect(await s().retrySignal(rec.signal_id, 'admin', at(6))).toBeNull();

      expect(await s().listAttempts(rec.signal_id)).toHaveLength(1);
      const events = await s().listSignalEvents(rec.signal_id);
      expect(events.map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing', 'signal.attempt', 'signal.failed', 'signal.retried']);
      expect(events[4]?.data).toEqual({ actor: 'admin' });
      expect(events[4]?.at).toBe(at(5).toISOString());

      // It goes through the gate again like a new signal.
      const again = await s().gateSignal(gateInput(retried, allow({ reserved_notional: 700 })));
      expect(again.kind).toBe('executing');
      expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(700);
    });

    test('retrySignal of a signal that is not failed is null and appends nothing', async () => {
      const accepted = await record(s());
      const executing = await recordExecuting(s());
      const executed = await executeFill(s(), { side: 'buy', quantity: 1, price: 10 });
      const rejected = await record(s());
      await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));
      const before = (await allEvents(s())).length;
      for (const id of [accepted.signal_id, executing.signal_id, executed.signal_id, rejected.signal_id, 'sig_missing']) {
        expect(await s().retrySignal(id, 'admin', at(5)), id).toBeNull();
      }
      expect(await allEvents(s())).toHaveLength(before);
    });

    test('two concurrent retries of one failed signal: one wins', async () => {
      const rec = await recordExecuting(s());
      await s().finishSignal(finishInput(rec, null));
      const outcomes = await Promise.all([s().retrySignal(rec.signal_id, 'a', at(5)), s().retrySignal(rec.signal_id, 'b', at(5))]);
      expect(outcomes.filter((o) => o !== null)).toHaveLength(1);
      expect((await s().listSignalEvents(rec.signal_id)).filter((e) => e.type === 'signal.retried')).toHaveLength(1);
    });
  });

  describe('retention', () => {
    test('pruneSignals deletes final signals older than the cut, frees their keys, keeps the event log', async () => {
      const old = await executeFill(s(), { side: 'buy', quantity: 1, price: 10 }, { instrument: 'PRUNE' });
      const pending = await record(s(), { instrument: 'PRUNE2' });
      const eventsBefore = await s().lastEventSeq();
      // Received at T0: a cut at T0 keeps it (strictly before), a later one prunes it.
      expect(await s().pruneSignals(T0, 100)).toBe(0);
      expect(await s().pruneSignals(at(1_000), 100)).toBe(1);
      expect(await s().getSignal(old.signal_id)).toBeNull();
      expect(await s().listAttempts(old.signal_id)).toEqual([]);
      // A signal still accepted is never pruned, however old the cut.
      expect(await s().pruneSignals(at(1_000_000), 100)).toBe(0);
      expect((await s().getSignal(pending.signal_id))?.status).toBe('accepted');
      expect(await s().lastEventSeq()).toBe(eventsBefore);
      expect((await verifyAuditChain(s())).ok).toBe(true);
      // The key is free again.
      const again = await s().recordSignal(newSignal({ source: old.source, idempotency_key: old.idempotency_key, instrument: 'PRUNE' }));
      expect(again.kind).toBe('inserted');
    });
  });
}
