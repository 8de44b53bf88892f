/**
 * The executor on a real SQLite store with a connector scripted per call (harness.ts): what a
 * signal ends as for each way the connector answers, the breaker, recovery at start, lanes and
 * their bound, waiters, stopping, and a store failure in the middle of a signal. Time, random and
 * backoff sleeps are injected: no backoff is waited out, and no assertion depends on how long
 * anything took.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { backoffDelay } from '../../src/domain/backoff.js';
import type { Decision } from '../../src/domain/types.js';
import type { SignalRecord, Store } from '../../src/store/store.js';
import { DAY, T0, must, openHarness, removeHarnessDirs, until, type Harness, type Step } from './harness.js';

let open: Harness[] = [];

async function harness(...args: Parameters<typeof openHarness>): Promise<Harness> {
  const h = await openHarness(...args);
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open) await h.close();
  open = [];
  removeHarnessDirs();
});

async function attempts(store: Store, signalId: string): Promise<Array<{ n: number; outcome: string; error: string | null }>> {
  return (await store.listAttempts(signalId)).map(({ n, outcome, error }) => ({ n, outcome, error }));
}

async function positions(store: Store): Promise<Array<{ instrument: string; quantity: number }>> {
  return (await store.getLedger('broker', DAY)).positions.map(({ instrument, quantity }) => ({ instrument, quantity }));
}

async function statusOf(store: Store, signalId: string): Promise<string> {
  return must(await store.getSignal(signalId), signalId).status;
}

async function breaker(store: Store): Promise<{ state: string; consecutive_failures: number }> {
  const b = (await store.getBreakers())['broker'] ?? { state: 'closed', consecutive_failures: 0 };
  return { state: b.state, consecutive_failures: b.consecutive_failures };
}

/** Submits a signal whose placement the connector holds, once the order is out. */
async function holdInFlight(h: Harness, instrument = 'AAPL'): Promise<SignalRecord> {
  h.connector.hold();
  const record = await h.accept({ instrument });
  h.executor.submit(record);
  await until(() => h.connector.inFlight.includes(instrument), 'the order in flight');
  return record;
}

