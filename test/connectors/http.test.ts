/**
 * The http connector and callJson against a real receiver on 127.0.0.1 that verifies every
 * delivery with the `standardwebhooks` library, as a user's receiver would.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { OrderRequest } from '../../src/connectors/connector.js';
import { callJson } from '../../src/connectors/http-client.js';
import { cancelWebhookId, createHttpConnector, signStandardWebhook } from '../../src/connectors/http.js';
import type { HttpConnectorConfig } from '../../src/connectors/http.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;

interface Received {
  headers: Record<string, string>;
  body: string;
  json: unknown;
  verified: boolean;
  verifyError?: string;
}

type Script = (req: IncomingMessage, res: ServerResponse) => void;

/** A receiver on 127.0.0.1 that verifies every delivery with the standardwebhooks library. */
let server: Server;
let url: string;
const received: Received[] = [];
const script: Script[] = [];
const ok200: Script = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const entry: Received = { headers, body, json: undefined, verified: false };
      try {
        entry.json = new Webhook(secret).verify(body, headers);
        entry.verified = true;
      } catch (err) {
        entry.verifyError = err instanceof Error ? err.message : String(err);
      }
      received.push(entry);
      (script.shift() ?? ok200)(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  received.length = 0;
  script.length = 0;
});

const config = (over: Partial<HttpConnectorConfig> = {}): HttpConnectorConfig => ({
  type: 'http',
  url,
  signing_secret: secret,
  timeout_ms: 2000,
  ...over,
});
const realNow = () => new Date();

const order: OrderRequest = {
  client_order_id: 'sl-tv-7f3a9c2e1b',
  signal_id: 'sig_01',
  instrument: 'AAPL',
  action: 'buy',
  side: 'buy',
  quantity: 10,
  order_type: 'limit',
  limit_price: 150.1,
  time_in_force: 'day',
  take_profit: { limit_price: 160 },
  stop_loss: { stop_price: 145 },
  reference_price: 150.25,
  signal: {
    action: 'buy',
    instrument: 'AAPL',
    quantity: 10,
    order_type: 'limit',
    limit_price: 150.1,
    price: 150.25,
    time_in_force: 'day',
    take_profit: { limit_price: 160 },
    stop_loss: { stop_price: 145 },
    meta: {},
  },
};

/** What a forwarded request carries besides its action. */
const base = () => ({
  client_order_id: order.client_order_id,
  signal_id: 'sig_01',
  instrument: 'AAPL',
  order_type: 'market' as const,
  time_in_force: 'day' as const,
  signal: { action: 'close' as const, instrument: 'AAPL', order_type: 'market' as const, time_in_force: 'day' as const, meta: {} },
});

