/**
 * `POST /admin/flatten` with orders in flight (docs/execution.md#flatten, docs/http-api.md#mode-and-flatten):
 * the open orders sluice follows are cancelled and waited for, the positions the connector
 * reports are adopted into the ledger, and the closes are sized from what the broker holds, not
 * from a stale ledger. At a fire-and-forget `http` connector, every instrument it traded gets a close.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as v from 'valibot';
import { describe, expect, test } from 'vitest';
import { flattenResponse } from '../../src/http/schemas.js';
import { e2eConfig, sendFinal, signalDetail } from '../helpers/connectors.js';
import { writeOrderBroker } from '../helpers/order-broker.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { eventsAfter, readJson } from './helpers.js';

interface FlattenAnswer {
  status: string;
  signals: Array<{ signal_id: string; connector: string; instrument: string; quantity: number; status: string }>;
  cancelled: Array<{ connector: string; instrument: string; open_orders: number; settled: boolean; error?: string }>;
  adopted: Array<{ connector: string; instrument: string; ledger: number; broker: number }>;
}

type Book = { connectors: Record<string, { positions: Array<{ instrument: string; quantity: number }> }> };

async function flatten(s: TestServer, reason: string): Promise<FlattenAnswer> {
  const answer = await readJson<FlattenAnswer>(await s.admin('/flatten', { body: { reason } }));
  // The documented schema (the OpenAPI document is built from it).
  expect(v.safeParse(flattenResponse, answer).issues ?? []).toEqual([]);
  return answer;
}

async function finalStatus(s: TestServer, signalId: string): Promise<string> {
  return eventually(async () => {
    const { status } = await signalDetail(s.url, signalId);
    return status === 'executed' || status === 'failed' || status === 'rejected' ? status : undefined;
  }, 10_000, `signal ${signalId} final`);
}

describe('POST /admin/flatten', () => {
  test('cancels the open orders, adopts what the broker holds and closes that, not the stale ledger', async () => {
    const dir = tempDir('sluice-flatten-');
    const broker = writeOrderBroker(dir);
    const s = await startTestServer({
      dir,
      config: e2eConfig({
        connector: 'custom',
        connectors: { custom: { type: 'module', path: broker.path, options: broker.options } },
        execution: { order_poll_seconds: 0.1, reconcile_interval_seconds: 3600 },
      }),
    });
    try {
      expect((await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 3, price: 150 })).status).toBe('executed');
      // A limit order resting at the broker: the lane has an order in flight.
      const resting = await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 2, order_type: 'limit', limit_price: 100 });
      expect(resting.result?.status).toBe('new');
      // Shares bought outside sluice: the broker holds 7, the ledger says 3.
      broker.setExtra({ AAPL: 4 });
      const before = await readJson<Book>(await s.admin('/positions'));
      expect(before.connectors.custom?.positions).toMatchObject([{ instrument: 'AAPL', quantity: 3 }]);

      const answer = await flatten(s, 'stale ledger');
      expect(answer.cancelled).toEqual([{ connector: 'custom', instrument: 'AAPL', open_orders: 1, settled: true }]);
      expect(answer.adopted).toEqual([{ connector: 'custom', instrument: 'AAPL', ledger: 3, broker: 7 }]);
      expect(answer.signals).toEqual([{ signal_id: expect.any(String), connector: 'custom', instrument: 'AAPL', quantity: 7, status: 'accepted' }]);
      const close = answer.signals[0]?.signal_id ?? '';

      expect(await finalStatus(s, close)).toBe('executed');
      expect((await signalDetail(s.url, close)).decision).toMatchObject({ allowed: true, quantity: 7, side: 'sell', exit: true });
      expect(broker.calls().filter((c) => c['call'] === 'place').pop()).toEqual({ call: 'place', instrument: 'AAPL', side: 'sell', quantity: 7, order_type: 'market' });
      // The resting order was cancelled (and its end booked) before the close was decided.
      expect((await signalDetail(s.url, resting.signal_id)).orders).toMatchObject([{ status: 'canceled', filled_quantity: 0 }]);
      const after = await readJson<Book>(await s.admin('/positions'));
      expect(after.connectors.custom?.positions).toEqual([]);

      const logged = (await eventsAfter(s)).filter((e) => e.type === 'flatten');
      expect(logged).toHaveLength(1);
      expect(logged[0]?.data).toMatchObject({ reason: 'stale ledger', signals: answer.signals, cancelled: answer.cancelled, adopted: answer.adopted });
    } finally {
      await s.close();
    }
  });

  test('at a fire-and-forget http connector, every instrument it traded gets a close', async () => {
    const received: Array<Record<string, unknown>> = [];
    const receiver: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ order_id: `rcv-${received.length}` }));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/orders`;
    const s = await startTestServer({
      config: e2eConfig({ connector: 'relay', connectors: { relay: { type: 'http', url, signing_secret: `whsec_${randomBytes(32).toString('base64')}`, timeout_ms: 2000 } } }),
    });
    try {
      for (const instrument of ['SPY', 'QQQ']) expect((await sendFinal(s.url, { action: 'buy', instrument, quantity: 1, price: 10 })).status).toBe('executed');
      const answer = await flatten(s, 'relay');
      // sluice knows no fills there: each close says 0, and goes to the receiver as the action itself.
      expect(answer.signals.map(({ connector, instrument, quantity }) => ({ connector, instrument, quantity }))).toEqual([
        { connector: 'relay', instrument: 'QQQ', quantity: 0 },
        { connector: 'relay', instrument: 'SPY', quantity: 0 },
      ]);
      expect(answer.cancelled).toEqual([]);
      expect(answer.adopted).toEqual([]);
      for (const signal of answer.signals) expect(await finalStatus(s, signal.signal_id)).toBe('executed');
      expect(received.filter((b) => b['action'] === 'close').map((b) => b['instrument']).sort()).toEqual(['QQQ', 'SPY']);
    } finally {
      await s.close();
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