/** A few timer turns: long enough for anything that was going to happen next to happen. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('one signal, each way the connector answers', () => {
  test('placed and filled: executed, the fill booked, the reservation released', async () => {
    const h = await harness();
    await h.executor.start();
    const record = await h.accept({ instrument: 'AAPL', quantity: 10, price: 100 });
    const final = await h.run(record);

    expect(final).toEqual(await h.store.getSignal(record.signal_id));
    expect(final.status).toBe('executed');
    expect(final.result).toEqual({ connector: 'broker', client_order_id: record.client_order_id, order_id: 'broker-1', status: 'filled', filled_quantity: 10, fill_price: 100 });
    expect(await attempts(h.store, record.signal_id)).toEqual([{ n: 1, outcome: 'ok', error: null }]);
    const ledger = await h.store.getLedger('broker', DAY);
    expect(ledger.positions).toEqual([expect.objectContaining({ instrument: 'AAPL', quantity: 10, avg_price: 100 })]);
    expect(ledger.reserved_exposure).toBe(0);
    expect(h.connector.calls).toEqual([{ op: 'place', key: record.client_order_id }]);
  });

  test('a permanent refusal: failed with the broker’s message, nothing booked, tried once', async () => {
    const h = await harness();
    await h.executor.start();
    h.connector.script({ kind: 'permanent', reason: 'insufficient buying power' });
    const record = await h.accept({ instrument: 'AAPL' });
    const final = await h.run(record);

    expect(final.status).toBe('failed');
    expect(final.result).toMatchObject({ status: 'error', order_id: null, error: 'insufficient buying power' });
    expect(await attempts(h.store, record.signal_id)).toEqual([{ n: 1, outcome: 'permanent', error: 'insufficient buying power' }]);
    expect(await positions(h.store)).toEqual([]);
    expect((await h.store.getLedger('broker', DAY)).reserved_exposure).toBe(0);
    expect(h.sleeps).toEqual([]);
    // A refusal is an answer from a working broker: no strike against the breaker.
    expect(await breaker(h.store)).toEqual({ state: 'closed', consecutive_failures: 0 });
    expect(h.errors).toContainEqual({ component: 'connector:broker', message: 'insufficient buying power' });
  });

  test('transient failures, then success: executed, attempts numbered, backoff between them', async () => {
    const h = await harness();
    await h.executor.start();
    h.connector.script({ kind: 'transient' }, { kind: 'transient' }, { kind: 'ok' });
    const record = await h.accept({ instrument: 'AAPL' });
    const final = await h.run(record);

    expect(final.status).toBe('executed');
    expect(await attempts(h.store, record.signal_id)).toEqual([
      { n: 1, outcome: 'retryable', error: '503 service unavailable' },
      { n: 2, outcome: 'retryable', error: '503 service unavailable' },
      { n: 3, outcome: 'ok', error: null },
    ]);
    expect(h.connector.placedFor(record.client_order_id)).toHaveLength(3);
    const { backoff } = h.config.execution;
    expect(h.sleeps).toEqual([backoffDelay(1, backoff, () => 0.5), backoffDelay(2, backoff, () => 0.5)]);
    expect(await breaker(h.store)).toEqual({ state: 'closed', consecutive_failures: 0 });
  });

  const answered: Array<{ name: string; step: Step; status: string; result: Record<string, unknown> }> = [
    {
      name: 'the broker answers with a rejected order: failed, nothing booked',
      step: { kind: 'ok', status: 'rejected' },
      status: 'failed',
      result: { status: 'rejected', filled_quantity: 0, fill_price: null },
    },
    {
      name: 'the broker reports a fill without a price: executed as reported, not booked, the order kept open',
      step: { kind: 'ok', status: 'filled', filled: 10, price: null },
      status: 'executed',
      result: { status: 'filled', filled_quantity: 10, fill_price: null },
    },
  ];
  for (const c of answered) {
    test(c.name, async () => {
      const h = await harness();
      await h.executor.start();
      h.connector.script(c.step);
      const record = await h.accept({ instrument: 'AAPL' });
      const final = await h.run(record);

      expect(final.status).toBe(c.status);
      expect(final.result).toMatchObject(c.result);
      expect(await positions(h.store)).toEqual([]);
      if (c.result['fill_price'] === null && Number(c.result['filled_quantity']) > 0) {
        // A fill that cannot be booked keeps its order open (and reserved) until a usable report books it.
        expect((await h.store.openOrders('broker')).map((o) => o.status)).toEqual(['new']);
      } else expect((await h.store.getLedger('broker', DAY)).reserved_exposure).toBe(0);
    });
  }

  const ambiguous: Array<{ name: string; first: Step; calls: string[]; second: { outcome: string; error: null } }> = [
    {
      name: 'an ambiguous timeout whose order landed: looked up and adopted, never placed twice',
      first: { kind: 'ambiguous', landed: true },
      calls: ['place', 'getOrder'],
      second: { outcome: 'adopted', error: null },
    },
    {
      name: 'an ambiguous timeout whose order did not land: looked up, then placed again under the same client_order_id',
      first: { kind: 'ambiguous', landed: false },
      calls: ['place', 'getOrder', 'place'],
      second: { outcome: 'ok', error: null },
    },
    {
      name: 'a connector that throws is taken as ambiguous: looked up, then placed again',
      first: { kind: 'throws', message: 'boom' },
      calls: ['place', 'getOrder', 'place'],
      second: { outcome: 'ok', error: null },
    },
  ];
  for (const c of ambiguous) {
    test(c.name, async () => {
      const h = await harness();
      await h.executor.start();
      h.connector.script(c.first);
      const record = await h.accept({ instrument: 'AAPL' });
      const final = await h.run(record);

      expect(final.status).toBe('executed');
      expect(h.connector.calls.map((call) => call.op)).toEqual(c.calls);
      expect(new Set(h.connector.calls.map((call) => call.key))).toEqual(new Set([record.client_order_id]));
      const recorded = await attempts(h.store, record.signal_id);
      expect(recorded).toEqual([
        { n: 1, outcome: 'ambiguous', error: c.first.kind === 'throws' ? 'connector threw: boom' : 'timed out after sending' },
        { n: 2, ...c.second },
      ]);
      expect(h.connector.orders.size).toBe(1);
      expect(await positions(h.store)).toEqual([{ instrument: 'AAPL', quantity: 10 }]);
    });
  }
});

describe('the breaker', () => {
  test('opens after failure_threshold transient failures; a later increase is rejected breaker_open without a call', async () => {
    const h = await harness({ execution: { max_attempts: 3, breaker: { failure_threshold: 3 } } });
    await h.executor.start();
    h.connector.script({ kind: 'transient' }, { kind: 'transient' }, { kind: 'transient' });
    const first = await h.accept({ instrument: 'AAPL' });
    const failed = await h.run(first);
    expect(failed.status).toBe('failed');
    expect(failed.result?.error).toBe('gave up after 3 attempts: 503 service unavailable');
    expect(await breaker(h.store)).toEqual({ state: 'open', consecutive_failures: 3 });

    const later = await h.accept({ instrument: 'MSFT' });
    const rejected = await h.run(later);
    expect(rejected.status).toBe('rejected');
    expect(rejected.decision?.failures.map((f) => f.rule)).toContain('breaker_open');
    expect(h.connector.calls.filter((call) => call.key === later.client_order_id)).toEqual([]);
    expect(await attempts(h.store, later.signal_id)).toEqual([]);
  });
});

describe('ambiguity is sticky', () => {
  test('out of attempts after an ambiguous failure, lookups unanswered: stays executing, keeps asking with capped backoff, adopts once answered', async () => {
    const seen: string[] = [];
    let watch: () => Promise<void> = async () => undefined;
    const h = await harness({ execution: { max_attempts: 2, backoff: { base_ms: 100, cap_ms: 400 } } }, {
      sleep: async (ms) => {
        h.sleeps.push(ms);
        await watch();
      },
    });
    await h.executor.start();
    h.connector.script({ kind: 'ambiguous', landed: true }, { kind: 'transient' });
    // The lookup before attempt 2 and the next five fail; the seventh answers.
    h.connector.lookupsDown = 6;
    const record = await h.accept({ instrument: 'AAPL' });
    watch = async () => {
      seen.push(await statusOf(h.store, record.signal_id));
    };
    const final = await h.run(record);

    expect(final.status).toBe('executed');
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set(['executing']));
    expect((await attempts(h.store, record.signal_id)).map((a) => `${a.n} ${a.outcome}`)).toEqual([
      '1 ambiguous',
      '2 retryable',
      ...[3, 4, 5, 6, 7].map((n) => `${n} lookup_failed`),
      '8 adopted',
    ]);
    // One backoff after attempt 1, then one per unanswered lookup, doubling up to cap_ms (× the 0.5 jitter).
    expect(h.sleeps).toEqual([50, 50, 100, 200, 200, 200]);
    expect(h.connector.placedFor(record.client_order_id)).toHaveLength(2);
    expect(h.connector.orders.size).toBe(1);
    expect(await positions(h.store)).toEqual([{ instrument: 'AAPL', quantity: 10 }]);
    expect(h.errors).toContainEqual({ component: 'connector:broker', message: 'order lookup failed: connection refused' });
  });

  test('failed only once a lookup answers "not found"', async () => {
    const h = await harness({ execution: { max_attempts: 2 } });
    await h.executor.start();
    h.connector.script({ kind: 'ambiguous', landed: false }, { kind: 'transient' });
    h.connector.lookupsDown = 3;
    const record = await h.accept({ instrument: 'AAPL' });
    const final = await h.run(record);

    expect(final.status).toBe('failed');
    expect(final.result?.error).toBe('gave up after 2 attempts: 503 service unavailable (the order was not found at the connector)');
    expect((await attempts(h.store, record.signal_id)).map((a) => a.outcome)).toEqual(['ambiguous', 'retryable', 'lookup_failed', 'lookup_failed']);
    expect(h.connector.calls.at(-1)).toEqual({ op: 'getOrder', key: record.client_order_id });
    expect(h.connector.orders.size).toBe(0);
  });

  test('a 4xx after an ambiguous failure whose lookup failed: asked until answered, and the landed order is adopted', async () => {
    const h = await harness();
    await h.executor.start();
    h.connector.script({ kind: 'ambiguous', landed: true }, { kind: 'permanent', reason: 'insufficient buying power' });
    h.connector.lookupsDown = 2;
    const record = await h.accept({ instrument: 'AAPL' });
    const final = await h.run(record);

    expect(final.status).toBe('executed');
    expect((await attempts(h.store, record.signal_id)).map((a) => a.outcome)).toEqual(['ambiguous', 'permanent', 'lookup_failed', 'adopted']);
    expect(h.connector.orders.size).toBe(1);
    expect(await positions(h.store)).toEqual([{ instrument: 'AAPL', quantity: 10 }]);
  });

  test('stopping while the order cannot be looked up leaves the signal executing, for recovery', async () => {
    const h = await harness({ execution: { max_attempts: 1 } });
    await h.executor.start();
    h.connector.script({ kind: 'ambiguous', landed: true });
    h.connector.lookupsDown = 1_000_000;
    const record = await h.accept({ instrument: 'AAPL' });
    h.executor.submit(record);
    await until(async () => (await attempts(h.store, record.signal_id)).some((a) => a.outcome === 'lookup_failed'), 'an unanswered lookup');
    expect(await h.executor.stop(5_000)).toBe(true);
    const left = must(await h.store.getSignal(record.signal_id), 'the signal');
    expect(left.status).toBe('executing');
    expect(left.result).toBeNull();
  });
});

describe('the breaker half-open', () => {
  test('only the claimed probe’s success closes it: not a 4xx answer, not an exit that succeeds meanwhile', async () => {
    let clock = T0;
    const h = await harness({ execution: { max_attempts: 1, breaker: { failure_threshold: 1, half_open_after_seconds: 60 } } }, { now: () => clock });
    await h.executor.start();
    const probeOf = async (): Promise<string | undefined> => {
      const b = (await h.store.getBreakers())['broker'];
      return b?.state === 'half_open' ? b.probe_signal_id : undefined;
    };
    expect((await h.run(await h.accept({ instrument: 'AAPL', quantity: 10 }))).status).toBe('executed');
    h.connector.script({ kind: 'transient' });
    expect((await h.run(await h.accept({ instrument: 'MSFT' }))).status).toBe('failed');
    expect((await breaker(h.store)).state).toBe('open');
    clock = new Date(T0.getTime() + 61_000);

    // The probe is refused (4xx): an answer, not a success. Still half-open, the slot freed.
    h.connector.script({ kind: 'permanent', reason: 'insufficient buying power' });
    const refused = await h.run(await h.accept({ instrument: 'MSFT' }));
    expect(refused.status).toBe('failed');
    expect((await breaker(h.store)).state).toBe('half_open');
    expect(await probeOf()).toBeUndefined();

    // The next risk-adding order is the probe at once; while it is held, an exit succeeds.
    h.connector.hold('NVDA');
    const probe = await h.accept({ instrument: 'NVDA' });
    h.executor.submit(probe);
    await until(() => h.connector.inFlight.includes('NVDA'), 'the probe in flight');
    expect(await probeOf()).toBe(probe.signal_id);
    const exit = await h.run(await h.accept({ instrument: 'AAPL', action: 'sell', quantity: 5 }));
    expect(exit.status).toBe('executed');
    expect(exit.decision?.exit).toBe(true);
    expect((await breaker(h.store)).state).toBe('half_open');

    // The probe's own success closes it.
    h.connector.release();
    expect(must(await h.executor.waitForFinal(probe.signal_id, 10_000), 'the probe').status).toBe('executed');
    expect(await breaker(h.store)).toEqual({ state: 'closed', consecutive_failures: 0 });
    expect((await h.store.listEvents(0, 1000)).filter((e) => e.type.startsWith('breaker.')).map((e) => e.type)).toEqual(['breaker.opened', 'breaker.half_opened', 'breaker.closed']);
  });
});

/** What a crashed instance left: the signal gated to `executing` under its lease, then nothing. */
async function leftExecuting(store: Store, record: SignalRecord): Promise<void> {
  const decision: Decision = { allowed: true, failures: [], quantity: 10, side: 'buy', exit: false, trimmed: false, reserved_notional: 1000, reference_price: 100 };
  const gated = await store.gateSignal({
    signal_id: record.signal_id,
    connector: record.connector,
    instrument: record.instrument,
    now: T0,
    owner: 'crashed-instance',
    lease_until: new Date(T0.getTime() + 30_000),
    trading_day: DAY,
    order_rate_cap: null,
    settle_open_orders: false,
    decide: () => ({ decision, breaker: null }),
  });
  if (gated.kind !== 'executing') throw new Error(`gate: ${gated.kind}`);
}

