/**
 * Builders and shared steps of the store contract suite (test/store/contract.ts), and what a
 * dialect's test file hands the suite: a fresh store per test, and direct SQL on its database
 * for the few tests that must write a row no verb would (a corrupted document).
 */
import { randomUUID } from 'node:crypto';
import type { StoredGateState } from '../../../src/domain/gate-state.js';
import type { Decision, Order, RuleFailure, Signal } from '../../../src/domain/types.js';
import type { EventRecord, ExecutionResult, Fill, FinishInput, GateInput, NewSignal, SignalRecord, Store } from '../../../src/store/store.js';

/** Direct SQL on the store's database (portable statements: both schemas have the same tables). */
export interface RawSql {
  run(statement: string): Promise<void>;
  query(statement: string): Promise<Array<Record<string, unknown>>>;
}

export interface OpenedStore {
  store: Store;
  raw: RawSql;
  cleanup: () => Promise<void>;
}

/** What a dialect's test file passes to every store it opens for the suite. */
export interface OpenOptions {
  /** The store's clock (appendEvent's `at`, setCursor's update). */
  now: () => Date;
}

/** What each capability's tests get: the running test's store, its raw SQL, and its clock. */
export interface ContractContext {
  s: () => Store;
  raw: () => RawSql;
  /** Sets the time the store's clock reads. */
  setClock: (time: Date) => void;
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

export const NOTIONAL_FAILURE: RuleFailure = { rule: 'max_order_notional', limit: 10_000, actual: 15_000, message: 'order notional 15000 exceeds 10000' };

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
    settle_open_orders: false,
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
  const placed: Order | null =
    fill === null
      ? null
      : { client_order_id: rec.client_order_id, order_id: `ord-${rec.client_order_id}`, instrument: rec.instrument, side: fill.side, quantity: fill.quantity, order_type: 'market', limit_price: null, status: 'filled', filled_quantity: fill.quantity, fill_price: fill.price };
  return { signal_id: rec.signal_id, status: fill === null ? 'failed' : 'executed', result: result(rec, fill), order: placed, track_order: true, now: at(1), trading_day: DAY, max_daily_loss: null, ...o };
}

export function order(o: Partial<Order> & Pick<Order, 'client_order_id'>): Order {
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

export async function record(store: Store, o: SignalOverrides = {}): Promise<SignalRecord> {
  const outcome = await store.recordSignal(newSignal(o));
  if (outcome.kind !== 'inserted') throw new Error(`expected inserted, got ${outcome.kind}`);
  return outcome.record;
}

/** Records a signal and gates it to `executing` with the given decision. */
export async function recordExecuting(store: Store, o: SignalOverrides = {}, decision: Decision = allow(), now: Date = T0): Promise<SignalRecord> {
  const rec = await record(store, o);
  const gated = await store.gateSignal(gateInput(rec, decision, now));
  if (gated.kind !== 'executing') throw new Error(`expected executing, got ${gated.kind}`);
  return gated.record;
}

/** record → gate → finish executed with the fill, the whole happy path. */
export async function executeFill(store: Store, fill: Fill, o: SignalOverrides = {}, gateAt: Date = T0): Promise<SignalRecord> {
  const exit = fill.side === 'sell';
  const rec = await recordExecuting(
    store,
    { ...o, signal: { action: fill.side, quantity: fill.quantity, price: fill.price, ...o.signal } },
    allow({ side: fill.side, quantity: fill.quantity, exit, reserved_notional: exit ? 0 : fill.quantity * fill.price, reference_price: fill.price }),
    gateAt,
  );
  return (await store.finishSignal(finishInput(rec, fill))).record;
}

export async function allEvents(store: Store): Promise<EventRecord[]> {
  return store.listEvents(0, 10_000);
}