describe('http connector: place', () => {
  test('POSTs the order as signed JSON; webhook-id is the client_order_id; 2xx = new, nothing filled', async () => {
    script.push((_req, res) => res.writeHead(201, { 'content-type': 'application/json' }).end('{"order_id":"R-42"}'));
    const c = createHttpConnector('relay', config(), { now: realNow });
    const result = await c.place(order);

    expect(result).toEqual({
      ok: true,
      value: {
        client_order_id: order.client_order_id,
        order_id: 'R-42',
        instrument: 'AAPL',
        side: 'buy',
        quantity: 10,
        order_type: 'limit',
        limit_price: 150.1,
        status: 'new',
        filled_quantity: 0,
        fill_price: null,
      },
    });
    expect(received).toHaveLength(1);
    const r = received[0];
    expect(r?.verifyError).toBeUndefined();
    expect(r?.verified).toBe(true);
    expect(r?.headers['webhook-id']).toBe(order.client_order_id);
    expect(r?.headers['content-type']).toBe('application/json');
    expect(r?.json).toEqual({
      type: 'order',
      action: 'buy',
      client_order_id: order.client_order_id,
      signal_id: 'sig_01',
      instrument: 'AAPL',
      side: 'buy',
      quantity: 10,
      order_type: 'limit',
      limit_price: 150.1,
      stop_price: null,
      time_in_force: 'day',
      take_profit: { limit_price: 160 },
      stop_loss: { stop_price: 145 },
      reference_price: 150.25,
      signal: order.signal,
    });
  });

  test('order_id falls back to `id`, then to the client_order_id', async () => {
    script.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":7}'));
    script.push((_req, res) => res.writeHead(204).end());
    const c = createHttpConnector('relay', config(), { now: realNow });
    const first = await c.place(order);
    const second = await c.place(order);
    expect(first.ok && first.value.order_id).toBe('7');
    expect(second.ok && second.value.order_id).toBe(order.client_order_id);
  });

  test('503 with Retry-After: retryable + ambiguous with retry_after_ms; the retry carries the SAME webhook-id', async () => {
    script.push((_req, res) => res.writeHead(503, { 'retry-after': '2', 'content-type': 'application/json' }).end('{"message":"busy"}'));
    const c = createHttpConnector('relay', config(), { now: realNow });

    const first = await c.place(order);
    expect(first).toMatchObject({ ok: false, retryable: true, ambiguous: true, retry_after_ms: 2000, http_status: 503 });

    const retry = await c.place(order);
    expect(retry.ok).toBe(true);
    expect(received).toHaveLength(2);
    expect(received.every((r) => r.verified)).toBe(true);
    expect(received[0]?.headers['webhook-id']).toBe(order.client_order_id);
    expect(received[1]?.headers['webhook-id']).toBe(received[0]?.headers['webhook-id']);
    expect(received[1]?.body).toBe(received[0]?.body);
  });

  test('429 is retryable and not ambiguous, Retry-After honoured', async () => {
    script.push((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end('slow down'));
    const c = createHttpConnector('relay', config(), { now: realNow });
    expect(await c.place(order)).toMatchObject({ ok: false, retryable: true, ambiguous: false, retry_after_ms: 7000, http_status: 429 });
  });

  test('400 is permanent with the receiver message', async () => {
    script.push((_req, res) =>
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"unknown instrument AAPL"}}'),
    );
    const c = createHttpConnector('relay', config(), { now: realNow });
    expect(await c.place(order)).toEqual({
      ok: false,
      retryable: false,
      ambiguous: false,
      reason: 'unknown instrument AAPL',
      http_status: 400,
    });
  });

  test('a timeout is retryable and ambiguous (the receiver got the order)', async () => {
    script.push(() => {
      // Never answer: the client's timeout must end the call.
    });
    const c = createHttpConnector('relay', config({ timeout_ms: 200 }), { now: realNow });
    const result = await c.place(order);
    expect(result).toMatchObject({ ok: false, retryable: true, ambiguous: true });
    expect(result.ok ? '' : result.reason).toMatch(/timeout after 200 ms/);
    // The request was sent before the timeout ended the call (under load it may be logged late).
    for (let i = 0; i < 100 && received.length === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toHaveLength(1);
  });

  test('a connection reset after sending is retryable and ambiguous', async () => {
    script.push((req) => req.socket.destroy());
    const c = createHttpConnector('relay', config(), { now: realNow });
    expect(await c.place(order)).toMatchObject({ ok: false, retryable: true, ambiguous: true });
  });

  test('connection refused is retryable and NOT ambiguous (nothing was sent)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const c = createHttpConnector('relay', config({ url: `http://127.0.0.1:${port}/orders` }), { now: realNow });
    const result = await c.place(order);
    expect(result).toMatchObject({ ok: false, retryable: true, ambiguous: false });
    expect(result.ok ? '' : result.reason).toContain('ECONNREFUSED');
  });

  test('the signing secret never appears in a reason, even when the receiver echoes it', async () => {
    script.push((_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `bad secret ${secret}` })));
    const c = createHttpConnector('relay', config(), { now: realNow });
    const result = await c.place(order);
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain(secret);
    expect(JSON.stringify(result)).toContain('[redacted]');
  });
});

