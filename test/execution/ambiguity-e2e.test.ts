/**
 * Ambiguity is sticky, end to end (docs/execution.md#ambiguous-failures): the real server with an
 * `alpaca` connector that reaches the fake Trading API through a TCP relay the test can cut.
 * The order lands and its answer never comes (a timeout: ambiguous), then every new connection
 * is refused and every open one is silent: the signal stays `executing`, each unanswered lookup
 * is an attempt and a recent error, and once the broker is reachable again the landed order is
 * adopted, never placed twice.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { e2eConfig, nextKey, sendAccepted, sendFinal, signalDetail, statusOf, type SignalDetail } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Relays TCP to `target`. `cut` refuses new connections and stops forwarding on the open ones
 * (a request on them is never answered) until `start`, which drops them and listens again.
 */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    for (const s of this.sockets) s.destroy();
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

  cut(): void {
    this.server?.close();
    this.server = null;
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
  }

  async stop(): Promise<void> {
    this.cut();
    for (const s of this.sockets) s.destroy();
  }
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

test('an ambiguous timeout, then refused connections: executing while lookups go unanswered, adopted once the broker answers', async () => {
  const fake: FakeAlpaca = await startFakeAlpaca({ fills: 'immediate' });
  cleanup.push(() => fake.close());
  const relay = new Relay(Number(new URL(fake.url).port));
  await relay.start();
  cleanup.push(() => relay.stop());
  const s: TestServer = await startTestServer({
    config: e2eConfig({
      connector: 'alpaca',
      connectors: { alpaca: { type: 'alpaca', base_url: relay.url, key_id: fake.key_id, secret_key: fake.secret_key, live: false, timeout_ms: 1_000 } },
      execution: { max_attempts: 2, backoff: { base_ms: 20, cap_ms: 100 }, breaker: { failure_threshold: 100, half_open_after_seconds: null } },
    }),
  });
  cleanup.push(() => s.close());

  // One plain order first: the fake compiles its validators on first use, not within a timeout.
  expect((await sendFinal(s.url, { action: 'buy', instrument: 'MSFT', quantity: 1, price: 100 })).status).toBe('executed');

  // The next order is placed at the fake and never answered; the relay is cut once it landed.
  fake.failNext('hang_after_place');
  const accepted = await sendAccepted(s.url, { id: nextKey('sticky'), action: 'buy', instrument: 'AAPL', quantity: 2, price: 100 });
  const coid = clientOrderId(accepted.signal_id);
  await eventually(async () => (fake.orders().some((o) => o.client_order_id === coid) ? true : undefined), 10_000, 'the order at the broker');
  relay.cut();

  const unanswered = (d: SignalDetail) => d.attempts.filter((a) => a.outcome === 'lookup_failed').length;
  const waiting = await eventually(async () => {
    const d = await signalDetail(s.url, accepted.signal_id);
    return unanswered(d) >= 3 ? d : undefined;
  }, 10_000, 'lookups going unanswered');
  expect(waiting.status).toBe('executing');
  expect(waiting.attempts[0]).toMatchObject({ n: 1, outcome: 'ambiguous', error: 'timeout after 1000 ms' });
  // Placed again on a refused connection, or on one that no longer answers: never an answer.
  expect(['retryable', 'ambiguous']).toContain(waiting.attempts[1]?.outcome);
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
