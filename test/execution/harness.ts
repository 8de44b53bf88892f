/**
 * For the executor's unit tests: a connector scripted per call (ok, transient failure, ambiguous
 * timeout, permanent refusal, throw) that keeps its own order book, and an Executor on a real
 * SQLite store in a temp dir with an injected clock, random and sleep, so that no backoff is
 * waited out and nothing depends on the wall clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import * as v from 'valibot';
import { configSchema, type FileConfig } from '../../src/config/schema.js';
import { failure, notForwardable, success, type CallResult, type Connector, type OrderRequest, type PlacedOrderRequest } from '../../src/connectors/connector.js';
import { MOCK_CAPABILITIES } from '../../src/connectors/mock.js';
import type { ConnectorCapabilities, Order, OrderStatus, Position, Signal } from '../../src/domain/types.js';
import { Executor, type ExecutorDeps } from '../../src/execution/executor.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { SignalRecord, Store } from '../../src/store/store.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { e2eConfig } from '../helpers/connectors.js';

/** How the connector answers one `place` call. */
export type Step =
  /** Placed; filled at the reference price unless told otherwise. */
  | { kind: 'ok'; status?: OrderStatus; filled?: number; price?: number | null }
  /** 503: nothing placed, worth trying again. */
  | { kind: 'transient' }
  /** A timeout after sending: `landed` says whether the broker took the order anyway. */
  | { kind: 'ambiguous'; landed: boolean }
  /** A 4xx other than 429: the broker's final word. */
  | { kind: 'permanent'; reason: string }
  /** A connector bug. */
  | { kind: 'throws'; message: string };

export interface Call {
  op: 'place' | 'getOrder' | 'cancel';
  /** client_order_id for place and getOrder, the instrument for cancel. */
  key: string;
}

/** The mock broker's, but its positions are not asked for: nothing here reconciles them. */
const CAPABILITIES: ConnectorCapabilities = { ...MOCK_CAPABILITIES, positions: false };

export class ScriptedConnector implements Connector {
  readonly type = 'scripted';
  readonly capabilities = CAPABILITIES;
  readonly calls: Call[] = [];
  /** The broker's book, by client_order_id. */
  readonly orders = new Map<string, Order>();
  /** Instruments of the place calls now in flight, one entry per call. */
  readonly inFlight: string[] = [];
  maxInFlight = 0;
  /** How many of the next lookups fail as a refused connection would (nothing answered). */
  lookupsDown = 0;
  /** Runs when a place call starts (after it is counted in flight). */
  onPlace: ((request: OrderRequest) => void) | null = null;
  private readonly steps: Step[] = [];
  private held: Promise<void> | null = null;
  /** The instrument whose place calls wait, or null for every call. */
  private heldInstrument: string | null = null;
  private releaseHeld: () => void = () => undefined;
  private counter = 0;

  constructor(readonly name: string) {}

  /** Answers for the next place calls, in order; once they are used up, place fills. */
  script(...steps: Step[]): void {
    this.steps.push(...steps);
  }

  /** Keeps every place call (or only those of `instrument`) waiting until `release`. */
  hold(instrument: string | null = null): void {
    this.heldInstrument = instrument;
    this.held = new Promise((resolve) => {
      this.releaseHeld = resolve;
    });
  }

  release(): void {
    this.held = null;
    this.releaseHeld();
  }

  placedFor(clientOrderId: string): Call[] {
    return this.calls.filter((c) => c.op === 'place' && c.key === clientOrderId);
  }

