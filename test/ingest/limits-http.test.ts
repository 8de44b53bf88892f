/**
 * Intake limits and refusals through the real server (docs/configuration.md#config-file, docs/http-api.md#idempotency-keys, docs/http-api.md#webhook-responses): the per-source
 * rate limit with Retry-After, the body limit (declared and chunked), required keys, body-hash
 * deduplication, and the refused-deliveries record at GET /admin/deliveries (shape, order,
 * request ids, newest 1000 kept).
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';

const TOKEN = `limits-token-${randomUUID()}`;
const WRONG = `wrong-${randomUUID()}`;
const BODY_LIMIT = 1024;
const auth = { scheme: 'token', secrets: [TOKEN] };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function post(s: TestServer, source: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${s.url}/webhooks/${source}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body,
  });
}

const signal = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id: `k-${randomUUID()}`, action: 'buy', instrument: 'AAPL', quantity: 1, price: 100, ...extra });

async function json(res: Response): Promise<Record<string, unknown>> {
  const body: unknown = await res.json();
  if (!isRecord(body)) throw new Error(`not a JSON object: ${JSON.stringify(body)}`);
  return body;
}

async function errorOf(res: Response): Promise<Record<string, unknown>> {
  const body = await json(res);
  if (!isRecord(body.error)) throw new Error(`not an error body: ${JSON.stringify(body)}`);
  return body.error;
}

interface RefusedDelivery {
  at: string;
  source: string;
  code: string | null;
  reason: string;
  issues: unknown[];
  request_id: string;
  body_excerpt: string;
}

function isRefusedDelivery(v: unknown): v is RefusedDelivery {
  return (
    isRecord(v) &&
    typeof v.at === 'string' &&
    typeof v.source === 'string' &&
    typeof v.reason === 'string' &&
    Array.isArray(v.issues) &&
    typeof v.request_id === 'string' &&
    typeof v.body_excerpt === 'string'
  );
}

/** Every refused delivery, newest first, following next_cursor. */
async function allDeliveries(s: TestServer): Promise<RefusedDelivery[]> {
  const out: RefusedDelivery[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10; page++) {
    const res = await s.admin(`/deliveries?limit=500${cursor === null ? '' : `&cursor=${cursor}`}`);
    expect(res.status).toBe(200);
    const body = await json(res);
    if (!Array.isArray(body.items)) throw new Error(`no items in ${JSON.stringify(body)}`);
    for (const item of body.items) {
      if (!isRefusedDelivery(item)) throw new Error(`not a refused delivery: ${JSON.stringify(item)}`);
      out.push(item);
    }
    if (body.next_cursor === null) return out;
    if (typeof body.next_cursor !== 'string') throw new Error(`bad next_cursor ${JSON.stringify(body.next_cursor)}`);
    cursor = body.next_cursor;
  }
  throw new Error('more pages than expected');
}

/** A POST over node:http, sending `chunks` one write at a time with the given headers. */
function rawPost(url: string, path: string, headers: Record<string, string>, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may answer 413 and stop reading before the last chunk: that is not a failure.
    req.on('error', (err) => reject(err));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({
    config: {
      server: { body_limit_bytes: BODY_LIMIT },
      sources: {
        main: { auth },
        limited: { auth, rate_limit_per_minute: 3 },
        strict: { auth, require_idempotency_key: true },
        fenced: { auth, allow_ips: ['10.0.0.0/8'] },
        short: { auth, body_hash_window_seconds: 1 },
      },
    },
  });
});
afterAll(async () => {
  await s.close();
});

describe('rate limit', () => {
  test('rate_limit_per_minute 3: the 4th quick delivery is 429 rate_limited with Retry-After in whole seconds ≥ 1', async () => {
    for (let i = 0; i < 3; i++) expect((await post(s, 'limited', JSON.stringify(signal()))).status).toBe(202);
    const res = await post(s, 'limited', JSON.stringify(signal()));
    expect(res.status).toBe(429);
    const retryAfter = res.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // At most a minute's refill for one token at 3 per minute.
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    const error = await errorOf(res);
    expect(error.code).toBe('rate_limited');
    expect(error.request_id).toBe(res.headers.get('x-request-id'));
  });

  test('the limit is per source: another source is unaffected', async () => {
    expect((await post(s, 'limited', JSON.stringify(signal()))).status).toBe(429);
    expect((await post(s, 'main', JSON.stringify(signal()))).status).toBe(202);
  });
});

