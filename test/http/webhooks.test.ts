/** docs/http-api.md#webhook-responses through the real server: every response row built so far, over real HTTP. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually, startTestServer, WEBHOOK_SECRET, type TestServer } from '../helpers/server.js';

let s: TestServer;
let n = 0;
const key = () => `k-${Date.now()}-${n++}`;
const buy = (id = key(), extra: Record<string, unknown> = {}) => ({ id, action: 'buy', instrument: 'AAPL', quantity: 1, price: 100, ...extra });

beforeAll(async () => {
  s = await startTestServer({ config: { sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } }, strict: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] }, require_idempotency_key: true } }, server: { body_limit_bytes: 2048 } } });
});
afterAll(async () => {
  await s.close();
});

async function finalStatus(signalId: string): Promise<Record<string, unknown>> {
  return eventually(async () => {
    const body = (await (await s.admin(`/signals/${signalId}`)).json()) as Record<string, unknown>;
    return ['executed', 'rejected', 'failed'].includes(body.status as string) ? body : undefined;
  });
}

describe('POST /webhooks/{source}', () => {
  test('202 accepted for a new signal, then executed by the mock', async () => {
    const id = key();
    const res = await s.send(buy(id));
    expect(res.status).toBe(202);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = (await res.json()) as { signal_id: string; status: string; idempotency_key: string };
    expect(body).toEqual({ signal_id: expect.stringMatching(/^sig_/), status: 'accepted', idempotency_key: id });
    const detail = await finalStatus(body.signal_id);
    expect(detail.status).toBe('executed');
    expect(detail.result).toMatchObject({ connector: 'mock', status: 'filled', filled_quantity: 1, fill_price: 100 });
    expect(detail.attempts).toEqual([expect.objectContaining({ n: 1, outcome: 'ok' })]);
    expect((detail.events as Array<{ type: string }>).map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing', 'signal.attempt', 'signal.executed', 'order.filled']);
  });

  test('200 with the outcome when it finishes within Prefer: wait', async () => {
    const res = await s.send(buy(), { headers: { prefer: 'wait=5' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'executed', decision: { allowed: true, quantity: 1 }, result: { status: 'filled' } });
  });

  test('200 duplicate with Idempotent-Replayed for the same key and body', async () => {
    const payload = buy();
    const first = await s.send(payload, { headers: { prefer: 'wait=5' } });
    const firstBody = (await first.json()) as { signal_id: string };
    // Key order and whitespace never make two deliveries differ.
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(payload).reverse()), null, 2);
    const res = await s.send(reordered);
    expect(res.status).toBe(200);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(await res.json()).toEqual({ signal_id: firstBody.signal_id, status: 'duplicate', original_status: 'executed' });
  });

  test('422 idempotency_key_reused for the same key with another body', async () => {
    const id = key();
    expect((await s.send(buy(id))).status).toBe(202);
    const res = await s.send(buy(id, { quantity: 2 }));
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe('idempotency_key_reused');
    expect(body.error.request_id).toBe(res.headers.get('x-request-id'));
  });

  test('the body id wins over the Idempotency-Key header (docs/http-api.md#idempotency-keys)', async () => {
    const id = key();
    const res = await s.send(buy(id), { headers: { 'idempotency-key': key() } });
    expect(((await res.json()) as { idempotency_key: string }).idempotency_key).toBe(id);
  });

  test('without a body id the Idempotency-Key header is the key', async () => {
    const header = key();
    const res = await s.send({ action: 'buy', instrument: 'AAPL', quantity: 1, price: 10 }, { headers: { 'idempotency-key': header } });
    expect(((await res.json()) as { idempotency_key: string }).idempotency_key).toBe(header);
  });

  test('without any key the body hash is the key', async () => {
    const body = { action: 'buy', instrument: 'MSFT', quantity: 3, price: 10, strategy: key() };
    const res = await s.send(body);
    expect(res.status).toBe(202);
    expect(((await res.json()) as { idempotency_key: string }).idempotency_key).toMatch(/^sha256:[0-9a-f]{64}$/);
    const again = await s.send(body);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { status: string }).status).toBe('duplicate');
  });

  test.each([
    ['not JSON', 'this is not json', ''],
    ['an array', '[1,2]', ''],
    ['missing action', JSON.stringify({ id: 'x1', instrument: 'AAPL', quantity: 1 }), 'action'],
    ['bad action', JSON.stringify({ id: 'x2', action: 'hold', instrument: 'AAPL', quantity: 1 }), 'action'],
    ['bad instrument', JSON.stringify({ id: 'x3', action: 'buy', instrument: 'AA$PL', quantity: 1 }), 'instrument'],
    ['quantity and notional', JSON.stringify({ id: 'x4', action: 'buy', instrument: 'AAPL', quantity: 1, notional: 100, price: 1 }), 'quantity'],
    ['negative quantity', JSON.stringify({ id: 'x5', action: 'buy', instrument: 'AAPL', quantity: -1 }), 'quantity'],
    ['limit without limit_price', JSON.stringify({ id: 'x6', action: 'buy', instrument: 'AAPL', quantity: 1, order_type: 'limit' }), 'limit_price'],
    ['unrendered placeholder', JSON.stringify({ id: 'x7', action: 'buy', instrument: '{{ticker}}', quantity: 1 }), 'instrument'],
    ['bad timestamp', JSON.stringify({ id: 'x8', action: 'buy', instrument: 'AAPL', quantity: 1, timestamp: 'yesterday' }), 'timestamp'],
  ])('400 invalid_signal: %s', async (_name, body, path) => {
    const res = await s.send(body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { code: string; message: string; issues: Array<{ path: string; message: string }> } };
    expect(json.error.code).toBe('invalid_signal');
    expect(json.error.issues.length).toBeGreaterThan(0);
    expect(json.error.issues.map((i) => i.path)).toContain(path);
  });

  test('a JSON body sent as text/plain is accepted (the content type is not trusted)', async () => {
    const res = await s.send(JSON.stringify(buy()), { headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(202);
  });

  test('numbers as decimal strings are accepted; unknown fields kept under meta.unknown_fields', async () => {
    const res = await s.send({ id: key(), action: 'buy', instrument: 'aapl', quantity: '2.5', price: '101.5', exchange: 'NASDAQ' }, { headers: { prefer: 'wait=5' } });
    expect(res.status).toBe(200);
    const { signal_id } = (await res.json()) as { signal_id: string };
    const detail = (await (await s.admin(`/signals/${signal_id}`)).json()) as { signal: Record<string, unknown> };
    expect(detail.signal).toMatchObject({ instrument: 'AAPL', quantity: 2.5, price: 101.5, meta: { unknown_fields: { exchange: 'NASDAQ' } } });
  });

  test('400 missing_idempotency_key when the source requires one', async () => {
    const res = await s.send({ action: 'buy', instrument: 'AAPL', quantity: 1, price: 1 }, { source: 'strict' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('missing_idempotency_key');
  });

  test('404 unknown_source', async () => {
    const res = await s.send(buy(), { source: 'nope' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unknown_source');
  });

  test.each([
    ['no token', {}],
    ['wrong bearer', { authorization: 'Bearer wrong' }],
    ['wrong api key', { authorization: '', 'x-api-key': 'wrong' }],
  ])('401 unauthorized: %s', async (_name, headers) => {
    const res = await fetch(`${s.url}/webhooks/default`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(buy()) });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'unauthorized', message: 'authentication failed' });
  });

  test('X-Api-Key is accepted as the token', async () => {
    const res = await fetch(`${s.url}/webhooks/default`, { method: 'POST', headers: { 'x-api-key': WEBHOOK_SECRET }, body: JSON.stringify(buy()) });
    expect(res.status).toBe(202);
  });

  test('413 payload_too_large, declared or streamed', async () => {
    const big = JSON.stringify(buy(key(), { meta: { pad: 'x'.repeat(4000) } }));
    const res = await s.send(big);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i += 1) controller.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        controller.close();
      },
    });
    const chunked = await fetch(`${s.url}/webhooks/default`, {
      method: 'POST',
      headers: { authorization: `Bearer ${WEBHOOK_SECRET}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  test('an incoming X-Request-Id is echoed', async () => {
    const res = await s.send(buy(), { headers: { 'x-request-id': 'req-abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
  });

  test('50 concurrent identical deliveries: exactly one 202 and one mock order', async () => {
    const payload = buy(key(), { instrument: 'NVDA' });
    const responses = await Promise.all(Array.from({ length: 50 }, () => s.send(payload)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((st) => st === 202)).toHaveLength(1);
    expect(statuses.filter((st) => st === 200)).toHaveLength(49);
    for (const r of responses.filter((x) => x.status === 200)) expect(r.headers.get('idempotent-replayed')).toBe('true');
    const ids = new Set(await Promise.all(responses.map(async (r) => ((await r.json()) as { signal_id: string }).signal_id)));
    expect(ids.size).toBe(1);
    const [signalId] = [...ids];
    if (signalId === undefined) throw new Error('no signal id');
    const detail = await finalStatus(signalId);
    const orders = (await (await s.admin('/connectors/mock/orders?limit=500')).json()) as { items: Array<{ client_order_id: string }> };
    const coid = (detail.result as { client_order_id: string }).client_order_id;
    expect(orders.items.filter((o) => o.client_order_id === coid)).toHaveLength(1);
  });
});
