/**
 * `SLUICE_TEST_MODE=1` (docs/guarantees.md#test-mode): every configured connector is replaced by
 * a mock of the same name, so with an `alpaca` connector pointed at the fake Trading API, the
 * fake sees no request at all — not from a delivery, a retry, the recovery of a signal left
 * executing, a flatten, `cancel_open_orders`, or the position checks — and `/admin/connectors`
 * names the configured type and says it is mocked.
 */
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import type { Decision } from '../../src/domain/types.js';
import { clientOrderId, newSignalId } from '../../src/ingest/identity.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { connectorsOf, e2eConfig, mockOrders, nextKey, readJson, sendFinal, setMockFaults, signalDetail, statusOf } from '../helpers/connectors.js';
import { adminFetch, eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';

let fake: FakeAlpaca | null = null;
let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  await fake?.close();
  server = null;
  fake = null;
});

/** What a run before this one left: a signal decided for `alpaca` and executing when it died. */
async function leftExecuting(dir: string): Promise<string> {
  const store = createSqliteStore({ path: join(dir, 'sluice.db') });
  const now = new Date();
  const signalId = newSignalId(now);
  const recorded = await store.recordSignal({
    signal_id: signalId,
    source: 'default',
    idempotency_key: nextKey('left'),
    key_kind: 'explicit',
    window_ms: 60_000,
    fingerprint: 'f'.repeat(64),
    connector: 'alpaca',
    instrument: 'NVDA',
    client_order_id: clientOrderId(signalId),
    signal: { action: 'buy', instrument: 'NVDA', quantity: 1, price: 50, order_type: 'market', time_in_force: 'day', meta: {} },
    request_id: 'req-left',
    received_at: now,
  });
  const decision: Decision = { allowed: true, failures: [], quantity: 1, side: 'buy', exit: false, trimmed: false, reserved_notional: 50, reference_price: 50 };
  const gated = await store.gateSignal({
    signal_id: recorded.record.signal_id,
    connector: 'alpaca',
    instrument: 'NVDA',
    now,
    owner: 'dead-run',
    lease_until: now,
    trading_day: now.toISOString().slice(0, 10),
    order_rate_cap: null,
    settle_open_orders: false,
    decide: () => ({ decision, breaker: null }),
  });
  if (gated.kind !== 'executing') throw new Error(`gate: ${gated.kind}`);
  await store.close();
  return signalId;
}

test('with an alpaca connector configured, test mode reaches only a mock of that name: the broker sees no request', async () => {
  fake = await startFakeAlpaca({ fills: 'immediate' });
  const dir = tempDir();
  const left = await leftExecuting(dir);
  server = await startTestServer({
    dir,
    env: { SLUICE_TEST_MODE: '1' },
    config: e2eConfig({
      connector: 'alpaca',
      connectors: { alpaca: { type: 'alpaca', base_url: fake.url, key_id: fake.key_id, secret_key: fake.secret_key, live: false } },
      execution: { reconcile_interval_seconds: 0.1 },
    }),
  });
  const s = server;
  expect((await statusOf(s.url)).test_mode).toBe(true);
  const connectors = await connectorsOf(s.url);
  expect(connectors.map(({ name, type, mocked }) => ({ name, type, mocked }))).toEqual([
    { name: 'alpaca', type: 'alpaca', mocked: true },
    { name: 'mock', type: 'mock', mocked: false },
  ]);

  // Recovery at start: the signal left executing was looked up and placed at the mock.
  const recovered = await signalDetail(s.url, left);
  expect(recovered.status).toBe('executed');
  expect(recovered.result).toMatchObject({ connector: 'alpaca', client_order_id: clientOrderId(left) });

  // A delivery, and retries after an ambiguous timeout, at the mock named alpaca.
  await setMockFaults(s.url, { timeout_rate: 1 }, 'alpaca');
  const ambiguous = await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 5, price: 100 });
  await setMockFaults(s.url, { timeout_rate: 0 }, 'alpaca');
  expect(ambiguous.status).toBe('executed');
  expect((await signalDetail(s.url, ambiguous.signal_id)).attempts.map((a) => a.outcome)).toEqual(['ambiguous', 'adopted']);
  expect(ambiguous.result).toMatchObject({ connector: 'alpaca', status: 'filled', filled_quantity: 5 });
  expect((await mockOrders(s.url, 'alpaca')).map((o) => o.client_order_id).sort()).toEqual([clientOrderId(left), ambiguous.result?.client_order_id].sort());

  // The position checks run against the mock: drift made at the mock's book is found there.
  await s.deps.store.mock.placeOrder(
    'alpaca',
    { client_order_id: 'outside-sluice', order_id: 'o-1', instrument: 'MSFT', side: 'buy', quantity: 3, order_type: 'market', limit_price: null, status: 'filled', filled_quantity: 3, fill_price: 10 },
    new Date(),
  );
  await eventually(async () => {
    const ledger = await s.deps.store.getLedger('alpaca', new Date().toISOString().slice(0, 10));
    return ledger.positions.some((p) => p.instrument === 'MSFT' && p.quantity === 3) ? true : undefined;
  }, 10_000, 'the drift adopted from the mock');

  // Cancelling open orders and flattening go to the mock too.
  const mode = await adminFetch(s.url, '/mode', { body: { mode: 'enabled', reason: 'test', cancel_open_orders: true } });
  expect(mode.status).toBe(200);
  const flatten = await readJson<{ signals: Array<{ signal_id: string; connector: string; instrument: string }> }>(await adminFetch(s.url, '/flatten', { body: { reason: 'test' } }));
  expect(flatten.signals.filter((f) => f.connector === 'alpaca').map((f) => f.instrument).sort()).toEqual(['AAPL', 'MSFT', 'NVDA']);
  for (const f of flatten.signals) {
    const done = await eventually(async () => {
      const d = await signalDetail(s.url, f.signal_id);
      return d.status === 'accepted' || d.status === 'executing' ? undefined : d;
    }, 10_000, 'the flatten signal final');
    expect(done.status).toBe('executed');
  }
  expect(await s.deps.store.mock.getPositions('alpaca')).toEqual([]);

  expect(fake.requests()).toEqual([]);
});
