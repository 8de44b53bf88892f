/**
 * The real server with an `http` connector pointed at a local receiver that verifies every
 * delivery with the official `standardwebhooks` library, as a user's receiver would (see
 * docs/execution.md#connectors, docs/guarantees.md#idempotency-and-at-most-one-order: at least once, with a `webhook-id` equal to the client_order_id and stable across
 * retries; 2xx done; 5xx retried honouring Retry-After; other 4xx final with the receiver's words).
 * The last test kills the built CLI (`npm run build` first) mid-delivery.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { e2eConfig, nextKey, sendAccepted, sendFinal, signalDetail, type SignalDetail } from '../helpers/connectors.js';
import { eventually, spawnSluice, startTestServer, tempDir, writeConfig, type Child, type TestServer } from '../helpers/server.js';

const SIGNING_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

/** Every field of an order's body before `action` existed (docs/execution.md#the-http-connector). */
const ORDER_FIELDS = ['type', 'client_order_id', 'signal_id', 'instrument', 'side', 'quantity', 'order_type', 'limit_price', 'stop_price', 'time_in_force', 'take_profit', 'stop_loss', 'reference_price', 'signal'];

interface Delivery {
  webhookId: string;
  timestamp: string;
  verified: boolean;
  /** The payload as the library returned it after verifying; undefined when it did not verify. */
  payload: Record<string, unknown> | undefined;
}

type Reply = (res: ServerResponse) => void;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => (res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
};

/** A reply that never comes: the receiver holds the request open. */
const hold: Reply = () => undefined;

function relayConfig(url: string): Record<string, unknown> {
  return e2eConfig({
    connector: 'relay',
    connectors: { relay: { type: 'http', url, signing_secret: SIGNING_SECRET, timeout_ms: 2000 } },
    execution: { breaker: { failure_threshold: 100, half_open_after_seconds: null } },
  });
}

