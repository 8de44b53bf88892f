/**
 * The real server with an `alpaca` connector pointed at the fake Trading API
 * (test/fakes/alpaca-server.ts), one scripted broker fault per test (docs/execution.md#placing-orders, docs/execution.md#connectors,
 * docs/guarantees.md#idempotency-and-at-most-one-order). Each test checks what a user would: exactly one order per signal at the broker, the final
 * status, the attempts in `GET /admin/signals/{id}` telling what happened, and that nothing sluice
 * sent would have been refused by the real API (the fake validates every request against
 * Alpaca's OpenAPI document). The last block kills the built CLI (`npm run build` first) in the
 * middle of a call and checks what the restart makes of it (docs/execution.md#recovery-after-a-crash).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { startFakeAlpaca, type AlpacaOrderJson, type FakeAlpaca } from '../fakes/alpaca-server.js';
import {
  breakerEvents,
  breakerOf,
  e2eConfig,
  nextKey,
  resetBreaker,
  sendAccepted,
  sendFinal,
  signalDetail,
  statusOf,
  type SignalDetail,
} from '../helpers/connectors.js';
import { eventually, sendTo, spawnSluice, startTestServer, tempDir, writeConfig, type Child, type TestServer } from '../helpers/server.js';

function alpacaConfig(fake: FakeAlpaca, execution: Record<string, unknown> = {}, connector: Record<string, unknown> = {}): Record<string, unknown> {
  return e2eConfig({
    connector: 'alpaca',
    // A 127.0.0.1 URL is not an alpaca.markets host, so `live: false` accepts it.
    connectors: { alpaca: { type: 'alpaca', base_url: fake.url, key_id: fake.key_id, secret_key: fake.secret_key, live: false, timeout_ms: 300, ...connector } },
    execution: { breaker: { failure_threshold: 100, half_open_after_seconds: null }, ...execution },
  });
}

/** POST /v2/orders straight to the fake, as another client of the same account would. */
async function placeAtFake(fake: FakeAlpaca, body: Record<string, unknown>): Promise<AlpacaOrderJson> {
  const res = await fetch(`${fake.url}/v2/orders`, {
    method: 'POST',
    headers: { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as AlpacaOrderJson;
}

/**
 * The fake compiles each JSON schema on first use; done inside a request with a 300 ms timeout,
 * that could turn the first order of a test into a timeout. One open limit order (no position, so
 * no drift) and its lookup compile the validators sluice's calls need.
 */
async function warmUp(fake: FakeAlpaca): Promise<void> {
  const order = await placeAtFake(fake, { symbol: 'WARM', qty: '1', side: 'buy', type: 'limit', limit_price: '1', time_in_force: 'day', client_order_id: 'warm-up-1' });
  const res = await fetch(`${fake.url}/v2/orders:by_client_order_id?client_order_id=${order.client_order_id}`, {
    headers: { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key },
  });
  expect(res.status).toBe(200);
}

const ordersFor = (fake: FakeAlpaca, coid: string) => fake.orders().filter((o) => o.client_order_id === coid);
const postsFor = (fake: FakeAlpaca, coid: string) =>
  fake.requests().filter((r) => r.method === 'POST' && r.path === '/v2/orders' && typeof r.body === 'object' && r.body !== null && (r.body as Record<string, unknown>)['client_order_id'] === coid);
const outcomes = (d: SignalDetail) => d.attempts.map((a) => a.outcome);

describe('alpaca connector against the fake Trading API, end to end', () => {
  let fake: FakeAlpaca;
  let s: TestServer;

  beforeAll(async () => {
    fake = await startFakeAlpaca({ fills: 'immediate' });
    await warmUp(fake);
    s = await startTestServer({ config: alpacaConfig(fake) });
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  /** Sends a market buy and checks what every case shares: one order at most, keys nowhere. */
  async function buy(instrument: string, key = nextKey('alp')): Promise<{ detail: SignalDetail; coid: string }> {
    const out = await sendFinal(s.url, { id: key, action: 'buy', instrument, quantity: 2, price: 100 });
    const detail = await signalDetail(s.url, out.signal_id);
    expect(detail.status).toBe(out.status);
    const coid = clientOrderId(out.signal_id);
    expect(detail.result?.client_order_id).toBe(coid);
    const text = JSON.stringify(detail);
    expect(text).not.toContain(fake.key_id);
    expect(text).not.toContain(fake.secret_key);
    expect(fake.violations()).toEqual([]);
    return { detail, coid };
  }

  test('a plain order: one POST, one order, executed at the fill price', async () => {
    const { detail, coid } = await buy('AAPL');
    expect(detail.status).toBe('executed');
    expect(outcomes(detail)).toEqual(['ok']);
    const orders = ordersFor(fake, coid);
    expect(orders).toHaveLength(1);
    expect(detail.result).toMatchObject({ connector: 'alpaca', order_id: orders[0]?.id, status: 'filled', filled_quantity: 2, fill_price: 100 });
    expect(orders[0]).toMatchObject({ symbol: 'AAPL', qty: '2', side: 'buy', type: 'market' });
  });

  test('422 "client_order_id must be unique" for an order placed under the signal\'s id meanwhile: adopted, not doubled', async () => {
    // The client_order_id is derived from the signal (docs/execution.md#client-order-ids): an
    // order under it exists only if something placed this very signal. Here it lands while
    // sluice waits out a 429, so its retry is refused with 422.
    fake.failNext('429');
    const accepted = await sendAccepted(s.url, { action: 'buy', instrument: 'MSFT', quantity: 2, price: 100 });
    const coid = clientOrderId(accepted.signal_id);
    await eventually(async () => (postsFor(fake, coid).length === 1 ? true : undefined), 10_000, 'the rate-limited first POST');
    const earlier = await placeAtFake(fake, { symbol: 'MSFT', qty: '2', side: 'buy', type: 'market', time_in_force: 'day', client_order_id: coid });

    const detail = await eventually(async () => {
      const d = await signalDetail(s.url, accepted.signal_id);
      return d.status === 'executed' || d.status === 'failed' ? d : undefined;
    }, 10_000, 'the signal final');
    expect(detail.status).toBe('executed');
    // The 422 is resolved inside the connector call (look up, adopt): the retry succeeded.
    expect(outcomes(detail)).toEqual(['retryable', 'ok']);
    expect(detail.result).toMatchObject({ order_id: earlier.id, status: 'filled', filled_quantity: 2 });
    expect(ordersFor(fake, coid)).toHaveLength(1);
    expect(postsFor(fake, coid)).toHaveLength(3); // sluice's rate-limited one, ours, sluice's refused one
  });

  test('422 inside the retry loop: after a 500 the lookup is rate limited, the re-place gets 422 and adopts', async () => {
    fake.failNext('500_after_place'); // the first POST places the order, then answers 500
    fake.failNext('429'); // the lookup that follows is refused, so sluice places again
    const { detail, coid } = await buy('NVDA');
    expect(detail.status).toBe('executed');
    expect(detail.attempts[0]).toMatchObject({ n: 1, outcome: 'ambiguous', error: 'server error (500): internal server error' });
    expect(detail.attempts[1]).toMatchObject({ n: 2, outcome: 'ok', error: null });
    expect(detail.attempts).toHaveLength(2);
    const orders = ordersFor(fake, coid);
    expect(orders).toHaveLength(1);
    expect(detail.result?.order_id).toBe(orders[0]?.id);
    expect(postsFor(fake, coid)).toHaveLength(2);
  });

  test('500 for an order that was in fact placed: looked up by client_order_id and adopted', async () => {
    fake.failNext('500_after_place');
    const { detail, coid } = await buy('AMZN');
    expect(detail.status).toBe('executed');
    expect(detail.attempts).toMatchObject([
      { n: 1, outcome: 'ambiguous', error: 'server error (500): internal server error' },
      { n: 2, outcome: 'adopted', error: null },
    ]);
    const orders = ordersFor(fake, coid);
    expect(orders).toHaveLength(1);
    expect(detail.result).toMatchObject({ order_id: orders[0]?.id, status: 'filled', filled_quantity: 2 });
    expect(postsFor(fake, coid)).toHaveLength(1);
  });

  test('429 with X-RateLimit-Reset: retried, not before the reset, one order', async () => {
    fake.failNext('429');
    const { detail, coid } = await buy('TSLA');
    expect(detail.status).toBe('executed');
    expect(detail.attempts).toMatchObject([
      { n: 1, outcome: 'retryable', error: 'rate limited (429): rate limit exceeded' },
      { n: 2, outcome: 'ok', error: null },
    ]);
    expect(ordersFor(fake, coid)).toHaveLength(1);
    const posts = postsFor(fake, coid);
    expect(posts).toHaveLength(2);
    // The fake's reset is ceil(now in s) + 1 at the refused request, so it is no earlier than
    // this; the retry must not come before it (a few ms of timer rounding allowed).
    const [first, second] = posts.map((p) => Date.parse(p.at));
    if (first === undefined || second === undefined) throw new Error('expected two POSTs');
    const resetNoEarlierThan = (Math.ceil(first / 1000) + 1) * 1000;
    expect(second).toBeGreaterThanOrEqual(resetNoEarlierThan - 5);
  });

  test('accepted, then the broker hangs: timeout, lookup, adopted', async () => {
    fake.failNext('hang_after_place');
    const { detail, coid } = await buy('GOOG');
    expect(detail.status).toBe('executed');
    expect(detail.attempts).toMatchObject([
      { n: 1, outcome: 'ambiguous', error: 'timeout after 300 ms' },
      { n: 2, outcome: 'adopted', error: null },
    ]);
    const orders = ordersFor(fake, coid);
    expect(orders).toHaveLength(1);
    expect(detail.result?.order_id).toBe(orders[0]?.id);
    expect(postsFor(fake, coid)).toHaveLength(1);
  });

  test("403 insufficient buying power: failed with Alpaca's message, no retry, no order", async () => {
    fake.failNext('403_buying_power');
    const { detail, coid } = await buy('META');
    expect(detail.status).toBe('failed');
    expect(detail.attempts).toMatchObject([{ n: 1, outcome: 'permanent', error: 'insufficient buying power' }]);
    expect(detail.result).toMatchObject({ connector: 'alpaca', order_id: null, status: 'error', error: 'insufficient buying power' });
    expect(ordersFor(fake, coid)).toHaveLength(0);
    expect(postsFor(fake, coid)).toHaveLength(1);
  });

  test('cancel: the open orders of the instrument are cancelled at Alpaca', async () => {
    const open = await sendFinal(s.url, { action: 'buy', instrument: 'INTC', quantity: 1, order_type: 'limit', limit_price: 20, price: 21 });
    expect(open.status).toBe('executed');
    expect(open.result?.status).toBe('new'); // a limit order below the price rests at the fake
    const cancel = await sendFinal(s.url, { action: 'cancel', instrument: 'INTC' });
    expect(cancel.status).toBe('executed');
    expect(cancel.result).toMatchObject({ connector: 'alpaca', status: 'canceled' });
    expect(ordersFor(fake, open.result?.client_order_id ?? '')).toMatchObject([{ status: 'canceled' }]);
    expect(fake.violations()).toEqual([]);
  });

  test('cancel: a 429 is transient and retried like any other call (docs/execution.md#placing-orders)', async () => {
    const open = await sendFinal(s.url, { action: 'buy', instrument: 'AMD', quantity: 1, order_type: 'limit', limit_price: 20, price: 21 });
    expect(open.result?.status).toBe('new');
    fake.failNext('429'); // the cancel's first request (listing open orders) is rate limited
    const cancel = await sendFinal(s.url, { action: 'cancel', instrument: 'AMD' });
    expect(cancel.result).toMatchObject({ connector: 'alpaca', status: 'canceled' });
    expect(cancel.status).toBe('executed');
    expect(ordersFor(fake, open.result?.client_order_id ?? '')).toMatchObject([{ status: 'canceled' }]);
    expect(fake.violations()).toEqual([]);
  });

  test('the same delivery twice: one signal, one order', async () => {
    const key = nextKey('twice');
    const body = { id: key, action: 'buy', instrument: 'ORCL', quantity: 1, price: 100 };
    const first = await sendTo(s.url, body, { prefer: 'wait=10' });
    expect(first.status).toBe(200);
    const second = await sendTo(s.url, body, { prefer: 'wait=10' });
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.json()).toMatchObject({ status: 'duplicate', original_status: 'executed' });
    expect(ordersFor(fake, clientOrderId(((await first.json()) as { signal_id: string }).signal_id))).toHaveLength(1);
    expect(fake.violations()).toEqual([]);
  });
});

describe('alpaca account blocked', () => {
  let fake: FakeAlpaca;
  let s: TestServer;

  beforeAll(async () => {
    fake = await startFakeAlpaca({ fills: 'immediate' });
    await warmUp(fake);
    s = await startTestServer({ config: alpacaConfig(fake, { reconcile_interval_seconds: 0.2 }) });
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  test('a reconcile pass that finds account_blocked opens the breaker: degraded, increases rejected, reset closes it', async () => {
    expect((await statusOf(s.url)).status).toBe('ok');
    expect((await breakerOf(s.url, 'alpaca')).state).toBe('closed');

    fake.failNext('account_blocked');
    const breaker = await eventually(async () => {
      const b = await breakerOf(s.url, 'alpaca');
      return b.state === 'open' ? b : undefined;
    }, 10_000, 'the alpaca breaker to open');
    expect(breaker.opened_at).not.toBeNull();

    const status = await statusOf(s.url);
    expect(status.status).toBe('degraded');
    expect(status.breakers['alpaca']?.state).toBe('open');
    expect(status.degraded.map((d) => d.component)).toContain('breaker:alpaca');
    expect(breakerEvents(s.dir)).toEqual([
      { type: 'breaker.opened', data: expect.objectContaining({ connector: 'alpaca', reason: 'alpaca account_blocked', state: 'open' }) },
    ]);

    // The account answers unblocked again, but the breaker stays open until an operator resets it.
    const before = fake.orders().length;
    const refused = await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 });
    expect(refused.status).toBe('rejected');
    expect(refused.decision?.failures.map((f) => f.rule)).toContain('breaker_open');
    expect(fake.orders()).toHaveLength(before);

    expect((await resetBreaker(s.url, 'alpaca')).state).toBe('closed');
    const placed = await sendFinal(s.url, { action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 });
    expect(placed.status).toBe('executed');
    expect(fake.orders()).toHaveLength(before + 1);
    expect(fake.violations()).toEqual([]);
  });
});

/**
 * Stands in for a network that swallowed a request: answers the account checks the reconciler
 * makes and holds every request `hold` picks, forever.
 */
async function startBlackHole(hold: (req: IncomingMessage) => boolean): Promise<{ url: string; held: () => number; close: () => Promise<void> }> {
  const held: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    if (hold(req)) {
      held.push(req);
      return;
    }
    const body = req.url?.startsWith('/v2/account') ? { trading_blocked: false, account_blocked: false } : [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held: () => held.length,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('alpaca after kill -9 mid-execution (the built CLI)', () => {
  const BRACKET = { action: 'buy', quantity: 2, price: 100, take_profit: { limit_price: 120 }, stop_loss: { stop_price: 90 } };

  /**
   * Starts the CLI with the connector at `firstBaseUrl`, sends `body`, waits until `inFlight()`
   * says its call is on its way, kills the process with SIGKILL and starts a new one on the same
   * database with the connector pointed at the fake. Resolves with the signal once final, and
   * the second process (the caller stops it).
   */
  async function killMidCall(opts: {
    fake: FakeAlpaca;
    firstBaseUrl: string;
    body: Record<string, unknown>;
    inFlight: (coid: string) => boolean;
  }): Promise<{ detail: SignalDetail; coid: string; second: Child }> {
    const dir = tempDir();
    const configPath = writeConfig(dir, alpacaConfig(opts.fake, {}, { base_url: opts.firstBaseUrl, timeout_ms: 20_000 }));
    const first = await spawnSluice({ dir, configPath });
    let second: Child | undefined;
    try {
      const accepted = await sendAccepted(first.url, { id: nextKey('kill9'), ...opts.body });
      const coid = clientOrderId(accepted.signal_id);
      await eventually(async () => (opts.inFlight(coid) ? true : undefined), 10_000, 'the call to be on its way');
      first.proc.kill('SIGKILL');
      await first.exited;

      writeConfig(dir, alpacaConfig(opts.fake, {}, { timeout_ms: 2000 }));
      second = await spawnSluice({ dir, configPath });
      const url = second.url;
      const detail = await eventually(async () => {
        const d = await signalDetail(url, accepted.signal_id);
        return d.status === 'accepted' || d.status === 'executing' ? undefined : d;
      }, 15_000, 'the signal to be reconciled after the restart');
      return { detail, coid, second };
    } catch (err) {
      if (second !== undefined) await stopChild(second);
      throw err;
    } finally {
      if (first.proc.exitCode === null && first.proc.signalCode === null) first.proc.kill('SIGKILL');
    }
  }

  async function stopChild(child: Child): Promise<void> {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
    child.proc.kill('SIGTERM');
    await child.exited;
  }

  test('killed before the order reached Alpaca: placed once at restart, as the bracket it was decided to be', async () => {
    const fake = await startFakeAlpaca({ fills: 'immediate' });
    await warmUp(fake);
    const blackHole = await startBlackHole((req) => req.method === 'POST');
    try {
      const { detail, coid, second } = await killMidCall({ fake, firstBaseUrl: blackHole.url, body: { instrument: 'AAPL', ...BRACKET }, inFlight: () => blackHole.held() > 0 });
      try {
        expect(detail.status).toBe('executed');
        expect(ordersFor(fake, coid)).toHaveLength(1);
        const posts = postsFor(fake, coid);
        expect(posts).toHaveLength(1);
        // The order placed at restart must be the one that was decided: a bracket, not a bare buy.
        expect(posts[0]?.body).toMatchObject({
          symbol: 'AAPL',
          qty: '2',
          side: 'buy',
          type: 'market',
          order_class: 'bracket',
          take_profit: { limit_price: '120' },
          stop_loss: { stop_price: '90' },
        });
        expect(fake.violations()).toEqual([]);
      } finally {
        await stopChild(second);
      }
    } finally {
      await blackHole.close();
      await fake.close();
    }
  });

  test('killed after Alpaca took the order: adopted at restart, never placed again', async () => {
    const fake = await startFakeAlpaca({ fills: 'immediate' });
    await warmUp(fake);
    fake.failNext('hang_after_place'); // the order lands, the answer never comes
    try {
      const { detail, coid, second } = await killMidCall({ fake, firstBaseUrl: fake.url, body: { instrument: 'MSFT', ...BRACKET }, inFlight: (coid) => ordersFor(fake, coid).length > 0 });
      try {
        expect(detail.status).toBe('executed');
        expect(outcomes(detail)).toEqual(['adopted']);
        const orders = ordersFor(fake, coid);
        expect(orders).toHaveLength(1);
        expect(orders[0]).toMatchObject({ order_class: 'bracket' });
        expect(detail.result).toMatchObject({ order_id: orders[0]?.id, status: 'filled', filled_quantity: 2 });
        expect(postsFor(fake, coid)).toHaveLength(1); // only the one made before the kill
        expect(fake.violations()).toEqual([]);
      } finally {
        await stopChild(second);
      }
    } finally {
      await fake.close();
    }
  });

  test('killed during a cancel: the cancel is done at restart, not reported executed without happening', async () => {
    const fake = await startFakeAlpaca({ fills: 'immediate' });
    await warmUp(fake);
    // An open order of the instrument, placed earlier.
    const open = await placeAtFake(fake, { symbol: 'CXL', qty: '1', side: 'buy', type: 'limit', limit_price: '5', time_in_force: 'day', client_order_id: 'earlier-open-1' });
    // The cancel lists the open orders first; that request is swallowed.
    const blackHole = await startBlackHole((req) => req.method === 'GET' && (req.url ?? '').startsWith('/v2/orders?'));
    try {
      const { detail, second } = await killMidCall({ fake, firstBaseUrl: blackHole.url, body: { action: 'cancel', instrument: 'CXL' }, inFlight: () => blackHole.held() > 0 });
      try {
        expect(ordersFor(fake, open.client_order_id)).toMatchObject([{ status: 'canceled' }]);
        expect(detail.status).toBe('executed');
        expect(detail.result).toMatchObject({ connector: 'alpaca', status: 'canceled' });
        expect(fake.violations()).toEqual([]);
      } finally {
        await stopChild(second);
      }
    } finally {
      await blackHole.close();
      await fake.close();
    }
  });
});