describe('recovery at start', () => {
  for (const landed of [true, false]) {
    test(`a signal found executing (its order ${landed ? 'landed' : 'never sent'}) is recovered by client_order_id before a newer signal of its lane runs`, async () => {
      const h = await harness();
      const older = await h.accept({ instrument: 'AAPL' });
      await leftExecuting(h.store, older);
      if (landed) h.connector.book({ client_order_id: older.client_order_id, instrument: 'AAPL', side: 'buy', quantity: 10, reference_price: 100 }, 'filled');
      const newer = await h.accept({ instrument: 'AAPL' });
      const finals = Promise.all([h.executor.waitForFinal(older.signal_id, 10_000), h.executor.waitForFinal(newer.signal_id, 10_000)]);
      await h.executor.start();
      const [a, b] = await finals;

      expect(a?.status).toBe('executed');
      expect(b?.status).toBe('executed');
      expect(h.connector.calls).toEqual([
        { op: 'getOrder', key: older.client_order_id },
        ...(landed ? [] : [{ op: 'place', key: older.client_order_id }]),
        { op: 'place', key: newer.client_order_id },
      ]);
      expect(await attempts(h.store, older.signal_id)).toEqual([{ n: 1, outcome: landed ? 'adopted' : 'ok', error: null }]);
      expect(a?.result?.order_id).toBe('broker-1');
      expect(await positions(h.store)).toEqual([{ instrument: 'AAPL', quantity: 20 }]);
    });
  }
});

