/**
 * The flatten verb's wait for cancelled orders is bounded (docs/execution.md#flatten): on a real
 * SQLite store with the real order tracker, an order the broker will not cancel is asked to
 * cancel, reported as not settled once the time is up, and the flatten still records its closes
 * (the close then waits for the order in its lane).
 */
import { afterEach, expect, test } from 'vitest';
import { flattenPositions } from '../../src/ops/flatten.js';
import type { SignalRecord } from '../../src/store/store.js';
import { T0, openHarness, removeHarnessDirs, type Harness } from '../execution/harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  removeHarnessDirs();
});

test('an order that will not cancel: asked once, reported unsettled at the deadline, and the close is recorded anyway', async () => {
  h = await openHarness();
  await h.executor.start();
  expect((await h.run(await h.accept({ instrument: 'AAPL', quantity: 10 }))).status).toBe('executed');
  // The broker takes the next order and keeps it open whatever it is asked.
  h.connector.script({ kind: 'ok', status: 'new' });
  h.connector.cancelTakesEffect = false;
  expect((await h.run(await h.accept({ instrument: 'AAPL', quantity: 5 }))).status).toBe('executed');
  expect(await h.store.openOrders('broker')).toHaveLength(1);

  const tracker = h.executor.tracker;
  const submitted: SignalRecord[] = [];
  const outcome = await flattenPositions(
    {
      store: h.store,
      connectors: new Map([[h.connector.name, h.connector]]),
      now: () => T0,
      tradingDayTz: 'UTC',
      submit: (record) => submitted.push(record),
      settleOpen: (connector, instrument, sleep) => tracker.settleOpen(connector, instrument, sleep),
      settleMs: 0,
    },
    { reason: 'bounded', requestId: 'req-1' },
  );

  expect(outcome.cancelled).toEqual([
    { connector: 'broker', instrument: 'AAPL', open_orders: 1, settled: false, error: 'orders still open after 0 s; the close waits for them in its lane' },
  ]);
  expect(h.connector.calls.filter((c) => c.op === 'cancel')).toEqual([{ op: 'cancel', key: 'AAPL' }]);
  // This connector reports no positions: the ledger's are closed.
  expect(outcome.adopted).toEqual([]);
  expect(outcome.signals).toMatchObject([{ connector: 'broker', instrument: 'AAPL', quantity: 10, status: 'accepted' }]);
  expect(submitted.map((r) => r.signal.action)).toEqual(['close']);
});
