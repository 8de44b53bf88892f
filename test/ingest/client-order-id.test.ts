/**
 * The client_order_id (docs/execution.md#client-order-ids): one per signal, the same for
 * everything that handles that signal (a spool replay included), a new one for a new signal
 * under a reused key, and never longer than brokers take.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import { clientOrderId, newSignalId } from '../../src/ingest/identity.js';
import { Spool } from '../../src/ingest/spool.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { NewSignal, SignalRecord } from '../../src/store/store.js';
import { tempDir } from '../helpers/server.js';

const at = new Date('2026-11-23T15:00:00.000Z');

test('derived from the signal id alone: deterministic, distinct per signal, sl- and at most 48 characters', () => {
  const ids = Array.from({ length: 1000 }, () => newSignalId(at));
  const coids = ids.map(clientOrderId);
  expect(ids.map(clientOrderId)).toEqual(coids);
  expect(new Set(coids).size).toBe(ids.length);
  for (const coid of coids) expect(coid).toMatch(/^sl-[A-Za-z0-9_-]{40}$/);
  expect(Math.max(...coids.map((c) => c.length))).toBeLessThanOrEqual(48);
});

test('a spooled delivery is replayed with the signal id and client_order_id it was given', async () => {
  const spool = new Spool({ dir: tempDir(), maxBytes: 1 << 20, logger: pino({ level: 'silent' }) });
  spool.open();
  const signalId = newSignalId(at);
  const input: NewSignal = {
    signal_id: signalId,
    source: 'default',
    idempotency_key: 'k-1',
    key_kind: 'explicit',
    window_ms: 60_000,
    fingerprint: 'f'.repeat(64),
    connector: 'mock',
    instrument: 'AAPL',
    client_order_id: clientOrderId(signalId),
    signal: { id: 'k-1', action: 'buy', instrument: 'AAPL', quantity: 1, order_type: 'market', price: 100, time_in_force: 'day', meta: {} },
    request_id: 'req-1',
    received_at: at,
  };
  expect(spool.append(input).ok).toBe(true);
  const store = createSqliteStore({ path: join(tempDir(), 'sluice.db') });
  try {
    const accepted: SignalRecord[] = [];
    const counts = await spool.replay({ record: (line) => store.recordSignal(line), accepted: (record) => accepted.push(record), refused: async () => undefined });
    expect(counts).toMatchObject({ recorded: 1 });
    expect(accepted.map((r) => [r.signal_id, r.client_order_id])).toEqual([[signalId, clientOrderId(signalId)]]);
  } finally {
    spool.close();
    await store.close();
  }
});
