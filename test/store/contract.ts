/**
 * The store contract suite (STYLE 11): one body of tests that every Store implementation must
 * pass, registered by `storeContractTests(name, open)`. Each test opens a fresh store (a new
 * SQLite file, a new PostgreSQL schema), so no test sees another's rows. The tests speak
 * only the Store interface: they never reach into a dialect.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Decision, Order, RuleFailure, Signal } from '../../src/domain/types.js';
import { GENESIS_HASH } from '../../src/events/chain.js';
import { onFailure, onSuccess, resetBreaker, tripBreaker, type BreakerState } from '../../src/domain/breaker.js';
import { verifyAuditChain } from '../../src/ops/audit.js';
import type { StoredGateState } from '../../src/domain/gate-state.js';
import type {
  EventRecord,
  ExecutionResult,
  Fill,
  FinishInput,
  GateInput,
  NewSignal,
  RefusedDelivery,
  SignalRecord,
  Store,
} from '../../src/store/store.js';

export interface OpenedStore {
  store: Store;
  cleanup: () => Promise<void>;
}

/** Monday 2026-11-23 15:00 UTC; every time in the suite is an offset from it. */
export const T0 = new Date('2026-11-23T15:00:00.000Z');
export const DAY = '2026-11-23';
export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

/** Throws instead of asserting non-null: a missing value fails the test with a message. */
export function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`expected ${what}, got ${String(value)}`);
  return value;
}

// ── builders ──────────────────────────────────────────────────────────────────────────────────

const RUN = randomUUID().slice(0, 8);
let counter = 0;

export interface SignalOverrides extends Partial<Omit<NewSignal, 'signal'>> {
  signal?: Partial<Signal>;
}

/** A NewSignal with a unique id, key and fingerprint unless overridden. */
export function newSignal(o: SignalOverrides = {}): NewSignal {
  counter += 1;
  const { signal: signalOverrides, ...rest } = o;
  // A lane of its own by default: gating a younger signal of a lane before an older, still
  // accepted one is `blocked` (arrival order per lane), which only the lane tests want.
  const instrument = o.instrument ?? signalOverrides?.instrument ?? `I${counter}`;
  const source = o.source ?? 'tv';
  const key = o.idempotency_key ?? `key-${RUN}-${counter}`;
  const signal: Signal = {
    action: 'buy',
    instrument,
    quantity: 10,
    order_type: 'market',
    price: 100,
    time_in_force: 'day',
    meta: {},
    ...signalOverrides,
  };
  return {
    signal_id: `sig_${RUN}_${counter}`,
    source,
    idempotency_key: key,
    key_kind: 'explicit',
    window_ms: 60_000,
    fingerprint: `fp-${RUN}-${counter}`,
    connector: 'mock',
    instrument,
    client_order_id: `${source}-${key}`.slice(0, 48),
    request_id: `req-${RUN}-${counter}`,
    received_at: T0,
    ...rest,
    signal,
  };
}

/** The same delivery again (same source, key and fingerprint) under a fresh signal id. */
export function redelivery(first: NewSignal, o: Partial<NewSignal> = {}): NewSignal {
  counter += 1;
  return { ...first, signal_id: `sig_${RUN}_${counter}`, request_id: `req-${RUN}-${counter}`, ...o };
}

export function allow(o: Partial<Decision> = {}): Decision {
  return { allowed: true, failures: [], quantity: 10, side: 'buy', exit: false, trimmed: false, reserved_notional: 1000, reference_price: 100, ...o };
}

export function reject(failures: RuleFailure[], o: Partial<Decision> = {}): Decision {
  return { allowed: false, failures, quantity: null, side: null, exit: false, trimmed: false, reserved_notional: 0, reference_price: 100, ...o };
}

const NOTIONAL_FAILURE: RuleFailure = { rule: 'max_order_notional', limit: 10_000, actual: 15_000, message: 'order notional 15000 exceeds 10000' };

type Target = Pick<SignalRecord, 'signal_id' | 'connector' | 'instrument'>;

export function gateInput(rec: Target, decide: Decision | ((state: StoredGateState) => Decision), now: Date = T0): GateInput {
  return {
    signal_id: rec.signal_id,
    connector: rec.connector,
    instrument: rec.instrument,
    now,
    owner: 'test-owner',
    lease_until: new Date(now.getTime() + 30_000),
    trading_day: DAY,
    order_rate_cap: 1_000,
    // Breaker steps are not what these tests are about: the decision never claims a probe.
    decide: (state) => ({ decision: typeof decide === 'function' ? decide(state) : decide, breaker: null }),
  };
}

export function result(rec: Pick<SignalRecord, 'connector' | 'client_order_id'>, fill: Fill | null, o: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    connector: rec.connector,
    client_order_id: rec.client_order_id,
    order_id: `ord-${rec.client_order_id}`,
    status: fill === null ? 'rejected' : 'filled',
    filled_quantity: fill?.quantity ?? 0,
    fill_price: fill?.price ?? null,
    ...o,
  };
}

export function finishInput(rec: SignalRecord, fill: Fill | null, o: Partial<FinishInput> = {}): FinishInput {
  return { signal_id: rec.signal_id, status: fill === null ? 'failed' : 'executed', result: result(rec, fill), fill, now: at(1), trading_day: DAY, max_daily_loss: null, ...o };
}

function order(o: Partial<Order> & Pick<Order, 'client_order_id'>): Order {
  return {
    order_id: `mock-${o.client_order_id}`,
    instrument: 'AAPL',
    side: 'buy',
    quantity: 10,
    order_type: 'market',
    limit_price: null,
    status: 'filled',
    filled_quantity: o.quantity ?? 10,
    fill_price: 100,
    ...o,
  };
}

