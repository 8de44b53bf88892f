/** The operator routes built so far (docs/http-api.md#operator-api) and the three modes (docs/execution.md#modes) over real HTTP. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
let n = 0;
const key = () => `m-${Date.now()}-${n++}`;

beforeAll(async () => {
  s = await startTestServer({ env: { SLUICE_READ_TOKEN: 'read-token' } });
});
afterAll(async () => {
  await s.close();
});

async function sendWait(body: Record<string, unknown>) {
  const res = await s.send({ id: key(), price: 100, ...body }, { headers: { prefer: 'wait=5' } });
  expect(res.status).toBe(200);
  return (await res.json()) as { signal_id: string; status: string; decision: { allowed: boolean; failures: Array<{ rule: string; code?: string }>; quantity: number | null }; result: { status: string; filled_quantity: number } | null };
}

async function setMode(mode: string) {
  const res = await s.admin('/mode', { body: { mode, reason: `test ${mode}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { mode: string; mode_reason: string };
}

describe('modes', () => {
  test('enabled → exit_only → paused → enabled, each with the documented behaviour', async () => {
    // enabled: anything the limits allow.
    expect((await sendWait({ action: 'buy', instrument: 'MODE', quantity: 5 })).status).toBe('executed');

    expect(await setMode('exit_only')).toMatchObject({ mode: 'exit_only', mode_reason: 'test exit_only' });
    const increase = await sendWait({ action: 'buy', instrument: 'MODE', quantity: 1 });
    expect(increase.status).toBe('rejected');
    expect(increase.decision.failures).toContainEqual(expect.objectContaining({ rule: 'mode', code: 'exit_only_would_increase' }));
    const flat = await sendWait({ action: 'sell', instrument: 'FLAT', quantity: 1 });
    expect(flat.decision.failures).toContainEqual(expect.objectContaining({ rule: 'mode', code: 'exit_only_no_position' }));
    const flip = await sendWait({ action: 'sell', instrument: 'MODE', quantity: 8 });
    expect(flip.status).toBe('executed'); // trimmed to the position (exit_only_trim defaults to true)
    expect(flip.decision.quantity).toBe(5);
    expect((await sendWait({ action: 'buy', instrument: 'MODE', quantity: 1 })).decision.failures).toContainEqual(
      expect.objectContaining({ code: 'exit_only_no_position' }),
    );

    await setMode('enabled');
    expect((await sendWait({ action: 'buy', instrument: 'MODE', quantity: 2 })).status).toBe('executed');
    await setMode('paused');
    const paused = await sendWait({ action: 'close', instrument: 'MODE' });
    expect(paused.status).toBe('rejected');
    expect(paused.decision.failures).toContainEqual(expect.objectContaining({ rule: 'mode', code: 'paused' }));
    const cancel = await sendWait({ action: 'cancel', instrument: 'MODE' });
    expect(cancel.status).toBe('executed');

    await setMode('exit_only');
    const close = await sendWait({ action: 'close', instrument: 'MODE' });
    expect(close.status).toBe('executed');
    expect(close.result?.filled_quantity).toBe(2);
    await setMode('enabled');

    const events = (await (await s.admin('/signals?limit=1')).json()) as { items: unknown[] };
    expect(events.items).toHaveLength(1);
  });
});

describe('admin API', () => {
  test('401 without a token, 401 with a wrong one, 403 for a write with the read token', async () => {
    expect((await fetch(`${s.url}/admin/status`)).status).toBe(401);
    expect((await fetch(`${s.url}/admin/status`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(`${s.url}/admin/status`, { headers: { authorization: 'Bearer read-token' } })).status).toBe(200);
    const write = await fetch(`${s.url}/admin/mode`, {
      method: 'POST',
      headers: { authorization: 'Bearer read-token', 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'paused', reason: 'x' }),
    });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { error: { code: string } }).error.code).toBe('forbidden');
  });

  test('GET /admin/status has every documented field', async () => {
    const status = (await (await s.admin('/status')).json()) as Record<string, unknown>;
    for (const field of ['status', 'mode', 'mode_reason', 'mode_changed_at', 'read_at', 'test_mode', 'degraded', 'breakers', 'last_signal', 'recent_errors', 'queue', 'spool', 'orders', 'streams', 'version', 'uptime_seconds', 'role']) {
      expect(status).toHaveProperty(field);
    }
    expect(status.role).toBe('admin');
    expect(status.queue).toEqual({ accepted: expect.any(Number), executing: expect.any(Number), oldest_accepted_age_seconds: expect.any(Number) });
    expect(status.breakers).toHaveProperty('mock');
  });

  test("GET /admin/status names the caller's role: admin for the admin token, read for the read token", async () => {
    expect(((await (await s.admin('/status')).json()) as { role: string }).role).toBe('admin');
    const read = await fetch(`${s.url}/admin/status`, { headers: { authorization: 'Bearer read-token' } });
    expect(((await read.json()) as { role: string }).role).toBe('read');
  });

  test('POST /admin/mode validates its body', async () => {
    const res = await s.admin('/mode', { body: { mode: 'sideways', reason: '' } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; issues: Array<{ path: string }> } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.issues.map((i) => i.path).sort()).toEqual(['mode', 'reason']);
    const notJson = await fetch(`${s.url}/admin/mode`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{' });
    expect(notJson.status).toBe(400);
  });

  test('GET /admin/signals filters and pages with a cursor, newest first', async () => {
    const instrument = `PG${n}`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) ids.push((await sendWait({ action: 'buy', instrument, quantity: 1 })).signal_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await s.admin(`/signals?instrument=${instrument.toLowerCase()}&limit=3${cursor === null ? '' : `&cursor=${cursor}`}`);
      const page = (await res.json()) as { items: Array<{ signal_id: string; instrument: string }>; next_cursor: string | null };
      for (const item of page.items) expect(item.instrument).toBe(instrument);
      seen.push(...page.items.map((i) => i.signal_id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual([...ids].reverse());
    const executed = (await (await s.admin(`/signals?status=executed&instrument=${instrument}`)).json()) as { items: unknown[] };
    expect(executed.items).toHaveLength(7);
    expect((await s.admin('/signals?limit=501')).status).toBe(400);
    expect((await s.admin('/signals?status=bogus')).status).toBe(400);
  });

  test('GET /admin/signals/{id}: 404 for an unknown id', async () => {
    const res = await s.admin('/signals/sig_nope');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  test('GET /admin/connectors/mock/orders has the documented fields', async () => {
    await sendWait({ action: 'buy', instrument: 'ORD', quantity: 3, order_type: 'limit', limit_price: 99 });
    const orders = (await (await s.admin('/connectors/mock/orders?limit=1')).json()) as { items: Array<Record<string, unknown>> };
    expect(orders.items[0]).toMatchObject({ instrument: 'ORD', side: 'buy', quantity: 3, order_type: 'limit', limit_price: 99, status: 'filled', filled_quantity: 3, fill_price: 99 });
    for (const field of ['client_order_id', 'created_at']) expect(orders.items[0]).toHaveProperty(field);
    // Paged like every list: the next page starts after the last order seen.
    const first = (await (await s.admin('/connectors/mock/orders?limit=1')).json()) as { items: Array<{ client_order_id: string }>; next_cursor: string | null };
    expect(first.next_cursor).not.toBeNull();
    const next = (await (await s.admin(`/connectors/mock/orders?limit=1&cursor=${encodeURIComponent(first.next_cursor ?? '')}`)).json()) as { items: Array<{ client_order_id: string }> };
    expect(next.items).toHaveLength(1);
    expect(next.items[0]?.client_order_id).not.toBe(first.items[0]?.client_order_id);
  });

  test('healthz and readyz need no token', async () => {
    expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
  });

  test('an unknown route is a JSON 404', async () => {
    const res = await fetch(`${s.url}/nope`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