/** Counts the store's gates of one signal from here on. */
function countGates(store: Store, signalId: string): { n: number } {
  const count = { n: 0 };
  const gate = store.gateSignal.bind(store);
  store.gateSignal = (input) => {
    if (input.signal_id === signalId) count.n += 1;
    return gate(input);
  };
  return count;
}

describe('arrival order across instances', () => {
  test('a buy blocked by an older lane-mate that finishes (its order still open) before the block is looked at gates again and cancels nothing', async () => {
    const h = await harness({}, { singleInstance: false });
    const older = await h.accept({ instrument: 'AAPL' });
    await leftExecuting(h.store, older);
    const newer = await h.accept({ instrument: 'AAPL' });
    // The other instance finishes the older signal, its order open at the broker, right when
    // this one reads why it was blocked.
    const getSignal = h.store.getSignal.bind(h.store);
    let finished = false;
    h.store.getSignal = async (id) => {
      if (id === older.signal_id && !finished) {
        finished = true;
        await h.store.finishSignal({
          signal_id: older.signal_id,
          status: 'executed',
          result: { connector: 'broker', client_order_id: older.client_order_id, order_id: 'elsewhere-1', status: 'new', filled_quantity: 0, fill_price: null },
          order: { client_order_id: older.client_order_id, order_id: 'elsewhere-1', instrument: 'AAPL', side: 'buy', quantity: 10, order_type: 'market', limit_price: null, status: 'new', filled_quantity: 0, fill_price: null },
          track_order: true,
          now: T0,
          trading_day: DAY,
          max_daily_loss: null,
        });
      }
      return getSignal(id);
    };
    await h.executor.start();
    expect((await h.executor.waitForFinal(newer.signal_id, 10_000))?.status).toBe('executed');
    expect(finished).toBe(true);
    // Only a close or a target cancels its lane's open orders; the older buy's order is left alone.
    expect(h.connector.calls.filter((c) => c.op === 'cancel')).toEqual([]);
    expect((await h.store.openOrders('broker', 'AAPL')).map((o) => o.client_order_id)).toEqual([older.client_order_id]);
  });

  test('a signal whose older lane-mate executes at a live instance waits, its lane paused (no spin, no worker held), and runs once that one is finished', async () => {
    const h = await harness({ execution: { concurrency: 1 } }, { singleInstance: false });
    const older = await h.accept({ instrument: 'AAPL' });
    // Executing under another instance's lease, which runs until T0 + 30 s: that instance lives.
    await leftExecuting(h.store, older);
    const newer = await h.accept({ instrument: 'AAPL' });
    const elsewhere = await h.accept({ instrument: 'MSFT' });
    const gates = countGates(h.store, newer.signal_id);
    await h.executor.start();

    // One worker, and the other lane still runs: the waiting lane holds none.
    expect((await h.executor.waitForFinal(elsewhere.signal_id, 10_000))?.status).toBe('executed');
    await until(() => gates.n >= 1, 'the newer signal gated');
    await settle();
    expect(await statusOf(h.store, newer.signal_id)).toBe('accepted');
    expect(h.connector.placedFor(newer.client_order_id)).toEqual([]);
    // The lane pauses (50 ms, doubling) before it asks again: a spin would have asked hundreds of times.
    expect(gates.n).toBeLessThanOrEqual(3);

    // The other instance books its fill and finishes; the newer signal decides on top of it.
    await h.store.finishSignal({
      signal_id: older.signal_id,
      status: 'executed',
      result: { connector: 'broker', client_order_id: older.client_order_id, order_id: 'elsewhere-1', status: 'filled', filled_quantity: 10, fill_price: 100 },
      order: { client_order_id: older.client_order_id, order_id: 'elsewhere-1', instrument: older.instrument, side: 'buy', quantity: 10, order_type: 'market', limit_price: null, status: 'filled', filled_quantity: 10, fill_price: 100 },
      track_order: true,
      now: T0,
      trading_day: DAY,
      max_daily_loss: null,
    });
    expect((await h.executor.waitForFinal(newer.signal_id, 10_000))?.status).toBe('executed');
    expect(h.connector.calls.filter((c) => c.key === older.client_order_id)).toEqual([]);
    // The older one finished while the newer was blocked by it: the newer (a buy) just gates again, cancelling nothing.
    expect(h.connector.calls.filter((c) => c.op === 'cancel')).toEqual([]);
    expect(await positions(h.store)).toEqual([
      { instrument: 'AAPL', quantity: 20 },
      { instrument: 'MSFT', quantity: 10 },
    ]);
  });

  test('a dead instance’s executing signal is taken over when its lease expires and recovered by client_order_id before the newer signal of its lane runs', async () => {
    let clock = T0;
    const h = await harness({ execution: { lease_seconds: 0.75 } }, { singleInstance: false, now: () => clock });
    const older = await h.accept({ instrument: 'AAPL' });
    await leftExecuting(h.store, older);
    // Its order had landed before its instance died.
    h.connector.book({ client_order_id: older.client_order_id, instrument: 'AAPL', side: 'buy', quantity: 10, reference_price: 100 }, 'filled');
    const newer = await h.accept({ instrument: 'AAPL' });
    const gates = countGates(h.store, newer.signal_id);
    await h.executor.start();
    await until(() => gates.n >= 2, 'the newer signal asking again');
    expect(await statusOf(h.store, newer.signal_id)).toBe('accepted');
    expect(h.connector.calls).toEqual([]);

    // The lease lapses: the keeper claims the signal; the waiting lane recovers it first.
    clock = new Date(T0.getTime() + 31_000);
    const [a, b] = await Promise.all([h.executor.waitForFinal(older.signal_id, 10_000), h.executor.waitForFinal(newer.signal_id, 10_000)]);
    expect(a?.status).toBe('executed');
    expect(b?.status).toBe('executed');
    expect(h.connector.calls).toEqual([
      { op: 'getOrder', key: older.client_order_id },
      { op: 'place', key: newer.client_order_id },
    ]);
    expect(await attempts(h.store, older.signal_id)).toEqual([{ n: 1, outcome: 'adopted', error: null }]);
    expect(await positions(h.store)).toEqual([{ instrument: 'AAPL', quantity: 20 }]);
  });
});