let receiver: Server;
let receiverUrl: string;
const deliveries: Delivery[] = [];
/** Scripted replies per instrument, consumed in order; 200 with an order id when none is left. */
const scripts = new Map<string, Reply[]>();
const deliveriesOf = (coid: string) => deliveries.filter((d) => d.webhookId === coid);

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      let payload: Record<string, unknown> | undefined;
      try {
        payload = new Webhook(SIGNING_SECRET).verify(body, headers) as Record<string, unknown>;
      } catch {
        payload = undefined;
      }
      deliveries.push({ webhookId: headers['webhook-id'] ?? '', timestamp: headers['webhook-timestamp'] ?? '', verified: payload !== undefined, payload });
      if (payload === undefined) return json(401, { message: 'bad signature' })(res);
      const instrument = String(payload['instrument']);
      const reply = scripts.get(instrument)?.shift() ?? json(200, { order_id: `rcv-${deliveries.length}` });
      reply(res);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/orders`;
});

afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('http connector end to end', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer({ config: relayConfig(receiverUrl) });
  });
  afterAll(async () => {
    await s?.close();
  });

  test("a signal is delivered once, verified, with webhook-id = the signal's client_order_id", async () => {
    const key = nextKey('http-ok');
    const out = await sendFinal(s.url, { id: key, action: 'buy', instrument: 'AAPL', quantity: 3, price: 101.5 });
    expect(out.status).toBe('executed');
    const coid = clientOrderId(out.signal_id);
    expect(out.result?.client_order_id).toBe(coid);

    const mine = deliveriesOf(coid);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.verified).toBe(true);
    expect(mine[0]?.payload).toMatchObject({ type: 'order', action: 'buy', client_order_id: coid, signal_id: out.signal_id, instrument: 'AAPL', side: 'buy', quantity: 3, order_type: 'market', reference_price: 101.5 });
    // A buy's body is what it always was, plus `action`.
    expect(Object.keys(mine[0]?.payload ?? {}).sort()).toEqual([...ORDER_FIELDS, 'action'].sort());
    // A 2xx says the receiver took the order, nothing about fills.
    expect(out.result).toMatchObject({ connector: 'relay', order_id: expect.stringMatching(/^rcv-/), status: 'new', filled_quantity: 0 });
    expect((await signalDetail(s.url, out.signal_id)).attempts).toMatchObject([{ n: 1, outcome: 'ok', error: null }]);
  });

  test('503 with Retry-After: 0 twice, then 200: executed, three deliveries with the same webhook-id, all verified', async () => {
    const busy = json(503, { message: 'receiver busy' }, { 'retry-after': '0' });
    scripts.set('MSFT', [busy, busy, json(200, { order_id: 'rcv-msft-1' })]);
    const key = nextKey('http-503');
    const out = await sendFinal(s.url, { id: key, action: 'sell', instrument: 'MSFT', quantity: 1, price: 300 });
    expect(out.status).toBe('executed');
    expect(out.result?.order_id).toBe('rcv-msft-1');

    const coid = clientOrderId(out.signal_id);
    const mine = deliveriesOf(coid);
    expect(mine).toHaveLength(3);
    for (const d of mine) {
      expect(d.verified).toBe(true);
      expect(d.payload).toMatchObject({ client_order_id: coid, instrument: 'MSFT', side: 'sell', quantity: 1 });
    }
    const detail = await signalDetail(s.url, out.signal_id);
    // A 5xx may have acted (ambiguous); the http connector cannot be asked, so it delivers again.
    expect(detail.attempts).toMatchObject([
      { n: 1, outcome: 'ambiguous', error: 'server error (503): receiver busy' },
      { n: 2, outcome: 'ambiguous', error: 'server error (503): receiver busy' },
      { n: 3, outcome: 'ok', error: null },
    ]);
    expect(detail.events.filter((e) => e.type === 'signal.attempt')).toHaveLength(3);
  });

  test('close and target are forwarded as actions: verified, no side, the signal executed', async () => {
    const close = await sendFinal(s.url, { id: nextKey('http-close'), action: 'close', instrument: 'FWD' });
    const partial = await sendFinal(s.url, { id: nextKey('http-partial'), action: 'close', instrument: 'FWD', quantity: 2 });
    const target = await sendFinal(s.url, { id: nextKey('http-target'), action: 'target', instrument: 'FWD', target_position: -5, price: 20 });
    const sell = await sendFinal(s.url, { id: nextKey('http-sell'), action: 'sell', instrument: 'FWD', quantity: 1, price: 20 });
    const cases = [
      { out: close, action: 'close', quantity: null, target_position: null },
      { out: partial, action: 'close', quantity: 2, target_position: null },
      { out: target, action: 'target', quantity: null, target_position: -5 },
    ];
    for (const c of cases) {
      // Executed: the receiver took the action; nothing filled, nothing to book.
      expect(c.out.status).toBe('executed');
      expect(c.out.decision).toMatchObject({ allowed: true, failures: [], quantity: null, side: null, forwarded: true });
      const coid = clientOrderId(c.out.signal_id);
      expect(c.out.result).toMatchObject({ connector: 'relay', client_order_id: coid, order_id: expect.stringMatching(/^rcv-/), status: 'new', filled_quantity: 0, fill_price: null });
      const mine = deliveriesOf(coid);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.verified).toBe(true);
      expect(mine[0]?.payload).toMatchObject({
        type: 'order',
        action: c.action,
        client_order_id: coid,
        signal_id: c.out.signal_id,
        instrument: 'FWD',
        side: null,
        quantity: c.quantity,
        target_position: c.target_position,
        order_type: 'market',
      });
      expect(Object.keys(mine[0]?.payload ?? {}).sort()).toEqual([...ORDER_FIELDS, 'action', 'target_position'].sort());
    }
    // The ledger never moved, so the sell after them is resolved and sent as it always was.
    expect(sell.status).toBe('executed');
    const sold = deliveriesOf(clientOrderId(sell.signal_id));
    expect(sold[0]?.payload).toMatchObject({ action: 'sell', side: 'sell', quantity: 1 });
    expect(Object.keys(sold[0]?.payload ?? {}).sort()).toEqual([...ORDER_FIELDS, 'action'].sort());
    const positions = (await (await s.admin('/positions')).json()) as { connectors: Record<string, { positions: unknown[] }> };
    expect(positions.connectors['relay']?.positions ?? []).toEqual([]);
  });

  test('exit_only: a forwarded close and target 0 go out, a target of 5 is refused exit_only_position_unknown', async () => {
    expect((await s.admin('/mode', { body: { mode: 'exit_only', reason: 'test' } })).status).toBe(200);
    try {
      const close = await sendFinal(s.url, { id: nextKey('http-xo-close'), action: 'close', instrument: 'XO' });
      const flat = await sendFinal(s.url, { id: nextKey('http-xo-flat'), action: 'target', instrument: 'XO', target_position: 0 });
      const five = await sendFinal(s.url, { id: nextKey('http-xo-five'), action: 'target', instrument: 'XO', target_position: 5 });
      expect([close.status, flat.status, five.status]).toEqual(['executed', 'executed', 'rejected']);
      expect(five.decision?.failures).toMatchObject([{ rule: 'mode', code: 'exit_only_position_unknown' }]);
      expect(deliveriesOf(clientOrderId(close.signal_id))).toHaveLength(1);
      expect(deliveriesOf(clientOrderId(flat.signal_id))[0]?.payload).toMatchObject({ action: 'target', target_position: 0 });
      expect(deliveriesOf(clientOrderId(five.signal_id))).toHaveLength(0);
    } finally {
      expect((await s.admin('/mode', { body: { mode: 'enabled', reason: 'test' } })).status).toBe(200);
    }
  });

  test('cancel is forwarded through cancel(instrument), signed', async () => {
    const out = await sendFinal(s.url, { id: nextKey('http-cancel'), action: 'cancel', instrument: 'CXL' });
    expect(out.status).toBe('executed');
    expect(out.result).toMatchObject({ connector: 'relay', status: 'canceled' });
    const mine = deliveries.filter((d) => d.payload?.['type'] === 'cancel' && d.payload['instrument'] === 'CXL');
    expect(mine).toHaveLength(1);
    expect(mine[0]?.verified).toBe(true);
    expect(mine[0]?.webhookId).toMatch(/^cancel_[0-9a-f]{32}$/);
  });

  test("400: failed with the receiver's message, no retry", async () => {
    scripts.set('BAD', [json(400, { message: 'unknown instrument BAD' })]);
    const key = nextKey('http-400');
    const out = await sendFinal(s.url, { id: key, action: 'buy', instrument: 'BAD', quantity: 1, price: 10 });
    expect(out.status).toBe('failed');
    expect(out.result).toMatchObject({ connector: 'relay', order_id: null, status: 'error', error: 'unknown instrument BAD' });
    // The signal is final, so no further delivery can follow: exactly one was made.
    expect(deliveriesOf(clientOrderId(out.signal_id))).toHaveLength(1);
    expect((await signalDetail(s.url, out.signal_id)).attempts).toMatchObject([{ n: 1, outcome: 'permanent', error: 'unknown instrument BAD' }]);
  });

  test('every delivery the receiver got verified', () => {
    expect(deliveries.length).toBeGreaterThanOrEqual(12);
    expect(deliveries.filter((d) => !d.verified)).toEqual([]);
  });
});

describe('http connector after kill -9 mid-delivery (the built CLI)', () => {
  test('delivered again at restart with the same webhook-id: at least once, never under another id', async () => {
    const dir = tempDir();
    const configPath = writeConfig(dir, relayConfig(receiverUrl));
    // The first delivery is received but never answered: sluice cannot know whether it acted.
    scripts.set('HOLD', [hold, json(200, { order_id: 'rcv-hold-1' })]);
    let first: Child | undefined;
    let second: Child | undefined;
    try {
      first = await spawnSluice({ dir, configPath });
      const accepted = await sendAccepted(first.url, { id: nextKey('http-kill'), action: 'buy', instrument: 'HOLD', quantity: 1, price: 5 });
      const coid = clientOrderId(accepted.signal_id);
      await eventually(async () => (deliveriesOf(coid).length === 1 ? true : undefined), 10_000, 'the first delivery');
      first.proc.kill('SIGKILL');
      await first.exited;

      second = await spawnSluice({ dir, configPath });
      const url = second.url;
      const detail = await eventually<SignalDetail>(async () => {
        const d = await signalDetail(url, accepted.signal_id);
        return d.status === 'accepted' || d.status === 'executing' ? undefined : d;
      }, 15_000, 'the signal to finish after the restart');
      expect(detail.status).toBe('executed');
      expect(detail.result).toMatchObject({ connector: 'relay', client_order_id: coid, order_id: 'rcv-hold-1', status: 'new' });
      const mine = deliveriesOf(coid);
      expect(mine).toHaveLength(2);
      for (const d of mine) {
        expect(d.verified).toBe(true);
        expect(d.payload).toMatchObject({ client_order_id: coid, signal_id: accepted.signal_id, instrument: 'HOLD', quantity: 1 });
      }
    } finally {
      for (const child of [first, second]) {
        if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) {
          child.proc.kill('SIGTERM');
          await child.exited;
        }
      }
    }
  });
});
