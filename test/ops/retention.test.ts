/**
 * Retention: the scheduled job prunes final signals past the window and keeps everything else;
 * a key that comes back after its signal was pruned is a new signal and a new order.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import { clientOrderId, newSignalId } from '../../src/ingest/identity.js';
import { pruneOnce, startRetention } from '../../src/ops/retention.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { eventually, startTestServer, tempDir } from '../helpers/server.js';

async function accepted(store: Store, key: string, receivedAt: Date) {
  const signalId = newSignalId(receivedAt);
  const out = await store.recordSignal({
    signal_id: signalId,
    source: 'default',
    idempotency_key: key,
    key_kind: 'explicit',
    window_ms: 0,
    fingerprint: key,
    connector: 'mock',
    instrument: key.toUpperCase(),
    client_order_id: clientOrderId(signalId),
    signal: { action: 'cancel', instrument: key.toUpperCase(), order_type: 'market', time_in_force: 'day', meta: {} },
    request_id: key,
    received_at: receivedAt,
  });
  return out.record;
}

async function rejected(store: Store, key: string, receivedAt: Date): Promise<string> {
  const rec = await accepted(store, key, receivedAt);
  // Final the way the gate makes it: rejected by a rule.
  const gated = await store.gateSignal({
    signal_id: rec.signal_id,
    connector: 'mock',
    instrument: rec.instrument,
    now: receivedAt,
    owner: 't',
    lease_until: receivedAt,
    trading_day: receivedAt.toISOString().slice(0, 10),
    order_rate_cap: null,
    settle_open_orders: false,
    decide: () => ({
      decision: { allowed: false, failures: [{ rule: 'mode', code: 'paused', limit: 'cancel only', actual: 'cancel', message: 'paused' }], quantity: null, side: null, exit: false, trimmed: false, reserved_notional: 0, reference_price: null },
      breaker: null,
    }),
  });
  if (gated.kind !== 'rejected') throw new Error(`expected rejected, got ${gated.kind}`);
  return rec.signal_id;
}

test('pruneOnce removes final signals older than the window in batches; accepted ones and the log stay', async () => {
  const store = createSqliteStore({ path: join(tempDir(), 'r.db') });
  const now = new Date('2026-11-22T12:00:00Z');
  const old = new Date(now.getTime() - 8 * 86_400_000);
  const ids: string[] = [];
  for (let i = 0; i < 2_500; i += 1) ids.push(await rejected(store, `old${i}`, old));
  const waiting = await accepted(store, 'waiting', old);
  const young = await rejected(store, 'young', now);
  const head = await store.lastEventSeq();
  expect(await pruneOnce({ store, now: () => now }, 7)).toBe(2_500);
  for (const id of [ids[0], ids[1_234], ids[2_499]]) expect(await store.getSignal(id ?? '')).toBeNull();
  expect((await store.getSignal(waiting.signal_id))?.status).toBe('accepted');
  expect((await store.getSignal(young))?.status).toBe('rejected');
  expect(await store.lastEventSeq()).toBe(head);
  await store.close();
}, 60_000);

test('startRetention prunes on its schedule', async () => {
  const store = createSqliteStore({ path: join(tempDir(), 'r.db') });
  const now = new Date();
  const id = await rejected(store, 'sched', new Date(now.getTime() - 2 * 86_400_000));
  const job = startRetention({ store, logger: pino({ level: 'silent' }), now: () => now }, 1, 50);
  try {
    await eventually(async () => ((await store.getSignal(id)) === null ? true : undefined), 5_000, 'pruned by the job');
  } finally {
    job.stop();
    await store.close();
  }
});

test('a key reused after its signal was pruned is a new order: a new client_order_id, the old fill not booked again', async () => {
  const s = await startTestServer();
  type Final = { signal_id: string; status: string; result: { client_order_id: string; order_id: string } };
  const send = async (): Promise<Final> => {
    const res = await s.send({ id: 'reused-key', action: 'buy', instrument: 'AAPL', quantity: 10, price: 100 }, { headers: { prefer: 'wait=10' } });
    expect(res.status).toBe(200);
    return (await res.json()) as Final;
  };
  try {
    const first = await send();
    expect(first.status).toBe('executed');
    // Retention's pass a year later: the signal goes, and its key with it.
    expect(await pruneOnce({ store: s.deps.store, now: () => new Date(Date.parse('2100-01-01T00:00:00Z')) }, 7)).toBe(1);
    expect(await s.deps.store.getSignal(first.signal_id)).toBeNull();

    const second = await send();
    expect(second.status).toBe('executed');
    expect(second.signal_id).not.toBe(first.signal_id);
    expect(second.result.client_order_id).not.toBe(first.result.client_order_id);
    expect(second.result.order_id).not.toBe(first.result.order_id);
    const orders = (await s.deps.store.mock.listOrders('mock', 10)).items.map((o) => o.client_order_id).sort();
    expect(orders).toEqual([first.result.client_order_id, second.result.client_order_id].sort());
    // The ledger books each real order once: it agrees with the broker.
    expect(await s.deps.store.mock.getPositions('mock')).toMatchObject([{ instrument: 'AAPL', quantity: 20 }]);
    expect((await s.deps.store.getLedger('mock', '2100-01-01')).positions).toMatchObject([{ instrument: 'AAPL', quantity: 20 }]);
  } finally {
    await s.close();
  }
});