describe('lanes', () => {
  test('arrival order within a lane holds under concurrency; one signal of a lane at a time', async () => {
    const h = await harness({ execution: { concurrency: 4 } });
    await h.executor.start();
    const perLane = new Map<string, number>();
    h.connector.onPlace = (request) => {
      const n = h.connector.inFlight.filter((i) => i === request.instrument).length;
      perLane.set(request.instrument, Math.max(perLane.get(request.instrument) ?? 0, n));
    };
    h.connector.hold();
    const records: SignalRecord[] = [];
    // Quantities vary how many event-loop turns each placement takes, so the lanes interleave.
    for (let i = 0; i < 12; i += 1) records.push(await h.accept({ instrument: i % 2 === 0 ? 'AAPL' : 'MSFT', quantity: 1 + ((i * 7) % 5) }));
    const finals = Promise.all(records.map((r) => h.executor.waitForFinal(r.signal_id, 10_000)));
    for (const r of records) h.executor.submit(r);
    await until(() => h.connector.inFlight.length === 2, 'both lanes placing');
    h.connector.release();
    expect((await finals).map((r) => r?.status)).toEqual(records.map(() => 'executed'));

    for (const instrument of ['AAPL', 'MSFT']) {
      const arrival = records.filter((r) => r.instrument === instrument).map((r) => r.client_order_id);
      const placed = h.connector.calls.filter((c) => arrival.includes(c.key)).map((c) => c.key);
      expect(placed).toEqual(arrival);
    }
    expect(Object.fromEntries(perLane)).toEqual({ AAPL: 1, MSFT: 1 });
    expect(h.connector.maxInFlight).toBe(2);
  });

  test('lanes of different instruments run in parallel, up to execution.concurrency', async () => {
    const h = await harness({ execution: { concurrency: 2 } });
    await h.executor.start();
    h.connector.hold();
    const records: SignalRecord[] = [];
    for (const instrument of ['AAPL', 'MSFT', 'NVDA', 'TSLA']) records.push(await h.accept({ instrument }));
    const finals = Promise.all(records.map((r) => h.executor.waitForFinal(r.signal_id, 10_000)));
    for (const r of records) h.executor.submit(r);

    await until(() => h.connector.inFlight.length === 2, 'two lanes placing');
    await settle();
    expect([...h.connector.inFlight].sort()).toEqual(['AAPL', 'MSFT']);
    const waiting = records.slice(2);
    expect(await Promise.all(waiting.map((r) => statusOf(h.store, r.signal_id)))).toEqual(['accepted', 'accepted']);
    h.connector.release();
    expect((await finals).map((r) => r?.status)).toEqual(['executed', 'executed', 'executed', 'executed']);
    expect(h.connector.maxInFlight).toBe(2);
  });
});

