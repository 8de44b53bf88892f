/**
 * A restart on the same database (docs/execution.md#recovery-after-a-crash): the mode is kept, `accepted` signals resume,
 * and `executing` ones are reconciled by client_order_id without a second order — whether the
 * crash came after the broker took the order or before.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decideWithBreaker } from '../../src/execution/gate.js';
import { clientOrderId, newSignalId } from '../../src/ingest/identity.js';
import { MOCK_CAPABILITIES } from '../../src/connectors/mock.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { Signal } from '../../src/domain/types.js';
import { loadConfig } from '../../src/config/load.js';
import { eventually, startTestServer, tempDir } from '../helpers/server.js';

const policy = loadConfig({}).policy;

describe('restart on the same database', () => {
  test('the stored mode stands over initial_mode', async () => {
    const dir = tempDir();
    const first = await startTestServer({ dir });
    expect((await first.admin('/mode', { body: { mode: 'paused', reason: 'maintenance' } })).status).toBe(200);
    await first.close();
    const second = await startTestServer({ dir, config: { policy: { initial_mode: 'enabled' } } });
    const status = (await (await second.admin('/status')).json()) as { mode: string; mode_reason: string };
    expect(status).toMatchObject({ mode: 'paused', mode_reason: 'maintenance' });
    await second.close();
  });

  test('accepted signals resume and executing ones are reconciled with exactly one order each', async () => {
    const dir = tempDir();
    const store = createSqliteStore({ path: join(dir, 'sluice.db') });
    const now = new Date();
    const mk = async (key: string, instrument: string) => {
      const signal: Signal = { id: key, action: 'buy', instrument, quantity: 2, price: 50, order_type: 'market', time_in_force: 'day', meta: {} };
      const signalId = newSignalId(now);
      const out = await store.recordSignal({
        signal_id: signalId,
        source: 'default',
        idempotency_key: key,
        key_kind: 'explicit',
        window_ms: 60_000,
        fingerprint: `fp-${key}`,
        connector: 'mock',
        instrument,
        client_order_id: clientOrderId(signalId),
        signal,
        request_id: `req-${key}`,
        received_at: now,
      });
      if (out.kind !== 'inserted') throw new Error('not inserted');
      return out.record;
    };
    const gate = async (signalId: string, signal: Signal) => {
      const g = await store.gateSignal({
        signal_id: signalId,
        connector: 'mock',
        instrument: signal.instrument,
        now,
        owner: 'crashed-instance',
        lease_until: new Date(now.getTime() + 30_000),
        trading_day: now.toISOString().slice(0, 10),
        order_rate_cap: policy.max_orders_per_minute,
        settle_open_orders: false,
        decide: (state, breaker) => decideWithBreaker(signal, state, breaker, MOCK_CAPABILITIES, policy, { half_open_after_seconds: null }, now),
      });
      if (g.kind !== 'executing') throw new Error(`gate: ${g.kind}`);
      return g.decision;
    };
    // Three accepted, never started.
    const accepted = [await mk('acc-1', 'AAA'), await mk('acc-2', 'AAA'), await mk('acc-3', 'BBB')];
    // Crash after the broker took the order: executing, mock order present.
    const landed = await mk('exe-landed', 'CCC');
    const decision = await gate(landed.signal_id, landed.signal);
    await store.mock.placeOrder(
      'mock',
      { client_order_id: landed.client_order_id, order_id: 'mock-pre-crash', instrument: 'CCC', side: 'buy', quantity: decision.quantity ?? 0, order_type: 'market', limit_price: null, status: 'filled', filled_quantity: 2, fill_price: 50 },
      now,
    );
    // Crash before the order was sent: executing, no mock order.
    const lost = await mk('exe-lost', 'DDD');
    await gate(lost.signal_id, lost.signal);
    await store.close();

    const s = await startTestServer({ dir });
    const all = [...accepted, landed, lost];
    for (const record of all) {
      await eventually(async () => {
        const body = (await (await s.admin(`/signals/${record.signal_id}`)).json()) as { status: string };
        return body.status === 'executed' ? body : undefined;
      }, 10_000, `${record.idempotency_key} executed`);
    }
    const orders = (await (await s.admin('/connectors/mock/orders?limit=500')).json()) as { items: Array<{ client_order_id: string; order_id: string }> };
    for (const record of all) expect(orders.items.filter((o) => o.client_order_id === record.client_order_id)).toHaveLength(1);
    // The landed order was adopted, not placed again.
    expect(orders.items.find((o) => o.client_order_id === landed.client_order_id)?.order_id).toBe('mock-pre-crash');
    const landedDetail = (await (await s.admin(`/signals/${landed.signal_id}`)).json()) as { attempts: Array<{ outcome: string }>; result: { order_id: string } };
    expect(landedDetail.attempts.map((a) => a.outcome)).toEqual(['adopted']);
    expect(landedDetail.result.order_id).toBe('mock-pre-crash');
    // Positions: the ledger booked each fill once.
    const positions = (await (await s.admin('/positions')).json()) as { connectors: { mock: { positions: Array<{ instrument: string; quantity: number }> } } };
    expect(positions.connectors.mock.positions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ instrument: 'AAA', quantity: 4 }),
        expect.objectContaining({ instrument: 'BBB', quantity: 2 }),
        expect.objectContaining({ instrument: 'CCC', quantity: 2 }),
        expect.objectContaining({ instrument: 'DDD', quantity: 2 }),
      ]),
    );
    await s.close();
  });
});