describe('body limit (server.body_limit_bytes 1024)', () => {
  const big = JSON.stringify(signal({ meta: { pad: 'x'.repeat(2048) } }));

  test('a 2 KB body with a declared Content-Length is 413 payload_too_large', async () => {
    expect(Buffer.byteLength(big)).toBeGreaterThan(2048);
    const res = await post(s, 'main', big);
    expect(res.status).toBe(413);
    expect((await errorOf(res)).code).toBe('payload_too_large');
  });

  test('a 2 KB chunked body (no Content-Length) is 413 payload_too_large', async () => {
    const chunks = [big.slice(0, 700), big.slice(700, 1400), big.slice(1400)];
    const res = await rawPost(s.url, '/webhooks/main', { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'transfer-encoding': 'chunked' }, chunks);
    expect(res.status).toBe(413);
    const body: unknown = JSON.parse(res.body);
    expect(isRecord(body) && isRecord(body.error) ? body.error.code : undefined).toBe('payload_too_large');
  });

  test('a body under the limit is accepted, chunked or not', async () => {
    const small = JSON.stringify(signal({ meta: { pad: 'x'.repeat(600) } }));
    expect(Buffer.byteLength(small)).toBeLessThan(BODY_LIMIT);
    expect((await post(s, 'main', small)).status).toBe(202);
    const other = JSON.stringify(signal({ meta: { pad: 'y'.repeat(600) } }));
    const res = await rawPost(s.url, '/webhooks/main', { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'transfer-encoding': 'chunked' }, [other.slice(0, 300), other.slice(300)]);
    expect(res.status).toBe(202);
  });
});

describe('idempotency keys', () => {
  test('require_idempotency_key: no key anywhere → 400 missing_idempotency_key', async () => {
    const { id: _id, ...withoutId } = signal();
    const res = await post(s, 'strict', JSON.stringify(withoutId));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe('missing_idempotency_key');
    // The same body with an Idempotency-Key header is accepted.
    const keyed = await post(s, 'strict', JSON.stringify(withoutId), { 'idempotency-key': `hdr-${randomUUID()}` });
    expect(keyed.status).toBe(202);
  });

  test('without a key: the same body twice is a duplicate, and so is the same body with its keys reordered and respaced', async () => {
    const body = { action: 'buy', instrument: 'MSFT', quantity: 2, price: 10, strategy: `s-${randomUUID()}`, meta: { a: 1, b: [1, 2] } };
    const first = await post(s, 'main', JSON.stringify(body));
    expect(first.status).toBe(202);
    const accepted = await json(first);
    expect(accepted.idempotency_key).toMatch(/^sha256:[0-9a-f]{64}$/);

    const again = await post(s, 'main', JSON.stringify(body));
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(again)).toEqual({ signal_id: accepted.signal_id, status: 'duplicate', original_status: expect.any(String) });

    const reordered = JSON.stringify({ meta: { b: [1, 2], a: 1 }, strategy: body.strategy, price: 10, quantity: 2, instrument: 'MSFT', action: 'buy' }, null, 3);
    const third = await post(s, 'main', reordered);
    expect(third.status).toBe(200);
    expect(await json(third)).toMatchObject({ signal_id: accepted.signal_id, status: 'duplicate' });

    // A body that differs in one value is a new signal.
    const changed = await post(s, 'main', JSON.stringify({ ...body, quantity: 3 }));
    expect(changed.status).toBe(202);
  });
  test('past body_hash_window_seconds the same body is a new signal, and a new order at the broker', async () => {
    const body = JSON.stringify({ action: 'buy', instrument: 'MSFT', quantity: 1, price: 10, strategy: `w-${randomUUID()}` });
    const first = await post(s, 'short', body, { prefer: 'wait=10' });
    expect(first.status).toBe(200);
    const one = await json(first);
    expect(one.status).toBe('executed');
    expect((await post(s, 'short', body)).status).toBe(200); // still within the window: a duplicate

    // The window is 1 s, counted from the first delivery; wait it out once.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const later = await post(s, 'short', body, { prefer: 'wait=10' });
    expect(later.status).toBe(200);
    const two = await json(later);
    expect(two.status).toBe('executed');
    expect(two.signal_id).not.toBe(one.signal_id);
    // A second, legitimate signal must reach the broker as a second order: the broker
    // deduplicates by client_order_id, so the two must differ.
    const resultOne = isRecord(one.result) ? one.result : {};
    const resultTwo = isRecord(two.result) ? two.result : {};
    expect(resultTwo.client_order_id).not.toBe(resultOne.client_order_id);
    expect(resultTwo.order_id).not.toBe(resultOne.order_id);
  });
});