describe('waitForFinal', () => {
  test('null when the time passes first; the signal still finishes', async () => {
    const h = await harness();
    await h.executor.start();
    const record = await holdInFlight(h);
    expect(await h.executor.waitForFinal(record.signal_id, 20)).toBeNull();
    const later = h.executor.waitForFinal(record.signal_id, 10_000);
    h.connector.release();
    expect((await later)?.status).toBe('executed');
  });

  test('null at once for every waiter when the executor stops, and for any waiter after', async () => {
    const h = await harness();
    await h.executor.start();
    const record = await holdInFlight(h);
    const waiting = [h.executor.waitForFinal(record.signal_id, 60_000), h.executor.waitForFinal(record.signal_id, 60_000)];
    const stopped = h.executor.stop(10_000);
    expect(await Promise.all(waiting)).toEqual([null, null]);
    expect(await h.executor.waitForFinal(record.signal_id, 60_000)).toBeNull();
    h.connector.release();
    expect(await stopped).toBe(true);
  });
});

describe('stop', () => {
  test('waits for the signal in flight; queued and later signals stay accepted for the next start', async () => {
    const h = await harness({ execution: { concurrency: 1 } });
    await h.executor.start();
    const inFlight = await holdInFlight(h);
    const queued = await h.accept({ instrument: 'AAPL' });
    h.executor.submit(queued);

    let done = false;
    const stopped = h.executor.stop(60_000).then((finished) => {
      done = true;
      return finished;
    });
    await settle();
    expect(done).toBe(false);
    h.connector.release();
    expect(await stopped).toBe(true);
    expect(await statusOf(h.store, inFlight.signal_id)).toBe('executed');
    expect(await statusOf(h.store, queued.signal_id)).toBe('accepted');

    const after = await h.accept({ instrument: 'MSFT' });
    h.executor.submit(after);
    await settle();
    expect(await statusOf(h.store, after.signal_id)).toBe('accepted');
    expect(h.connector.calls).toEqual([{ op: 'place', key: inFlight.client_order_id }]);
  });

  test('gives up at the deadline (false) while the signal is still in flight', async () => {
    const h = await harness();
    await h.executor.start();
    const record = await holdInFlight(h);
    expect(await h.executor.stop(20)).toBe(false);
    expect(await statusOf(h.store, record.signal_id)).toBe('executing');
    // Let it finish before the store closes.
    h.connector.release();
    await until(async () => (await statusOf(h.store, record.signal_id)) === 'executed', 'the signal to finish');
  });
});

