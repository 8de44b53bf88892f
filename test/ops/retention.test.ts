/** Retention: the scheduled job prunes final signals past the window and keeps everything else. */
import { join } from 'node:path';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import { clientOrderId, newSignalId } from '../../src/ingest/ingest.js';
import { pruneOnce, startRetention } from '../../src/ops/retention.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { eventually, tempDir } from '../helpers/server.js';

async function accepted(store: Store, key: string, receivedAt: Date) {
  const out = await store.recordSignal({
    signal_id: newSignalId(receivedAt),
    source: 'default',
    idempotency_key: key,
    key_kind: 'explicit',
    window_ms: 0,
    fingerprint: key,
    connector: 'mock',
    instrument: key.toUpperCase(),
    client_order_id: clientOrderId('default', key),
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
