/**
 * Orders and streams that need an operator, over real HTTP (docs/http-api.md#status,
 * docs/configuration.md#alerts): an order the broker rejects is alerted; a connector's order
 * stream down for longer than twice `order_poll_seconds` is `degraded` (`stream:<connector>`),
 * alerted, shown in `streams`, and recovers when the stream is back (a reconnect counted).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { e2eConfig, sendFinal } from '../helpers/connectors.js';
import { writeOrderBroker } from '../helpers/order-broker.js';
import { eventually, startTestServer, tempDir } from '../helpers/server.js';
import { bearer, eventsAfter, readJson } from './helpers.js';

interface StatusView {
  status: string;
  degraded: Array<{ component: string; reason: string; since: string }>;
  streams: Array<{ connector: string; connected: boolean; reason: string | null; since: string }>;
}

/** A receiver on 127.0.0.1 that takes every alert (200) and keeps its text. */
async function startReceiver(): Promise<{ url: string; texts: string[]; close: () => Promise<void> }> {
  const texts: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      texts.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string }).text);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    texts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('orders and streams an operator must know about', () => {
  test('a rejected order is alerted; a stream down past twice order_poll_seconds is degraded and alerted, then recovers', async () => {
    const receiver = await startReceiver();
    const dir = tempDir('sluice-streams-');
    const broker = writeOrderBroker(dir, { stream: true });
    const s = await startTestServer({
      dir,
      config: {
        ...e2eConfig({
          connector: 'custom',
          connectors: { custom: { type: 'module', path: broker.path, options: broker.options } },
          execution: { order_poll_seconds: 0.1, reconcile_interval_seconds: 3600 },
        }),
        alerts: { webhook_url: receiver.url, backoff: { base_ms: 10, cap_ms: 50 } },
      },
    });
    const status = async () => readJson<StatusView>(await s.admin('/status'));
    // The configured mock's in-process stream is listed too; this test is about the module's.
    const custom = (view: StatusView) => view.streams.filter((x) => x.connector === 'custom');
    const alerted = (pattern: RegExp, what: string) => eventually(async () => receiver.texts.find((t) => pattern.test(t)), 10_000, what);
    try {
      // 1. The broker rejects an order: the signal fails, and the operator hears of it.
      const rejected = await sendFinal(s.url, { action: 'sell', instrument: 'REJB', quantity: 4, price: 10 });
      expect(rejected.status).toBe('failed');
      const coid = rejected.result?.client_order_id ?? '';
      expect(await alerted(/order rejected/, 'the rejected-order alert')).toMatch(new RegExp(`\\] order rejected: custom sell 4 REJB \\(client_order_id ${coid}\\), nothing filled$`));

      // 2. The stream is up: shown, and nothing is degraded.
      const up = await eventually(async () => {
        const now = await status();
        return custom(now)[0]?.connected === true ? now : undefined;
      }, 10_000, 'the stream up');
      expect(up).toMatchObject({ status: 'ok', degraded: [] });
      expect(custom(up)).toMatchObject([{ connector: 'custom', connected: true, reason: null }]);

      // 3. Down, and staying down: degraded once it has been down for 2 × 0.1 s.
      broker.setStream('severed');
      const down = await eventually(async () => {
        const now = await status();
        return now.degraded.some((d) => d.component === 'stream:custom') ? now : undefined;
      }, 10_000, 'stream:custom degraded');
      expect(down.status).toBe('degraded');
      expect(custom(down)).toEqual([{ connector: 'custom', connected: false, reason: 'test: severed', since: expect.any(String) }]);
      const since = custom(down)[0]?.since ?? '';
      expect(down.degraded).toEqual([
        { component: 'stream:custom', reason: `order stream down since ${since} (test: severed); open orders are polled every 0.1 s`, since: expect.any(String) },
      ]);
      expect(await alerted(/degraded: stream:custom/, 'the degraded alert')).toMatch(/degraded: stream:custom: order stream down since/);

      // 4. Back up: recovered, alerted, and the reconnect counted.
      broker.setStream('up');
      await eventually(async () => ((await status()).status === 'ok' ? true : undefined), 10_000, 'status ok again');
      await alerted(/recovered: stream:custom/, 'the recovery alert');
      const types = (await eventsAfter(s)).filter((e) => e.data.component === 'stream:custom').map((e) => e.type);
      expect(types).toEqual(['degraded.entered', 'degraded.exited']);
      const metrics = await (await fetch(`${s.url}/metrics`, { headers: bearer() })).text();
      expect(metrics).toContain('sluice_order_stream_reconnects_total{connector="custom"} 1');
    } finally {
      await s.close();
      await receiver.close();
    }
  });
});
