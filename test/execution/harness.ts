/**
 * For the executor's unit tests: the scripted connector (scripted-connector.ts) and an Executor
 * on a real SQLite store in a temp dir with an injected clock, random and sleep, so that no
 * backoff is waited out and nothing depends on the wall clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import * as v from 'valibot';
import { configSchema, type FileConfig } from '../../src/config/schema.js';
import type { Signal } from '../../src/domain/types.js';
import { Executor, type ExecutorDeps } from '../../src/execution/executor.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { SignalRecord, Store } from '../../src/store/store.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { e2eConfig } from '../helpers/connectors.js';
import { ScriptedConnector, type ConnectorSetup } from './scripted-connector.js';

export { ScriptedConnector, type Call, type ConnectorSetup, type Step } from './scripted-connector.js';

/** Monday 2026-11-23 15:00 UTC: the injected clock starts here. */
export const T0 = new Date('2026-11-23T15:00:00.000Z');
export const DAY = '2026-11-23';

export interface Harness {
  config: FileConfig;
  /** What the executor was built with (a second OrderTracker on them is one after a restart). */
  deps: ExecutorDeps;
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

export async function openHarness(opts: HarnessOptions = {}, overrides: Partial<ExecutorDeps> = {}, setup: ConnectorSetup = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-exec-'));
  dirs.push(dir);
  const path = join(dir, 'sluice.db');
  const store = createSqliteStore({ path });
  await store.initMode('enabled', T0);
  // Limits off, so that only what a test is about can refuse a signal.
  const config = v.parse(configSchema, e2eConfig({ connector: 'broker', connectors: {}, ...opts }));
  const connector = new ScriptedConnector('broker', setup);
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
    deps,
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
