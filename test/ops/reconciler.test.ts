/**
 * Position reconciliation (docs/execution.md#position-reconciliation) on a real SQLite store with
 * a connector whose positions call is scripted: it runs per instrument (one in flight does not
 * stop the others), and a snapshot the broker took before a fill that was booked while it was
 * being asked is not adopted over that fill.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { success, type CallResult, type Connector } from '../../src/connectors/connector.js';
import { MOCK_CAPABILITIES } from '../../src/connectors/mock.js';
import type { Decision, Position } from '../../src/domain/types.js';
import { DegradedState } from '../../src/ops/degraded.js';
import { checkConnectors, reconcileConnector } from '../../src/ops/reconciler.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { SignalRecord, Store } from '../../src/store/store.js';
import { RecentErrors } from '../../src/telemetry/recent-errors.js';
import { tempDir } from '../helpers/server.js';

const T0 = new Date('2026-11-23T15:00:00.000Z');
const DAY = '2026-11-23';
const logger = pino({ level: 'silent' });
let store: Store | null = null;
let n = 0;

afterEach(async () => {
  await store?.close();
  store = null;
});

function open(): Store {
  store = createSqliteStore({ path: join(tempDir(), 'sluice.db') });
  return store;
}

/** A broker that reports what `positions()` says, when asked. */
function broker(positions: () => Promise<Position[]>): Connector {
  return {
    name: 'broker',
    type: 'scripted',
    capabilities: MOCK_CAPABILITIES,
    place: () => Promise.reject(new Error('not used')),
    cancel: () => Promise.reject(new Error('not used')),
    getOrder: () => Promise.reject(new Error('not used')),
    getPositions: async (): Promise<CallResult<Position[]>> => success(await positions()),
  };
}

/** A buy of the lane decided and in flight (`executing`), as the executor leaves it before the broker answers. */
async function inFlight(s: Store, instrument: string, quantity: number): Promise<SignalRecord> {
  n += 1;
  const recorded = await s.recordSignal({
    signal_id: `sig_${String(n).padStart(6, '0')}`,
    source: 'tv',
    idempotency_key: `k-${n}`,
    key_kind: 'explicit',
    window_ms: 60_000,
    fingerprint: `fp-${n}`,
    connector: 'broker',
    instrument,
    client_order_id: `coid-${n}`,
    signal: { action: 'buy', instrument, quantity, price: 100, order_type: 'market', time_in_force: 'day', meta: {} },
    request_id: `req-${n}`,
    received_at: T0,
  });
  const decision: Decision = { allowed: true, failures: [], quantity, side: 'buy', exit: false, trimmed: false, reserved_notional: quantity * 100, reference_price: 100 };
  const gated = await s.gateSignal({
    signal_id: recorded.record.signal_id,
    connector: 'broker',
    instrument,
    now: T0,
    owner: 'test',
    lease_until: new Date(T0.getTime() + 30_000),
    trading_day: DAY,
    order_rate_cap: null,
    settle_open_orders: false,
    decide: () => ({ decision, breaker: null }),
  });
  if (gated.kind !== 'executing') throw new Error(`gate: ${gated.kind}`);
  return gated.record;
}

/** The broker's fill booked: the signal finishes executed. */
async function filled(s: Store, record: SignalRecord, quantity: number): Promise<void> {
  await s.finishSignal({
    signal_id: record.signal_id,
    status: 'executed',
    result: { connector: 'broker', client_order_id: record.client_order_id, order_id: `o-${record.signal_id}`, status: 'filled', filled_quantity: quantity, fill_price: 100 },
    order: { client_order_id: record.client_order_id, order_id: `o-${record.signal_id}`, instrument: record.instrument, side: 'buy', quantity, order_type: 'market', limit_price: null, status: 'filled', filled_quantity: quantity, fill_price: 100 },
    track_order: true,
    now: T0,
    trading_day: DAY,
    max_daily_loss: null,
  });
}

async function ledger(s: Store): Promise<Array<[string, number]>> {
  return (await s.getLedger('broker', DAY)).positions.map((p) => [p.instrument, p.quantity]);
}

test('instrument B is reconciled while A has an order in flight; A waits for the next pass', async () => {
  const s = open();
  await inFlight(s, 'AAPL', 10);
  // The broker already filled AAPL's order; MSFT drifted on its own.
  const connector = broker(async () => [
    { instrument: 'AAPL', quantity: 10, avg_price: 100 },
    { instrument: 'MSFT', quantity: 7, avg_price: 50 },
  ]);
  const degraded = new DegradedState({ logger, now: () => T0, record: (type, data, at) => s.appendEvent({ type, data }, at) });
  const recentErrors = new RecentErrors();
  await checkConnectors({ store: s, connectors: new Map([['broker', connector]]), logger, now: () => T0, degraded, recentErrors });

  expect(await ledger(s)).toEqual([['MSFT', 7]]);
  expect(degraded.list().map((d) => d.component)).toEqual(['positions:broker']);
  expect(recentErrors.list()).toEqual([]);
  expect(await reconcileConnector({ store: s, logger, now: () => T0 }, connector)).toEqual({ kind: 'checked', drift: [], skipped: [{ instrument: 'AAPL', reason: 'in_flight' }] });
});

test('a snapshot taken before a fill that was booked while the broker was asked is not adopted over it', async () => {
  const s = open();
  const first = await inFlight(s, 'AAPL', 10);
  await filled(s, first, 10);
  // The broker answers with what it held before the next order filled, and meanwhile that order
  // is decided, filled and booked here: no signal is in flight before or after the call.
  const connector = broker(async () => {
    const snapshot = [{ instrument: 'AAPL', quantity: 10, avg_price: 100 }];
    await filled(s, await inFlight(s, 'AAPL', 5), 5);
    return snapshot;
  });
  const outcome = await reconcileConnector({ store: s, logger, now: () => T0 }, connector);

  expect(outcome).toEqual({ kind: 'checked', drift: [], skipped: [{ instrument: 'AAPL', reason: 'changed' }] });
  expect(await ledger(s)).toEqual([['AAPL', 15]]);
  expect((await s.listEvents(0, 1000)).filter((e) => e.type === 'positions.drift')).toEqual([]);

  // The next pass, with a snapshot taken after the fill, finds the two agreeing.
  const later = broker(async () => [{ instrument: 'AAPL', quantity: 15, avg_price: 100 }]);
  expect(await reconcileConnector({ store: s, logger, now: () => T0 }, later)).toEqual({ kind: 'checked', drift: [], skipped: [] });
});