// ── shared steps ──────────────────────────────────────────────────────────────────────────────

async function record(store: Store, o: SignalOverrides = {}): Promise<SignalRecord> {
  const outcome = await store.recordSignal(newSignal(o));
  if (outcome.kind !== 'inserted') throw new Error(`expected inserted, got ${outcome.kind}`);
  return outcome.record;
}

/** Records a signal and gates it to `executing` with the given decision. */
async function recordExecuting(store: Store, o: SignalOverrides = {}, decision: Decision = allow(), now: Date = T0): Promise<SignalRecord> {
  const rec = await record(store, o);
  const gated = await store.gateSignal(gateInput(rec, decision, now));
  if (gated.kind !== 'executing') throw new Error(`expected executing, got ${gated.kind}`);
  return gated.record;
}

/** record → gate → finish executed with the fill, the whole happy path. */
async function executeFill(store: Store, fill: Fill, o: SignalOverrides = {}, gateAt: Date = T0): Promise<SignalRecord> {
  const exit = fill.side === 'sell';
  const rec = await recordExecuting(
    store,
    { ...o, signal: { action: fill.side, quantity: fill.quantity, price: fill.price, ...o.signal } },
    allow({ side: fill.side, quantity: fill.quantity, exit, reserved_notional: exit ? 0 : fill.quantity * fill.price, reference_price: fill.price }),
    gateAt,
  );
  return (await store.finishSignal(finishInput(rec, fill))).record;
}

async function allEvents(store: Store): Promise<EventRecord[]> {
  return store.listEvents(0, 10_000);
}

// ── the suite ─────────────────────────────────────────────────────────────────────────────────