describe('http connector: cancel, lookup, positions, capabilities', () => {
  test('cancel POSTs {type:"cancel", instrument} with a deterministic webhook-id', async () => {
    script.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"cancelled":2}'));
    const now = new Date();
    const c = createHttpConnector('relay', config(), { now: () => now });
    const result = await c.cancel('AAPL');
    expect(result).toEqual({ ok: true, value: { cancelled: 2 } });
    expect(received[0]?.verified).toBe(true);
    expect(received[0]?.json).toEqual({ type: 'cancel', instrument: 'AAPL' });
    expect(received[0]?.headers['webhook-id']).toBe(cancelWebhookId('relay', 'AAPL', now));
  });

  test('cancel ids: same within a minute, different across minutes, instruments and connectors', () => {
    const t = new Date('2026-11-22T10:00:05Z');
    const same = new Date('2026-11-22T10:00:59Z');
    const later = new Date('2026-11-22T10:01:00Z');
    expect(cancelWebhookId('relay', 'AAPL', t)).toBe(cancelWebhookId('relay', 'AAPL', same));
    expect(cancelWebhookId('relay', 'AAPL', t)).not.toBe(cancelWebhookId('relay', 'AAPL', later));
    expect(cancelWebhookId('relay', 'AAPL', t)).not.toBe(cancelWebhookId('relay', 'MSFT', t));
    expect(cancelWebhookId('relay', 'AAPL', t)).not.toBe(cancelWebhookId('other', 'AAPL', t));
    expect(cancelWebhookId('relay', 'AAPL', t)).toMatch(/^cancel_[0-9a-f]{32}$/);
  });

  // A forwarded close or target has no side: the receiver resolves it against what it holds.
  const forwarded: { name: string; request: OrderRequest; body: Record<string, unknown> }[] = [
    {
      name: 'a full close: side and quantity null',
      request: { ...base(), action: 'close', forwarded: true },
      body: { action: 'close', side: null, quantity: null, target_position: null },
    },
    {
      name: 'a partial close: its quantity',
      request: { ...base(), action: 'close', forwarded: true, quantity: 4 },
      body: { action: 'close', side: null, quantity: 4, target_position: null },
    },
    {
      name: 'a target: the signed position to reach',
      request: { ...base(), action: 'target', forwarded: true, target_position: -5 },
      body: { action: 'target', side: null, quantity: null, target_position: -5 },
    },
  ];
  for (const f of forwarded) {
    test(`forwards ${f.name}, signed, with the rest of the body as for an order`, async () => {
      script.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"R-7"}'));
      const c = createHttpConnector('relay', config(), { now: realNow });
      const result = await c.place(f.request);
      // Taken, nothing filled: nothing is booked for a forwarded action.
      expect(result).toMatchObject({ ok: true, value: { client_order_id: order.client_order_id, order_id: 'R-7', status: 'new', filled_quantity: 0, fill_price: null, quantity: 0 } });
      const r = received[0];
      expect(r?.verified).toBe(true);
      expect(r?.headers['webhook-id']).toBe(order.client_order_id);
      expect(r?.json).toEqual({
        type: 'order',
        client_order_id: order.client_order_id,
        signal_id: 'sig_01',
        instrument: 'AAPL',
        order_type: 'market',
        limit_price: null,
        stop_price: null,
        time_in_force: 'day',
        take_profit: null,
        stop_loss: null,
        reference_price: null,
        signal: f.request.signal,
        ...f.body,
      });
    });
  }

  test('cancel without a count in the answer reports 0', async () => {
    script.push((_req, res) => res.writeHead(202).end());
    const c = createHttpConnector('relay', config(), { now: realNow });
    expect(await c.cancel('AAPL')).toEqual({ ok: true, value: { cancelled: 0 } });
  });

  test('getOrder is unsupported (not retryable); getPositions is empty; capabilities', async () => {
    const c = createHttpConnector('relay', config(), { now: realNow });
    expect(await c.getOrder(order.client_order_id)).toEqual({
      ok: false,
      retryable: false,
      ambiguous: false,
      reason: 'lookup unsupported',
    });
    expect(await c.getPositions()).toEqual({ ok: true, value: [] });
    expect(c.capabilities).toEqual({
      order_types: ['market', 'limit', 'stop', 'stop_limit'],
      brackets: true,
      fractional: true,
      short: true,
      lookup: false,
      positions: false,
      order_updates: 'none',
    });
    expect(c.type).toBe('http');
    expect(received).toHaveLength(0);
  });
});

describe('signStandardWebhook', () => {
  test('matches the standardwebhooks reference implementation', () => {
    const at = new Date('2026-11-22T10:00:00Z');
    const body = '{"a":1}';
    const ours = signStandardWebhook(secret, 'msg_1', at, body);
    expect(ours['webhook-signature']).toBe(new Webhook(secret).sign('msg_1', at, body));
    expect(ours['webhook-timestamp']).toBe(String(at.getTime() / 1000));
  });
});

describe('callJson classification', () => {
  test('a redirect is not followed (it would carry auth headers elsewhere)', async () => {
    script.push((_req, res) => res.writeHead(307, { location: 'http://127.0.0.1:9/elsewhere' }).end());
    const result = await callJson({ method: 'POST', url, headers: {}, body: { a: 1 }, timeout_ms: 1000 });
    expect(result).toMatchObject({ ok: false, retryable: false, ambiguous: false, http_status: 307 });
    expect(received).toHaveLength(1);
  });

  test('5xx with an HTML body: retryable, ambiguous, the text clipped into the reason', async () => {
    script.push((_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end(`<html>${'x'.repeat(1000)}</html>`));
    const result = await callJson({ method: 'GET', url, headers: {}, timeout_ms: 1000 });
    expect(result).toMatchObject({ ok: false, retryable: true, ambiguous: true, http_status: 502 });
    expect(result.ok ? 0 : result.reason.length).toBeLessThan(400);
  });

  test('429 without Retry-After falls back to X-RateLimit-Reset', async () => {
    const now = new Date('2026-11-22T10:00:00Z');
    const reset = String(now.getTime() / 1000 + 3);
    script.push((_req, res) => res.writeHead(429, { 'x-ratelimit-reset': reset }).end());
    const result = await callJson({ method: 'GET', url, headers: {}, timeout_ms: 1000, now: () => now });
    expect(result).toMatchObject({ ok: false, retryable: true, ambiguous: false, retry_after_ms: 3000 });
  });

  test('2xx: parsed JSON body and headers', async () => {
    script.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'x-thing': 'y' }).end('[1,2]'));
    const result = await callJson({ method: 'GET', url, headers: {}, timeout_ms: 1000 });
    expect(result.ok && result.value.body).toEqual([1, 2]);
    expect(result.ok && result.value.headers.get('x-thing')).toBe('y');
  });

  test('an injected fetch that throws an unknown error is ambiguous (it may have been sent)', async () => {
    const broken: typeof fetch = () => Promise.reject(new Error('boom'));
    const result = await callJson({ method: 'POST', url, headers: {}, body: '{}', timeout_ms: 1000, fetch: broken });
    expect(result).toMatchObject({ ok: false, retryable: true, ambiguous: true });
  });
});
