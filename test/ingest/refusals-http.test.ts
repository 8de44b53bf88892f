/**
 * Refused deliveries (docs/http-api.md#refused-deliveries) over real HTTP: each carries the code
 * the sender got, and a flood of 2000 unauthorized deliveries does not push an invalid one out
 * (authentication refusals are kept in a bucket of their own, the newest 1000 each).
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';

interface Listed {
  code: string | null;
  reason: string;
  request_id: string;
  issues: { path: string; message: string }[];
}

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

async function listAll(): Promise<Listed[]> {
  const out: Listed[] = [];
  let cursor: string | null = null;
  do {
    const res = await s.admin(`/deliveries?limit=500${cursor === null ? '' : `&cursor=${cursor}`}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: Listed[]; next_cursor: string | null };
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return out;
}

test('an invalid delivery, then a flood of 2000 unauthorized ones: the invalid one is still listed, with its code', { timeout: 120_000 }, async () => {
  const invalid = await s.send({ action: 'buy', instrument: 'AAPL', quantity: 1e300 });
  expect(invalid.status).toBe(400);
  const invalidId = String(invalid.headers.get('x-request-id'));

  const FLOOD = 2000;
  const BATCH = 25;
  for (let sent = 0; sent < FLOOD; sent += BATCH) {
    const answers = await Promise.all(
      Array.from({ length: BATCH }, () => s.send({ action: 'buy', instrument: 'AAPL', quantity: 1 }, { headers: { authorization: 'Bearer wrong-token' } })),
    );
    for (const res of answers) {
      expect(res.status).toBe(401);
      await res.arrayBuffer();
    }
  }

  // Refusals are recorded after the answer: wait for the flood to be all in.
  const listed = await eventually(async () => {
    const all = await listAll();
    return all.filter((d) => d.code === 'unauthorized').length >= 1000 ? all : undefined;
  }, 60_000, 'the flood to be recorded');

  expect(listed.filter((d) => d.code === 'unauthorized')).toHaveLength(1000);
  const kept = listed.find((d) => d.request_id === invalidId);
  expect(kept).toMatchObject({ code: 'invalid_signal', reason: 'invalid signal', issues: [{ path: 'quantity' }] });
  expect(listed.every((d) => d.code === 'unauthorized' || d.request_id === invalidId)).toBe(true);
});

test('every refusal kept names the code the sender got', async () => {
  const metaArray = await s.send({ action: 'buy', instrument: 'AAPL', quantity: 1, meta: [] });
  expect(metaArray.status).toBe(400);
  const id = String(metaArray.headers.get('x-request-id'));
  const kept = await eventually(async () => (await listAll()).find((d) => d.request_id === id), 10_000, 'the refusal');
  expect(kept.code).toBe('invalid_signal');
});