  async place(request: OrderRequest): Promise<CallResult<Order>> {
    // A broker: a forwarded close or target is for fire-and-forget connectors only.
    if (request.forwarded === true) return notForwardable(this.name, request);
    this.calls.push({ op: 'place', key: request.client_order_id });
    this.inFlight.push(request.instrument);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.length);
    try {
      this.onPlace?.(request);
      if (this.held !== null && (this.heldInstrument === null || this.heldInstrument === request.instrument)) await this.held;
      // A few turns of the event loop, so that concurrent lanes interleave.
      for (let i = 0; i < request.quantity % 4; i += 1) await new Promise((resolve) => setImmediate(resolve));
      const step = this.steps.shift() ?? { kind: 'ok' };
      switch (step.kind) {
        case 'ok':
          return success(this.book(request, step.status ?? 'filled', step.filled, step.price));
        case 'transient':
          return failure('503 service unavailable', { retryable: true, ambiguous: false, http_status: 503 });
        case 'ambiguous':
          if (step.landed) this.book(request, 'filled');
          return failure('timed out after sending', { retryable: true, ambiguous: true });
        case 'permanent':
          return failure(step.reason, { retryable: false, ambiguous: false, http_status: 403 });
        case 'throws':
          throw new Error(step.message);
      }
    } finally {
      this.inFlight.splice(this.inFlight.indexOf(request.instrument), 1);
    }
  }

  async getOrder(clientOrderId: string): Promise<CallResult<Order | null>> {
    this.calls.push({ op: 'getOrder', key: clientOrderId });
    if (this.lookupsDown > 0) {
      this.lookupsDown -= 1;
      return failure('connection refused', { retryable: true, ambiguous: false });
    }
    return success(this.orders.get(clientOrderId) ?? null);
  }

  async cancel(instrument: string): Promise<CallResult<{ cancelled: number }>> {
    this.calls.push({ op: 'cancel', key: instrument });
    return success({ cancelled: 0 });
  }

  async getPositions(): Promise<CallResult<Position[]>> {
    return success([]);
  }

  /** A broker keeps one order per client_order_id: a repeat gets the existing one back. */
  book(request: Pick<PlacedOrderRequest, 'client_order_id' | 'instrument' | 'side' | 'quantity' | 'reference_price'>, status: OrderStatus, filled?: number, price?: number | null): Order {
    const existing = this.orders.get(request.client_order_id);
    if (existing !== undefined) return existing;
    this.counter += 1;
    const filledQuantity = filled ?? (status === 'filled' ? request.quantity : 0);
    const order: Order = {
      client_order_id: request.client_order_id,
      order_id: `${this.name}-${this.counter}`,
      instrument: request.instrument,
      side: request.side,
      quantity: request.quantity,
      order_type: 'market',
      limit_price: null,
      status,
      filled_quantity: filledQuantity,
      fill_price: price === undefined ? (filledQuantity > 0 ? (request.reference_price ?? null) : null) : price,
    };
    this.orders.set(request.client_order_id, order);
    return order;
  }
}

/** Monday 2026-11-23 15:00 UTC: the injected clock starts here. */
export const T0 = new Date('2026-11-23T15:00:00.000Z');
export const DAY = '2026-11-23';

export interface Harness {
  config: FileConfig;
  store: Store;
  path: string;
  connector: ScriptedConnector;
  executor: Executor;
  /** Every backoff the executor asked to sleep, in ms (the sleep itself returns at once). */
  sleeps: number[];
  errors: Array<{ component: string; message: string }>;
  /** Records an accepted signal, like ingest does. */
  accept(signal: Partial<Signal> & { instrument: string }): Promise<SignalRecord>;
  /** Submits and waits for the final record. */
  run(record: SignalRecord): Promise<SignalRecord>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  execution?: Record<string, unknown>;
  policy?: Record<string, unknown>;
}

const dirs: string[] = [];
let keys = 0;

export async function openHarness(opts: HarnessOptions = {}, overrides: Partial<ExecutorDeps> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-exec-'));
  dirs.push(dir);
  const path = join(dir, 'sluice.db');
  const store = createSqliteStore({ path });
  await store.initMode('enabled', T0);
  // Limits off, so that only what a test is about can refuse a signal.
  const config = v.parse(configSchema, e2eConfig({ connector: 'broker', connectors: {}, ...opts }));
  const connector = new ScriptedConnector('broker');
  const sleeps: number[] = [];
  const errors: Array<{ component: string; message: string }> = [];
  const deps: ExecutorDeps = {
    store,
    connectors: new Map([[connector.name, connector]]),
    policy: config.policy,
    execution: config.execution,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    now: () => T0,
    owner: 'test-instance',
    singleInstance: true,
    random: () => 0.5,
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
    onError: (component, message) => errors.push({ component, message }),
    ...overrides,
  };
  const h: Harness = {
    config,
    store,
    path,
    connector,
    executor: new Executor(deps),
    sleeps,
    errors,
    async accept(signal) {
      keys += 1;
      const key = `key-${keys}`;
      const full: Signal = { action: 'buy', quantity: 10, price: 100, order_type: 'market', time_in_force: 'day', meta: {}, ...signal };
      const out = await store.recordSignal({
        signal_id: `sig_${String(keys).padStart(6, '0')}`,
        source: 'tv',
        idempotency_key: key,
        key_kind: 'explicit',
        window_ms: 60_000,
        fingerprint: `fp-${key}`,
        connector: connector.name,
        instrument: full.instrument,
        client_order_id: `tv-${key}`,
        signal: full,
        request_id: `req-${key}`,
        received_at: T0,
      });
      if (out.kind !== 'inserted') throw new Error(`signal not inserted: ${out.kind}`);
      return out.record;
    },
    async run(record) {
      h.executor.submit(record);
      return must(await h.executor.waitForFinal(record.signal_id, 10_000), `final record of ${record.signal_id}`);
    },
    async close() {
      await h.executor.stop(5_000);
      await store.close();
    },
  };
  return h;
}

export function removeHarnessDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Throws instead of asserting non-null: a missing value fails the test with a message. */
export function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`expected ${what}, got ${String(value)}`);
  return value;
}

/** Polls until `fn` holds (bounded: a hung executor fails the test instead of hanging it). */
export async function until(fn: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i += 1) {
    if (await fn()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`gave up waiting for ${what}`);
}