describe('a store failure', () => {
  test('in the middle of a signal (after the broker took the order) is retried later: recovered by client_order_id, one order, booked once', async () => {
    let lock: Database.Database | null = null;
    const failures: unknown[] = [];
    const h = await harness(
      {},
      {
        onStoreFailure: (err) => {
          failures.push(err);
          lock?.exec('ROLLBACK');
          lock?.close();
          lock = null;
        },
      },
    );
    await h.executor.start();
    // The database is locked by another connection while the order is out: the executor's next
    // write waits out SQLite's busy timeout and fails, as in an outage.
    h.connector.onPlace = () => {
      if (failures.length > 0 || lock !== null) return;
      lock = new Database(h.path);
      lock.exec('BEGIN EXCLUSIVE');
    };
    const record = await h.accept({ instrument: 'AAPL' });
    h.executor.submit(record);
    const final = must(await h.executor.waitForFinal(record.signal_id, 25_000), 'the final record');

    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) });
    expect(h.errors.map((e) => e.component)).toContain('executor');
    expect(final.status).toBe('executed');
    expect(h.connector.calls).toEqual([
      { op: 'place', key: record.client_order_id },
      { op: 'getOrder', key: record.client_order_id },
    ]);
    expect(await attempts(h.store, record.signal_id)).toEqual([{ n: 1, outcome: 'adopted', error: null }]);
    expect(await positions(h.store)).toEqual([{ instrument: 'AAPL', quantity: 10 }]);
  }, 30_000);
});