export function storeContractTests(name: string, open: () => Promise<OpenedStore>): void {
  describe(name, () => {
    let opened: OpenedStore | null = null;
    /** The fresh store of the running test. */
    const s = (): Store => must(opened, 'an open store').store;

    beforeEach(async () => {
      opened = await open();
    });
    afterEach(async () => {
      const current = opened;
      opened = null;
      if (current !== null) await current.cleanup();
    });

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
        };
        expect(outcome.record).toEqual(expected);
        expect(await s().getSignal(input.signal_id)).toEqual(expected);
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

    describe('gateSignal', () => {
      test('accepted → executing stores the decision and reserves its notional', async () => {
        const rec = await record(s());
        const decision = allow({ reserved_notional: 1000 });
        const seen: StoredGateState[] = [];
        const outcome = await s().gateSignal(
          gateInput(
            rec,
            (state) => {
              seen.push(state);
              return decision;
            },
            at(2),
          ),
        );
        if (outcome.kind !== 'executing') throw new Error(`expected executing, got ${outcome.kind}`);
        expect(outcome.decision).toEqual(decision);
        expect(outcome.record.status).toBe('executing');
        expect(outcome.record.decision).toEqual(decision);
        expect(outcome.record.updated_at).toBe(at(2).toISOString());
        expect(seen).toHaveLength(1);
        expect(seen[0]?.reserved_exposure).toBe(0);

        const stored = must(await s().getSignal(rec.signal_id), 'the stored signal');
        expect(stored.status).toBe('executing');
        expect(stored.decision).toEqual(decision);
        const ledger = await s().getLedger('mock', DAY);
        expect(ledger.reserved_exposure).toBe(1000);
        expect(ledger.positions).toEqual([]);
        expect((await s().getLedger('other', DAY)).reserved_exposure).toBe(0);
      });

      test('an allowed decision with nothing to reserve reserves nothing', async () => {
        const rec = await record(s(), { signal: { action: 'cancel' } });
        const outcome = await s().gateSignal(gateInput(rec, allow({ quantity: null, side: null, exit: true, reserved_notional: 0 })));
        expect(outcome.kind).toBe('executing');
        expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(0);
      });

      test('accepted → rejected stores the failures and reserves nothing', async () => {
        const rec = await record(s());
        const decision = reject([NOTIONAL_FAILURE, { rule: 'mode', code: 'paused', limit: 'enabled', actual: 'paused', message: 'paused' }]);
        const outcome = await s().gateSignal(gateInput(rec, decision));
        if (outcome.kind !== 'rejected') throw new Error(`expected rejected, got ${outcome.kind}`);
        expect(outcome.record.status).toBe('rejected');
        expect(outcome.decision.failures).toEqual(decision.failures);
        const stored = must(await s().getSignal(rec.signal_id), 'the stored signal');
        expect(stored.status).toBe('rejected');
        expect(stored.decision).toEqual(decision);
        expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(0);
      });

      test('a signal that is not accepted any more is skipped and keeps its first decision', async () => {
        const rec = await record(s());
        const first = allow({ reserved_notional: 1000 });
        expect((await s().gateSignal(gateInput(rec, first))).kind).toBe('executing');
        let called = false;
        const second = await s().gateSignal(
          gateInput(rec, () => {
            called = true;
            return allow({ reserved_notional: 5000 });
          }),
        );
        expect(second).toEqual({ kind: 'skipped' });
        expect(called).toBe(false);
        expect((await s().getSignal(rec.signal_id))?.decision).toEqual(first);
        expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);

        const rejected = await record(s());
        await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));
        expect(await s().gateSignal(gateInput(rejected, allow()))).toEqual({ kind: 'skipped' });
        expect((await s().getSignal(rejected.signal_id))?.status).toBe('rejected');

        expect(await s().gateSignal(gateInput({ signal_id: 'sig_missing', connector: 'mock', instrument: 'AAPL' }, allow()))).toEqual({ kind: 'skipped' });
      });

      test('the same signal gated concurrently twice is decided once', async () => {
        const rec = await record(s());
        const outcomes = await Promise.all([s().gateSignal(gateInput(rec, allow())), s().gateSignal(gateInput(rec, allow()))]);
        expect(outcomes.map((o) => o.kind).sort()).toEqual(['executing', 'skipped']);
        expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);
        expect((await s().listSignalEvents(rec.signal_id)).map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing']);
      });

      test('20 concurrent gates under a 1000 exposure cap allow exactly 10 (read + reserve is atomic)', async () => {
        const records: SignalRecord[] = [];
        // Twenty lanes: gated all at once, younger signals of a shared lane would be `blocked`.
        for (let i = 0; i < 20; i += 1) records.push(await record(s()));
        const cap = (state: StoredGateState): Decision =>
          state.reserved_exposure + 100 <= 1000
            ? allow({ quantity: 1, reserved_notional: 100 })
            : reject([{ rule: 'max_gross_exposure', limit: 1000, actual: state.reserved_exposure + 100, message: 'over the cap' }]);
        const outcomes = await Promise.all(records.map((r) => s().gateSignal(gateInput(r, cap))));
        expect(outcomes.filter((o) => o.kind === 'executing')).toHaveLength(10);
        const rejected = outcomes.filter((o) => o.kind === 'rejected');
        expect(rejected).toHaveLength(10);
        // Every refused gate saw the full 1000 already reserved by the ten that passed.
        for (const o of rejected) {
          if (o.kind === 'rejected') expect(o.decision.failures[0]?.actual).toBe(1100);
        }
        expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);
        expect((await s().listSignals({ status: 'executing', limit: 100 })).items).toHaveLength(10);
      });

      test('the decide callback reads the stored state: mode, position, prices, exposure, reservations, PnL, order rate', async () => {
        await s().setMode('exit_only', 'test', 'tester', T0);
        // Decided two minutes ago: outside the order-rate window.
        await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' }, at(-120));
        await executeFill(s(), { side: 'sell', quantity: 4, price: 110 }, { instrument: 'AAPL' });
        await recordExecuting(s(), { instrument: 'AAPL' }, allow({ quantity: 3, reserved_notional: 300 }));
        // An exit reserves no notional but is still pending quantity.
        await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 2 } }, allow({ side: 'sell', quantity: 2, exit: true, reserved_notional: 0 }));
        await recordExecuting(s(), { instrument: 'MSFT' }, allow({ quantity: 5, reserved_notional: 500 }));
        await s().gateSignal(gateInput(await record(s()), reject([NOTIONAL_FAILURE])));

        const probe = await record(s(), { instrument: 'AAPL' });
        let seen: StoredGateState | null = null;
        await s().gateSignal(
          gateInput(
            probe,
            (state) => {
              seen = state;
              return reject([NOTIONAL_FAILURE]);
            },
            at(1),
          ),
        );
        const expected: Partial<StoredGateState> = {
          mode: 'exit_only',
          position: 6,
          // +3 bought, -2 sold, both decided and unsettled.
          pending_quantity: 1,
          last_price: 110,
          gross_exposure: 660,
          reserved_exposure: 800,
          reserved_instrument: 300,
          realized_pnl_today: 40,
          // The sell of 4 and the three unsettled orders; not the old buy, not the rejection.
          orders_last_minute: 4,
        };
        expect(seen).toMatchObject(expected);

        // The count is bounded: one past the cap at most, and nothing counted without a cap.
        const counted = async (cap: number | null): Promise<number> => {
          let n = -1;
          await s().gateSignal({
            ...gateInput(await record(s(), { instrument: 'AAPL' }), reject([NOTIONAL_FAILURE]), at(1)),
            order_rate_cap: cap,
            decide: (state) => {
              n = state.orders_last_minute;
              return { decision: reject([NOTIONAL_FAILURE]), breaker: null };
            },
          });
          return n;
        };
        expect(await counted(2)).toBe(3);
        expect(await counted(10)).toBe(4);
        expect(await counted(null)).toBe(0);
      });
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
      test('a younger signal is blocked while an older one of its lane is accepted; other lanes are not', async () => {
        const older = await record(s(), { instrument: 'AAPL' });
        const younger = await record(s(), { instrument: 'AAPL' });
        const otherInstrument = await record(s(), { instrument: 'MSFT' });
        const otherConnector = await record(s(), { instrument: 'AAPL', connector: 'alpaca' });

        let called = false;
        const blocked = await s().gateSignal(
          gateInput(younger, () => {
            called = true;
            return allow();
          }),
        );
        expect(blocked).toEqual({ kind: 'blocked', by: older.signal_id });
        // Blocked decides nothing and writes nothing.
        expect(called).toBe(false);
        expect(await s().getSignal(younger.signal_id)).toEqual(younger);
        expect((await s().listSignalEvents(younger.signal_id)).map((e) => e.type)).toEqual(['signal.accepted']);
        expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(0);

        // Another instrument of the connector, and the same instrument at another connector, are other lanes.
        expect((await s().gateSignal(gateInput(otherInstrument, allow()))).kind).toBe('executing');
        expect((await s().gateSignal(gateInput(otherConnector, allow()))).kind).toBe('executing');

        // Once the older one is decided (executing is not waiting any more), the younger one goes.
        expect((await s().gateSignal(gateInput(older, allow()))).kind).toBe('executing');
        expect((await s().gateSignal(gateInput(younger, allow()))).kind).toBe('executing');
      });

      test('the oldest accepted signal of the lane is the one that blocks', async () => {
        const first = await record(s(), { instrument: 'AAPL' });
        const second = await record(s(), { instrument: 'AAPL' });
        const third = await record(s(), { instrument: 'AAPL' });
        expect(await s().gateSignal(gateInput(third, allow()))).toEqual({ kind: 'blocked', by: first.signal_id });
        // A rejected signal does not block any more; the next accepted one does.
        expect((await s().gateSignal(gateInput(first, reject([NOTIONAL_FAILURE])))).kind).toBe('rejected');
        expect(await s().gateSignal(gateInput(third, allow()))).toEqual({ kind: 'blocked', by: second.signal_id });
        expect((await s().gateSignal(gateInput(second, allow()))).kind).toBe('executing');
        expect((await s().gateSignal(gateInput(third, allow()))).kind).toBe('executing');
      });
    });

    describe('attempts', () => {
      test('listAttempts returns the signal’s attempts in order with their fields', async () => {
        const rec = await recordExecuting(s());
        const other = await recordExecuting(s());
        await s().recordAttempt(rec.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'timeout', error: 'timed out after 10000 ms' });
        await s().recordAttempt(other.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'filled', error: null });
        await s().recordAttempt(rec.signal_id, { n: 2, at: at(2).toISOString(), outcome: 'http_503', error: 'service unavailable' });
        await s().recordAttempt(rec.signal_id, { n: 3, at: at(4).toISOString(), outcome: 'filled', error: null });

        expect(await s().listAttempts(rec.signal_id)).toEqual([
          { n: 1, at: at(1).toISOString(), outcome: 'timeout', error: 'timed out after 10000 ms' },
          { n: 2, at: at(2).toISOString(), outcome: 'http_503', error: 'service unavailable' },
          { n: 3, at: at(4).toISOString(), outcome: 'filled', error: null },
        ]);
        expect(await s().listAttempts(other.signal_id)).toEqual([{ n: 1, at: at(1).toISOString(), outcome: 'filled', error: null }]);
        expect(await s().listAttempts('sig_missing')).toEqual([]);
      });
    });

    describe('finishSignal', () => {
      test('executed with a fill books the position and releases the reservation', async () => {
        const rec = await recordExecuting(s(), { instrument: 'AAPL' }, allow({ reserved_notional: 1000 }));
        expect((await s().getLedger('mock', DAY)).reserved_exposure).toBe(1000);
        const fill: Fill = { side: 'buy', quantity: 10, price: 100 };
        const res = result(rec, fill);
        const outcome = await s().finishSignal(finishInput(rec, fill, { now: at(3) }));
        expect(outcome.realized_pnl_today).toBe(0);
        expect(outcome.record.status).toBe('executed');
        expect(outcome.record.result).toEqual(res);
        expect(outcome.record.updated_at).toBe(at(3).toISOString());
        expect((await s().getSignal(rec.signal_id))?.result).toEqual(res);
        expect(await s().getLedger('mock', DAY)).toEqual({
          positions: [{ instrument: 'AAPL', quantity: 10, avg_price: 100, last_price: 100 }],
          gross_exposure: 1000,
          reserved_exposure: 0,
          realized_pnl_today: 0,
        });
      });

      test('adding moves the average price; a reducing fill realizes PnL against it', async () => {
        await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
        await executeFill(s(), { side: 'buy', quantity: 10, price: 120 }, { instrument: 'AAPL' });
        let ledger = await s().getLedger('mock', DAY);
        expect(ledger.positions).toEqual([{ instrument: 'AAPL', quantity: 20, avg_price: 110, last_price: 120 }]);

        const sell = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 4 } }, allow({ side: 'sell', quantity: 4, exit: true, reserved_notional: 0 }));
        const outcome = await s().finishSignal(finishInput(sell, { side: 'sell', quantity: 4, price: 130 }));
        expect(outcome.realized_pnl_today).toBe(80);
        ledger = await s().getLedger('mock', DAY);
        expect(ledger.positions).toEqual([{ instrument: 'AAPL', quantity: 16, avg_price: 110, last_price: 130 }]);
        expect(ledger.realized_pnl_today).toBe(80);
        expect(ledger.gross_exposure).toBe(16 * 130);
        // Realized PnL belongs to its trading day.
        expect((await s().getLedger('mock', '2026-11-24')).realized_pnl_today).toBe(0);
        // Positions are per connector.
        expect((await s().getLedger('alpaca', DAY)).positions).toEqual([]);
      });

      test('closing the whole position realizes PnL and leaves no position', async () => {
        await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
        await executeFill(s(), { side: 'sell', quantity: 10, price: 95 }, { instrument: 'AAPL' });
        const ledger = await s().getLedger('mock', DAY);
        expect(ledger.positions).toEqual([]);
        expect(ledger.gross_exposure).toBe(0);
        expect(ledger.realized_pnl_today).toBe(-50);
      });

      test('a losing fill that breaches max_daily_loss switches the mode in the same step, once', async () => {
        await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
        const sell = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 10 } }, allow({ side: 'sell', quantity: 10, exit: true, reserved_notional: 0 }));
        const outcome = await s().finishSignal(finishInput(sell, { side: 'sell', quantity: 10, price: 90 }, { max_daily_loss: 50 }));
        expect(outcome.realized_pnl_today).toBe(-100);
        expect(outcome.mode_changed).toMatchObject({ mode: 'exit_only', reason: 'daily_loss' });
        expect((await s().getMode()).mode).toBe('exit_only');
        const types = (await allEvents(s())).map((e) => e.type);
        expect(types.slice(-2)).toEqual(['signal.executed', 'mode.changed']);
      });

      test('the daily-loss switch leaves a mode other than enabled alone, and a gain never switches', async () => {
        await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
        await s().setMode('paused', 'operator', 'admin', at(1));
        const sell = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 5 } }, allow({ side: 'sell', quantity: 5, exit: true, reserved_notional: 0 }));
        const loss = await s().finishSignal(finishInput(sell, { side: 'sell', quantity: 5, price: 80 }, { max_daily_loss: 10 }));
        expect(loss.mode_changed).toBeNull();
        expect((await s().getMode()).mode).toBe('paused');
        await s().setMode('enabled', 'operator', 'admin', at(2));
        const gain = await recordExecuting(s(), { instrument: 'AAPL', signal: { action: 'sell', quantity: 5 } }, allow({ side: 'sell', quantity: 5, exit: true, reserved_notional: 0 }));
        const won = await s().finishSignal(finishInput(gain, { side: 'sell', quantity: 5, price: 101 }, { max_daily_loss: 10 }));
        expect(won.realized_pnl_today).toBe(-95);
        expect(won.mode_changed).toBeNull();
        expect((await s().getMode()).mode).toBe('enabled');
      });

      test('failed without a fill books nothing and releases the reservation', async () => {
        const rec = await recordExecuting(s(), {}, allow({ reserved_notional: 1000 }));
        const outcome = await s().finishSignal(finishInput(rec, null, { result: result(rec, null, { error: 'insufficient buying power' }) }));
        expect(outcome.record.status).toBe('failed');
        expect(outcome.record.result?.error).toBe('insufficient buying power');
        expect(await s().getLedger('mock', DAY)).toEqual({ positions: [], gross_exposure: 0, reserved_exposure: 0, realized_pnl_today: 0 });
      });

      test('a second finish is a no-op that returns the first result', async () => {
        const rec = await recordExecuting(s(), { instrument: 'AAPL' });
        const fill: Fill = { side: 'buy', quantity: 10, price: 100 };
        const first = await s().finishSignal(finishInput(rec, fill));
        const second = await s().finishSignal(
          finishInput(rec, { side: 'buy', quantity: 5, price: 90 }, { status: 'failed', now: at(9) }),
        );
        expect(second.record).toEqual(first.record);
        expect(second.record.status).toBe('executed');
        expect(second.record.result).toEqual(result(rec, fill));
        expect((await s().getLedger('mock', DAY)).positions).toEqual([{ instrument: 'AAPL', quantity: 10, avg_price: 100, last_price: 100 }]);
        expect((await s().listSignalEvents(rec.signal_id)).map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing', 'signal.executed']);
      });

      test('finishing an unknown signal throws and writes nothing', async () => {
        await expect(
          s().finishSignal({ signal_id: 'sig_missing', status: 'executed', result: result({ connector: 'mock', client_order_id: 'x' }, null), fill: null, now: T0, trading_day: DAY, max_daily_loss: null }),
        ).rejects.toThrow();
        expect(await allEvents(s())).toEqual([]);
      });
    });

    describe('leases', () => {
      test('the gate leases an executing signal to its owner; renewLeases extends only the owner’s executing signals', async () => {
        const mine = await recordExecuting(s());
        const theirs = await record(s());
        expect((await s().gateSignal({ ...gateInput(theirs, allow()), owner: 'other-owner' })).kind).toBe('executing');
        const waiting = await record(s());
        const rejected = await record(s());
        await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));

        const ids = [mine.signal_id, theirs.signal_id, waiting.signal_id, rejected.signal_id, 'sig_missing'];
        expect(await s().renewLeases('test-owner', ids, at(300))).toBe(1);
        expect(await s().renewLeases('test-owner', [], at(300))).toBe(0);
        expect(await s().renewLeases('nobody', ids, at(300))).toBe(0);

        // Both leases ran to T0+30; only `mine` was extended, so only `theirs` has expired at T0+60.
        const claimed = await s().claimExpired('rescuer', at(60), at(400), 10);
        expect(claimed.map((r) => r.signal_id)).toEqual([theirs.signal_id]);
        expect(claimed[0]?.status).toBe('executing');
      });

      test('claimExpired takes only expired leases, oldest first, bounded by limit, and makes them the claimer’s', async () => {
        const a = await recordExecuting(s(), {}, allow(), T0); // lease until T0+30
        const b = await recordExecuting(s(), {}, allow(), at(10)); // until T0+40
        const c = await recordExecuting(s(), {}, allow(), at(100)); // until T0+130
        await record(s()); // accepted: no lease

        // A lease is expired strictly after its time.
        expect(await s().claimExpired('r1', at(30), at(500), 10)).toEqual([]);
        const first = await s().claimExpired('r1', at(60), at(500), 1);
        expect(first.map((r) => r.signal_id)).toEqual([a.signal_id]);
        expect(first[0]).toEqual(a);
        expect((await s().claimExpired('r2', at(60), at(500), 10)).map((r) => r.signal_id)).toEqual([b.signal_id]);
        expect(await s().claimExpired('r3', at(60), at(500), 10)).toEqual([]);

        // The claimed lease is the claimer's now: the old owner cannot renew it, the new one can.
        expect(await s().renewLeases('test-owner', [a.signal_id, b.signal_id, c.signal_id], at(600))).toBe(1);
        expect(await s().renewLeases('r1', [a.signal_id, b.signal_id], at(600))).toBe(1);
        expect(await s().renewLeases('r2', [b.signal_id], at(600))).toBe(1);
        expect(await s().claimExpired('r3', at(550), at(900), 10)).toEqual([]);
      });

      test('5 concurrent claimers take every expired signal exactly once', async () => {
        const expired: string[] = [];
        for (let i = 0; i < 10; i += 1) expired.push((await recordExecuting(s())).signal_id);
        const claims = await Promise.all(Array.from({ length: 5 }, (_, i) => s().claimExpired(`claimer-${i}`, at(60), at(600), 4)));
        const ids = claims.flat().map((r) => r.signal_id);
        expect(ids).toHaveLength(10);
        expect([...ids].sort()).toEqual([...expired].sort());
        // Each claimer got its own in seq order.
        for (const claim of claims) {
          const order = claim.map((r) => expired.indexOf(r.signal_id));
          expect(order).toEqual([...order].sort((x, y) => x - y));
        }
      });

      test('finishing a signal clears its lease', async () => {
        const rec = await recordExecuting(s());
        await s().finishSignal(finishInput(rec, null));
        expect(await s().renewLeases('test-owner', [rec.signal_id], at(100))).toBe(0);
        expect(await s().claimExpired('rescuer', at(10_000), at(20_000), 10)).toEqual([]);
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

    describe('mode', () => {
      test('a fresh store is enabled', async () => {
        expect((await s().getMode()).mode).toBe('enabled');
      });

      test('initMode writes only when no mode is stored', async () => {
        const first = await s().initMode('exit_only', T0);
        expect(first.mode).toBe('exit_only');
        expect(first.changed_at).toBe(T0.toISOString());
        const second = await s().initMode('paused', at(60));
        expect(second).toEqual(first);
        expect(await s().getMode()).toEqual(first);
        const events = await allEvents(s());
        expect(events.map((e) => e.type)).toEqual(['mode.changed']);
        expect(events[0]?.data).toMatchObject({ from: null, to: 'exit_only' });
      });

      test('setMode stores the mode, and the same mode and reason again appends no event', async () => {
        const paused = await s().setMode('paused', 'maintenance', 'admin', at(10));
        expect(paused).toEqual({ mode: 'paused', reason: 'maintenance', changed_at: at(10).toISOString() });
        expect(await s().getMode()).toEqual(paused);

        const same = await s().setMode('paused', 'maintenance', 'admin', at(20));
        expect(same).toEqual(paused);
        expect((await allEvents(s())).length).toBe(1);

        const otherReason = await s().setMode('paused', 'still maintenance', 'admin', at(30));
        expect(otherReason.changed_at).toBe(at(30).toISOString());
        const enabled = await s().setMode('enabled', null, 'admin', at(40));
        expect(await s().getMode()).toEqual(enabled);

        // initMode never overrides a stored mode.
        expect(await s().initMode('exit_only', at(50))).toEqual(enabled);

        const events = await allEvents(s());
        expect(events.map((e) => e.type)).toEqual(['mode.changed', 'mode.changed', 'mode.changed']);
        expect(events.map((e) => e.data)).toEqual([
          { from: null, to: 'paused', reason: 'maintenance', actor: 'admin' },
          { from: 'paused', to: 'paused', reason: 'still maintenance', actor: 'admin' },
          { from: 'paused', to: 'enabled', reason: null, actor: 'admin' },
        ]);
        expect(events.every((e) => e.signal_id === null)).toBe(true);
      });
    });

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
        const rejection = must(events[5], 'the rejection event');
        expect(rejection.data).toEqual({ decision: reject([NOTIONAL_FAILURE]) });
      });

      test('cursors: null until set, then the stored offset; lastEventSeq is the head', async () => {
        expect(await s().getCursor('alerts')).toBeNull();
        expect(await s().lastEventSeq()).toBe(0);
        await s().setCursor('alerts', 5);
        expect(await s().getCursor('alerts')).toBe(5);
        await s().setCursor('alerts', 7);
        expect(await s().getCursor('alerts')).toBe(7);
        expect(await s().getCursor('other')).toBeNull();
        // Cursors are not events.
        expect(await allEvents(s())).toEqual([]);
        for (let i = 0; i < 3; i += 1) await s().appendEvent({ type: 'probe', data: { i } });
        expect(await s().lastEventSeq()).toBe(3);
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
    });

    describe('breakers', () => {
      test('a fresh store has no stored breaker', async () => {
        expect(await s().getBreakers()).toEqual({});
      });

      test('updateBreaker reads, steps and stores one connector’s breaker; transitions are logged', async () => {
        const fail = (current: BreakerState) => onFailure(current, at(1), { failure_threshold: 2 });
        expect(await s().updateBreaker('alpaca', fail, at(1), 'timeout')).toEqual({ state: 'closed', consecutive_failures: 1 });
        const opened = await s().updateBreaker('alpaca', fail, at(1), 'timeout');
        expect(opened).toEqual({ state: 'open', consecutive_failures: 2, opened_at: at(1).toISOString() });
        expect(await s().getBreakers()).toEqual({ alpaca: opened });
        // An exit's success does not close an open breaker; a reset does.
        expect(await s().updateBreaker('alpaca', (c) => onSuccess(c, at(2)), at(2), 'exit filled')).toEqual(opened);
        expect(await s().updateBreaker('alpaca', (c) => resetBreaker(c), at(3), 'operator')).toEqual({ state: 'closed', consecutive_failures: 0 });
        await s().updateBreaker('mock', (c) => tripBreaker(c, at(4)), at(4), 'account blocked');

        expect(await s().getBreakers()).toEqual({
          alpaca: { state: 'closed', consecutive_failures: 0 },
          mock: { state: 'open', consecutive_failures: 0, opened_at: at(4).toISOString() },
        });
        const events = await allEvents(s());
        expect(events.map((e) => [e.type, e.data.connector, e.data.reason])).toEqual([
          ['breaker.opened', 'alpaca', 'timeout'],
          ['breaker.closed', 'alpaca', 'operator'],
          ['breaker.opened', 'mock', 'account blocked'],
        ]);
        expect(await verifyAuditChain(s())).toMatchObject({ ok: true, entries: 3 });
      });

      test('20 concurrent failures are all counted (read-modify-write is atomic)', async () => {
        await Promise.all(Array.from({ length: 20 }, () => s().updateBreaker('mock', (c) => onFailure(c, T0, { failure_threshold: 100 }), T0, 'timeout')));
        expect((await s().getBreakers()).mock).toEqual({ state: 'closed', consecutive_failures: 20 });
      });

      test('the gate sees the stored breaker and stores the step its decision returns, in order', async () => {
        const opened = await s().updateBreaker('mock', (c) => tripBreaker(c, T0), T0, 'blocked');
        const rec = await record(s());
        const probe: BreakerState = { state: 'half_open', consecutive_failures: 0, opened_at: T0.toISOString(), probe_started_at: at(60).toISOString() };
        const seen: BreakerState[] = [];
        const outcome = await s().gateSignal({
          ...gateInput(rec, allow(), at(60)),
          decide: (_state, breaker) => {
            seen.push(breaker);
            return { decision: allow(), breaker: { next: probe, transition: 'half_opened' } };
          },
        });
        expect(outcome.kind).toBe('executing');
        expect(seen).toEqual([opened]);
        expect((await s().getBreakers()).mock).toEqual(probe);
        expect((await allEvents(s())).map((e) => e.type)).toEqual(['breaker.opened', 'signal.accepted', 'breaker.half_opened', 'signal.executing']);
      });
    });

    describe('reconciliation', () => {
      test('countExecuting counts the connector’s signals in executing only', async () => {
        await recordExecuting(s());
        await recordExecuting(s());
        await recordExecuting(s(), { connector: 'alpaca' });
        await record(s());
        const done = await recordExecuting(s());
        await s().finishSignal(finishInput(done, null));
        expect(await s().countExecuting('mock')).toBe(2);
        expect(await s().countExecuting('alpaca')).toBe(1);
        expect(await s().countExecuting('http')).toBe(0);
      });

      test('listInstruments lists what the connector traded or has in flight, sorted', async () => {
        await executeFill(s(), { side: 'buy', quantity: 3, price: 20 }, { instrument: 'TSLA' });
        await record(s(), { instrument: 'AAPL' });
        await recordExecuting(s(), { instrument: 'MSFT' });
        await recordExecuting(s(), { instrument: 'MSFT' });
        const failed = await recordExecuting(s(), { instrument: 'NFLX' });
        await s().finishSignal(finishInput(failed, null));
        const rejected = await record(s(), { instrument: 'ZM' });
        await s().gateSignal(gateInput(rejected, reject([NOTIONAL_FAILURE])));
        await record(s(), { instrument: 'GOOG', connector: 'alpaca' });

        expect(await s().listInstruments('mock')).toEqual(['AAPL', 'MSFT', 'TSLA']);
        expect(await s().listInstruments('alpaca')).toEqual(['GOOG']);
        expect(await s().listInstruments('http')).toEqual([]);
      });

      test('reconcilePositions adopts the connector’s positions, returns the drift and logs it once', async () => {
        await executeFill(s(), { side: 'buy', quantity: 10, price: 100 }, { instrument: 'AAPL' });
        await executeFill(s(), { side: 'buy', quantity: 3, price: 20 }, { instrument: 'TSLA' });
        const reported = [
          { instrument: 'AAPL', quantity: 8, avg_price: 101 },
          { instrument: 'MSFT', quantity: -5, avg_price: 50 },
        ];
        const drift = await s().reconcilePositions('mock', reported, at(10));
        expect(drift).toEqual([
          { instrument: 'AAPL', ledger: 10, connector: 8 },
          { instrument: 'MSFT', ledger: 0, connector: -5 },
          { instrument: 'TSLA', ledger: 3, connector: 0 },
        ]);
        const ledger = await s().getLedger('mock', DAY);
        expect(ledger.positions.map(({ instrument, quantity, avg_price }) => ({ instrument, quantity, avg_price }))).toEqual(reported);

        expect(await s().reconcilePositions('mock', reported, at(20))).toEqual([]);
        const drifts = (await allEvents(s())).filter((e) => e.type === 'positions.drift');
        expect(drifts.map((e) => e.data)).toEqual([{ connector: 'mock', drift }]);
      });
    });

    describe('nonces', () => {
      test('a nonce is new, then a replay, then new again after it expired; per source', async () => {
        const expires = at(300);
        expect(await s().rememberNonce('tv', 'nonce-1', expires, T0)).toBe(true);
        expect(await s().rememberNonce('tv', 'nonce-1', expires, at(10))).toBe(false);
        expect(await s().rememberNonce('tv', 'nonce-1', at(400), at(299))).toBe(false);
        expect(await s().rememberNonce('internal', 'nonce-1', expires, at(10))).toBe(true);
        expect(await s().rememberNonce('tv', 'nonce-2', expires, at(10))).toBe(true);
        expect(await s().rememberNonce('tv', 'nonce-1', at(700), at(301))).toBe(true);
        expect(await s().rememberNonce('tv', 'nonce-1', at(700), at(302))).toBe(false);
      });
    });

    describe('refused deliveries', () => {
      const delivery = (i: number): RefusedDelivery => ({
        at: at(i).toISOString(),
        source: i % 2 === 0 ? 'tv' : 'internal',
        reason: `reason-${i}`,
        issues: i % 2 === 0 ? [{ path: 'quantity', message: 'expected a positive number' }] : [],
        request_id: `req-${i}`,
        body_excerpt: `{"n":${i}}`,
      });

      test('only the newest `keep` are retained, newest first, with cursor pagination', async () => {
        for (let i = 1; i <= 6; i += 1) await s().recordRefusedDelivery(delivery(i), 4);
        const all = await s().listRefusedDeliveries(100);
        expect(all).toEqual({ items: [delivery(6), delivery(5), delivery(4), delivery(3)], next_cursor: null });

        const first = await s().listRefusedDeliveries(3);
        expect(first.items.map((d) => d.reason)).toEqual(['reason-6', 'reason-5', 'reason-4']);
        const cursor = must(first.next_cursor, 'a cursor to the next page');
        const second = await s().listRefusedDeliveries(3, cursor);
        expect(second).toEqual({ items: [delivery(3)], next_cursor: null });
      });
    });

    describe('mock broker store', () => {
      test('placeOrder creates once; the same client_order_id returns the first order', async () => {
        const first = order({ client_order_id: 'tv-k1', quantity: 10, fill_price: 100 });
        expect(await s().mock.placeOrder('mock', first, T0)).toEqual({ created: true, order: first });
        const again = await s().mock.placeOrder('mock', order({ client_order_id: 'tv-k1', quantity: 99, fill_price: 1, order_id: 'other' }), at(1));
        expect(again).toEqual({ created: false, order: first });
        expect(await s().mock.getOrder('mock', 'tv-k1')).toEqual(first);
        expect(await s().mock.getOrder('mock', 'tv-nope')).toBeNull();
        // Another connector has its own books.
        expect((await s().mock.placeOrder('mock2', first, T0)).created).toBe(true);
        expect(await s().mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 10, avg_price: 100 }]);
      });

      test('positions follow fills: buy 10 @ 100, sell 4 @ 110', async () => {
        await s().mock.placeOrder('mock', order({ client_order_id: 'b1', side: 'buy', quantity: 10, fill_price: 100 }), T0);
        await s().mock.placeOrder('mock', order({ client_order_id: 's1', side: 'sell', quantity: 4, fill_price: 110 }), at(1));
        // An order that did not fill moves nothing.
        await s().mock.placeOrder('mock', order({ client_order_id: 'l1', order_type: 'limit', limit_price: 50, status: 'new', filled_quantity: 0, fill_price: null }), at(2));
        expect(await s().mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 6, avg_price: 100 }]);

        await s().mock.placeOrder('mock', order({ client_order_id: 's2', side: 'sell', quantity: 6, fill_price: 120 }), at(3));
        expect(await s().mock.getPositions('mock')).toEqual([]);
        expect(await s().mock.getPositions('unknown')).toEqual([]);
      });

      test('cancelOpenOrders cancels and counts only the instrument’s open orders', async () => {
        const open = { status: 'new', filled_quantity: 0, fill_price: null, order_type: 'limit', limit_price: 50 } as const;
        await s().mock.placeOrder('mock', order({ client_order_id: 'o1', ...open }), T0);
        await s().mock.placeOrder('mock', order({ client_order_id: 'o2', ...open, status: 'accepted' }), at(1));
        await s().mock.placeOrder('mock', order({ client_order_id: 'o3', status: 'filled' }), at(2));
        await s().mock.placeOrder('mock', order({ client_order_id: 'o4', ...open, instrument: 'MSFT' }), at(3));
        await s().mock.placeOrder('mock', order({ client_order_id: 'o5', ...open, status: 'rejected' }), at(4));

        expect(await s().mock.cancelOpenOrders('mock', 'AAPL')).toBe(2);
        const status = async (id: string): Promise<string | undefined> => (await s().mock.getOrder('mock', id))?.status;
        expect([await status('o1'), await status('o2'), await status('o3'), await status('o4'), await status('o5')]).toEqual([
          'canceled',
          'canceled',
          'filled',
          'new',
          'rejected',
        ]);
        expect(await s().mock.cancelOpenOrders('mock', 'AAPL')).toBe(0);
        expect(await s().mock.cancelOpenOrders('other', 'MSFT')).toBe(0);
      });

      test('listOrders is newest first, bounded by limit, per connector', async () => {
        await s().mock.placeOrder('mock', order({ client_order_id: 'first' }), T0);
        await s().mock.placeOrder('mock', order({ client_order_id: 'second', side: 'sell', quantity: 2 }), at(1));
        await s().mock.placeOrder('mock', order({ client_order_id: 'third', quantity: 3 }), at(2));
        await s().mock.placeOrder('mock2', order({ client_order_id: 'elsewhere' }), at(3));

        const listed = (await s().mock.listOrders('mock', 10)).items;
        expect(listed.map((o) => [o.client_order_id, o.created_at])).toEqual([
          ['third', at(2).toISOString()],
          ['second', at(1).toISOString()],
          ['first', T0.toISOString()],
        ]);
        expect(listed[1]).toEqual({ ...order({ client_order_id: 'second', side: 'sell', quantity: 2 }), created_at: at(1).toISOString() });
        const firstPage = await s().mock.listOrders('mock', 2);
        expect(firstPage.items.map((o) => o.client_order_id)).toEqual(['third', 'second']);
        // The next page continues exactly after the last one.
        const second = await s().mock.listOrders('mock', 2, firstPage.next_cursor ?? undefined);
        expect(second).toEqual({ items: [expect.objectContaining({ client_order_id: 'first' })], next_cursor: null });
      });

      test('listOrders pages orders of the same millisecond without skipping or repeating', async () => {
        for (const id of ['a', 'b', 'c', 'd', 'e']) await s().mock.placeOrder('mock', order({ client_order_id: id }), T0);
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let i = 0; i < 5; i += 1) {
          const page = await s().mock.listOrders('mock', 2, cursor);
          seen.push(...page.items.map((o) => o.client_order_id));
          if (page.next_cursor === null) break;
          cursor = page.next_cursor;
        }
        expect(seen).toEqual(['e', 'd', 'c', 'b', 'a']);
      });
    });
  });
}