describe('refused deliveries at GET /admin/deliveries', () => {
  test('invalid, unauthorized, forbidden and key-reused deliveries are listed newest first with their reason and request id', async () => {
    const invalid = await post(s, 'main', JSON.stringify({ id: `k-${randomUUID()}`, action: 'fly', instrument: 'AAPL', quantity: 1 }));
    expect(invalid.status).toBe(400);
    const unauthorized = await post(s, 'main', JSON.stringify(signal()), { authorization: `Bearer ${WRONG}` });
    expect(unauthorized.status).toBe(401);
    const forbidden = await post(s, 'fenced', JSON.stringify(signal()));
    expect(forbidden.status).toBe(403);
    const key = `k-${randomUUID()}`;
    expect((await post(s, 'main', JSON.stringify(signal({ id: key })))).status).toBe(202);
    const reused = await post(s, 'main', JSON.stringify(signal({ id: key, quantity: 2 })));
    expect(reused.status).toBe(422);

    const ids = [reused, forbidden, unauthorized, invalid].map((r) => String(r.headers.get('x-request-id')));
    const mine = await eventually(async () => {
      const items = (await allDeliveries(s)).filter((d) => ids.includes(d.request_id));
      return items.length === ids.length ? items : undefined;
    });
    // Newest first: the order they were refused in, reversed.
    expect(mine.map((d) => d.request_id)).toEqual(ids);
    const newest = (await allDeliveries(s))[0];
    expect(newest?.request_id).toBe(ids[0]);

    const [r, f, u, i] = mine;
    for (const d of mine) {
      expect(Object.keys(d).sort()).toEqual(['at', 'body_excerpt', 'code', 'issues', 'reason', 'request_id', 'source']);
      expect(Number.isNaN(Date.parse(d.at))).toBe(false);
    }
    const at = mine.map((d) => Date.parse(d.at));
    expect([...at].sort((a, b) => b - a)).toEqual(at);

    expect(mine.map((d) => d.code)).toEqual(['idempotency_key_reused', 'forbidden', 'unauthorized', 'invalid_signal']);
    expect(i).toMatchObject({ source: 'main', reason: 'invalid signal' });
    expect(i?.issues).toEqual([{ path: 'action', message: expect.stringContaining('"fly"') }]);
    expect(i?.body_excerpt).toContain('"fly"');
    expect(u).toMatchObject({ source: 'main', reason: 'token does not match', issues: [] });
    expect(f).toMatchObject({ source: 'fenced', reason: 'client address 127.0.0.1 not in allow_ips', issues: [] });
    expect(r).toMatchObject({ source: 'main', reason: 'idempotency key reused', issues: [] });
    expect(r?.body_excerpt).toContain(key);
  });

  test('the missing-key refusal is listed with its request id', async () => {
    const { id: _id, ...withoutId } = signal();
    const res = await post(s, 'strict', JSON.stringify(withoutId));
    expect(res.status).toBe(400);
    const requestId = String(res.headers.get('x-request-id'));
    const found = await eventually(async () => (await allDeliveries(s)).find((d) => d.request_id === requestId));
    expect(found).toMatchObject({ source: 'strict', reason: 'no idempotency key' });
  });
});

describe('only the newest 1000 refused deliveries are kept', () => {
  test('1010 refused deliveries: 1000 listed, the 10 oldest dropped, newest first', async () => {
    const own = await startTestServer({ config: { sources: { main: { auth } } } });
    try {
      const total = 1010;
      const batch = 10;
      // Batches run one after another, so every delivery of a batch is refused after every
      // delivery of the batch before it; within a batch the order is the server's.
      for (let start = 0; start < total; start += batch) {
        const responses = await Promise.all(
          Array.from({ length: batch }, (_, j) =>
            post(own, 'main', '{not json', { 'x-request-id': `bulk-${String(start + j).padStart(4, '0')}` })),
        );
        for (const res of responses) expect(res.status).toBe(400);
      }
      const items = await eventually(async () => {
        const all = await allDeliveries(own);
        return all[0]?.request_id.startsWith('bulk-100') === true && all.length === 1000 ? all : undefined;
      });
      expect(items).toHaveLength(1000);
      const kept = items.map((d) => Number(d.request_id.slice('bulk-'.length)));
      expect(new Set(kept).size).toBe(1000);
      expect(Math.min(...kept)).toBe(10);
      expect(Math.max(...kept)).toBe(1009);
      for (let n = 0; n < 10; n++) expect(kept).not.toContain(n);
      // Newest first, batch by batch.
      const batches = kept.map((n) => Math.floor(n / batch));
      expect([...batches].sort((a, b) => b - a)).toEqual(batches);
      expect(items[0]).toMatchObject({ source: 'main', reason: 'invalid JSON', issues: [{ path: '', message: expect.stringMatching(/JSON/) }] });
    } finally {
      await own.close();
    }
  });
});
