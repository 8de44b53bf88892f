/**
 * Ambiguity is sticky, end to end (docs/execution.md#ambiguous-failures): the real server with an
 * `alpaca` connector that reaches the fake Trading API through a TCP relay the test can stop.
 * The order lands, the connection is cut before the answer (ambiguous), then every connection is
 * refused: the signal stays `executing`, each unanswered lookup is an attempt and a recent error,
 * and once the broker is reachable again the landed order is adopted, never placed twice.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/ingest.js';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { e2eConfig, nextKey, sendAccepted, signalDetail, statusOf, type SignalDetail } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';

/** Relays TCP to `target`; `stop` cuts every connection and refuses new ones until `start`. */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [socket, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      socket.pipe(upstream).pipe(socket);
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

test('an order that landed, then refused connections: executing while lookups go unanswered, adopted once the broker answers', async () => {
  const fake: FakeAlpaca = await startFakeAlpaca();
  cleanup.push(() => fake.close());
  const relay = new Relay(Number(new URL(fake.url).port));
  await relay.start();
  cleanup.push(() => relay.stop());
  const s: TestServer = await startTestServer({
    config: e2eConfig({
      connector: 'alpaca',
      connectors: { alpaca: { type: 'alpaca', base_url: relay.url, key_id: fake.key_id, secret_key: fake.secret_key, live: false, timeout_ms: 5_000 } },
      execution: { max_attempts: 2, backoff: { base_ms: 20, cap_ms: 100 }, breaker: { failure_threshold: 100, half_open_after_seconds: null } },
    }),
  });
  cleanup.push(() => s.close());

  // The next order is placed at the fake and never answered; the relay then cuts the connection.
  fake.failNext('hang_after_place');
  const accepted = await sendAccepted(s.url, { id: nextKey('sticky'), action: 'buy', instrument: 'AAPL', quantity: 2, price: 100 });
  const coid = clientOrderId(accepted.signal_id);
  await eventually(async () => (fake.orders().some((o) => o.client_order_id === coid) ? true : undefined), 10_000, 'the order at the broker');
  await relay.stop();

  const unanswered = (d: SignalDetail) => d.attempts.filter((a) => a.outcome === 'lookup_failed').length;
  const waiting = await eventually(async () => {
    const d = await signalDetail(s.url, accepted.signal_id);
    return unanswered(d) >= 3 ? d : undefined;
  }, 10_000, 'lookups going unanswered');
  expect(waiting.status).toBe('executing');
  expect(waiting.attempts.slice(0, 2).map((a) => a.outcome)).toEqual(['ambiguous', 'retryable']);
  const errors = (await statusOf(s.url)).recent_errors.filter((e) => e.signal_id === accepted.signal_id);
  expect(errors.some((e) => e.component === 'connector:alpaca' && e.message.startsWith('order lookup failed: '))).toBe(true);

  await relay.start();
  const final = await eventually(async () => {
    const d = await signalDetail(s.url, accepted.signal_id);
    return d.status === 'executing' ? undefined : d;
  }, 10_000, 'the signal resolved');
  expect(final.status).toBe('executed');
  expect(final.attempts.at(-1)?.outcome).toBe('adopted');
  expect(final.attempts.map((a) => a.n)).toEqual(final.attempts.map((_, i) => i + 1));
  const orders = fake.orders().filter((o) => o.client_order_id === coid);
  expect(orders).toHaveLength(1);
  expect(final.result).toMatchObject({ order_id: orders[0]?.id, status: 'filled', filled_quantity: 2 });
  expect(fake.violations()).toEqual([]);
}, 60_000);
