/** The event log: appends, pages, the chain, subscribers. */
import { describe, expect, test, vi } from 'vitest';
import { GENESIS_HASH } from '../../../src/events/chain.js';
import { verifyAuditChain } from '../../../src/ops/audit.js';
import type { EventRecord } from '../../../src/store/store.js';
import { T0, at, must, newSignal, redelivery, allow, reject, gateInput, finishInput, record, recordExecuting, allEvents, NOTIONAL_FAILURE, type ContractContext } from './helpers.js';

export function eventsContract({ s, setClock }: ContractContext): void {
  describe('event log', () => {
    test('every verb appends its events, chained without gaps, and the chain verifies', async () => {
      const executed = await recordExecuting(s());
      await s().recordAttempt(executed.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'filled', error: null });
      await s().finishSignal(finishInput(executed, { side: 'buy', quantity: 10, price: 100 }));
      const rejected = await record(s());
      await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));
      const failed = await recordExecuting(s());
      await s().recordAttempt(failed.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'http_422', error: 'rejected by broker' });
      await s().finishSignal(finishInput(failed, null));
      await s().setMode('exit_only', 'daily_loss', 'guardrails', at(2));
      // Nothing is appended for a duplicate, a conflict, a skipped gate or a finish already done.
      await s().recordSignal(redelivery(newSignal({ idempotency_key: executed.idempotency_key, fingerprint: executed.fingerprint, source: executed.source })));
      await s().recordSignal(newSignal({ idempotency_key: executed.idempotency_key, source: executed.source }));
      await s().gateSignal(gateInput(executed, allow()));
      await s().finishSignal(finishInput(executed, null));

      const events = await allEvents(s());
      expect(events.map((e) => [e.type, e.signal_id])).toEqual([
        ['signal.accepted', executed.signal_id],
        ['signal.executing', executed.signal_id],
        ['signal.attempt', executed.signal_id],
        ['signal.executed', executed.signal_id],
        ['order.filled', executed.signal_id],
        ['signal.accepted', rejected.signal_id],
        ['signal.rejected', rejected.signal_id],
        ['signal.accepted', failed.signal_id],
        ['signal.executing', failed.signal_id],
        ['signal.attempt', failed.signal_id],
        ['signal.failed', failed.signal_id],
        ['mode.changed', null],
      ]);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      events.forEach((e, i) => {
        expect(e.prev_hash).toBe(i === 0 ? GENESIS_HASH : events[i - 1]?.hash);
        expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
        expect(Number.isNaN(Date.parse(e.at))).toBe(false);
      });
      const last = must(events[events.length - 1], 'the last event');
      expect(await verifyAuditChain(s())).toEqual({ ok: true, entries: events.length, head: last.hash });
      // Small pages walk the same chain.
      expect(await verifyAuditChain(s(), 3)).toEqual({ ok: true, entries: events.length, head: last.hash });

      expect((await s().listSignalEvents(rejected.signal_id)).map((e) => e.type)).toEqual(['signal.accepted', 'signal.rejected']);
      const rejection = must(events[6], 'the rejection event');
      expect(rejection.data).toEqual({ decision: reject([NOTIONAL_FAILURE]) });
    });


    test('an empty log verifies with 0 entries', async () => {
      expect(await verifyAuditChain(s())).toEqual({ ok: true, entries: 0, head: GENESIS_HASH });
    });

    test('appendEvent stores the entry as given and listEvents pages by seq', async () => {
      const appended: EventRecord[] = [];
      for (let i = 0; i < 7; i += 1) {
        appended.push(await s().appendEvent({ type: 'breaker.opened', data: { connector: 'alpaca', n: i, nested: { é: ['日本', null, true] } } }));
      }
      expect(appended.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(appended[0]?.signal_id).toBeNull();
      expect(appended[3]?.data).toEqual({ connector: 'alpaca', n: 3, nested: { é: ['日本', null, true] } });

      const pages: number[][] = [];
      let after = 0;
      for (let guard = 0; guard < 10; guard += 1) {
        const page = await s().listEvents(after, 3);
        if (page.length === 0) break;
        pages.push(page.map((e) => e.seq));
        after = must(page[page.length - 1], 'the last row of the page').seq;
      }
      expect(pages).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
      expect(await s().listEvents(0, 100)).toEqual(appended);
      expect(await s().listEvents(7, 10)).toEqual([]);
      expect((await s().listEvents(5, 1)).map((e) => e.seq)).toEqual([6]);
    });

    test('subscribe() receives each event after its commit, and not after unsubscribing', async () => {
      const seen: EventRecord[] = [];
      const visible: Promise<EventRecord[]>[] = [];
      const off = s().subscribe((event) => {
        seen.push(event);
        // Committed means readable by anyone as soon as the listener hears of it.
        visible.push(s().listEvents(event.seq - 1, 1));
      });
      const rec = await record(s());
      await s().gateSignal(gateInput(rec, allow()));
      await expect(s().finishSignal({ ...finishInput(rec, null), signal_id: 'sig_missing' })).rejects.toThrow();
      await vi.waitFor(() => expect(seen).toHaveLength(2));
      expect(seen.map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing']);
      const read = await Promise.all(visible);
      expect(read.map((rows) => rows.map((e) => e.seq))).toEqual([[seen[0]?.seq], [seen[1]?.seq]]);
      expect(seen).toEqual(await allEvents(s()));

      off();
      await s().setMode('paused', 'x', 'admin', T0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(seen).toHaveLength(2);
    });

    test('appendEvent logs the entry at the store’s clock', async () => {
      setClock(at(90));
      const first = await s().appendEvent({ type: 'probe', data: {} });
      setClock(at(91.25));
      const second = await s().appendEvent({ type: 'probe', data: {} });
      expect([first.at, second.at]).toEqual([at(90).toISOString(), at(91.25).toISOString()]);
      expect((await s().listEvents(0, 10)).map((e) => e.at)).toEqual([at(90).toISOString(), at(91.25).toISOString()]);
    });

    test('appendEvent with a time logs the entry at that time (an event held while the log was unreachable), on the chain', async () => {
      setClock(at(300));
      await s().appendEvent({ type: 'probe', data: {} });
      const held = await s().appendEvent({ type: 'degraded.entered', data: { component: 'database' } }, at(120));
      const next = await s().appendEvent({ type: 'degraded.exited', data: { component: 'database' } });
      expect([held.at, next.at]).toEqual([at(120).toISOString(), at(300).toISOString()]);
      expect((await s().listEvents(0, 10)).map((e) => [e.type, e.at])).toEqual([
        ['probe', at(300).toISOString()],
        ['degraded.entered', at(120).toISOString()],
        ['degraded.exited', at(300).toISOString()],
      ]);
      expect(await verifyAuditChain(s())).toMatchObject({ ok: true, entries: 3 });
    });
  });
}
