/**
 * The operators' view of orders over real HTTP (docs/http-api.md#orders): `GET /admin/orders`
 * newest first, filtered and paged, refusing a cursor it never handed out; a signal's `orders`;
 * the `orders` of `/admin/status` (a late fill is not degraded); the order metrics; and
 * `cancel_open_orders` reaching the instrument of an open order, whose end the tracker then books.
 */
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ordersResponse, signalDetail, statusResponse } from '../../src/http/schemas.js';
import { e2eConfig, nextKey, sendFinal, type FinalOutcome } from '../helpers/connectors.js';
import { writeOrderBroker, type OrderBroker } from '../helpers/order-broker.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { READ_TOKEN, bearer, eventsAfter, readJson } from './helpers.js';

interface OrderView {
  client_order_id: string;
  connector: string;
  signal_id: string;
  instrument: string;
  order_id: string | null;
  side: string;
  quantity: number;
  order_type: string;
  limit_price: number | null;
  status: string;
  filled_quantity: number;
  avg_fill_price: number | null;
  created_at: string;
  updated_at: string;
}

interface OrdersPage {
  items: OrderView[];
  next_cursor: string | null;
}

let s: TestServer;
let broker: OrderBroker;
/** One signal per kind of order, sent in this order. */
let sent: { filled: FinalOutcome; resting: FinalOutcome; rejected: FinalOutcome; late: FinalOutcome };

const orders = async (query = ''): Promise<OrdersPage> => readJson<OrdersPage>(await s.admin(`/orders${query}`));
const coids = (page: OrdersPage): string[] => page.items.map((o) => o.client_order_id);
const coidOf = (out: FinalOutcome): string => out.result?.client_order_id ?? '';

beforeAll(async () => {
  const dir = tempDir('sluice-orders-');
  broker = writeOrderBroker(dir);
  s = await startTestServer({
    dir,
    config: e2eConfig({
      connector: 'custom',
      connectors: { custom: { type: 'module', path: broker.path, options: broker.options } },
      execution: { order_poll_seconds: 0.1, reconcile_interval_seconds: 3600 },
    }),
    env: { SLUICE_READ_TOKEN: READ_TOKEN },
  });
  sent = {
    filled: await sendFinal(s.url, { action: 'buy', instrument: 'FILA', quantity: 3, price: 20 }),
    resting: await sendFinal(s.url, { action: 'buy', instrument: 'RSTA', quantity: 2, order_type: 'limit', limit_price: 9 }),
    rejected: await sendFinal(s.url, { action: 'buy', instrument: 'REJA', quantity: 1, price: 5 }),
    late: await sendFinal(s.url, { action: 'buy', instrument: 'LATEA', quantity: 2, order_type: 'limit', limit_price: 15 }),
  };
  // The late order fills when the tracker next asks about it.
  await eventually(async () => ((await orders('?status=filled')).items.some((o) => o.instrument === 'LATEA') ? true : undefined), 10_000, 'the late fill');
});
afterAll(async () => {
  await s.close();
});

describe('GET /admin/orders', () => {
  test('newest first, with every field; filtered by status (open, terminal, one status), connector and instrument', async () => {
    expect(sent.filled.status).toBe('executed');
    expect(sent.resting.status).toBe('executed');
    expect(sent.rejected.status).toBe('failed');
    const [filled, resting, rejected, late] = [sent.filled, sent.resting, sent.rejected, sent.late].map(coidOf);
    const all = await orders();
    expect(coids(all)).toEqual([late, rejected, resting, filled]);
    expect(all.next_cursor).toBeNull();
    expect(all.items.find((o) => o.client_order_id === filled)).toEqual({
      client_order_id: filled,
      connector: 'custom',
      signal_id: sent.filled.signal_id,
      instrument: 'FILA',
      order_id: 'ob-1',
      side: 'buy',
      quantity: 3,
      order_type: 'market',
      limit_price: null,
      stop_price: null,
      status: 'filled',
      filled_quantity: 3,
      avg_fill_price: 20,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });

    expect(coids(await orders('?status=open'))).toEqual([resting]);
    expect(coids(await orders('?status=new'))).toEqual([resting]);
    expect(coids(await orders('?status=terminal'))).toEqual([late, rejected, filled]);
    expect(coids(await orders('?status=rejected'))).toEqual([rejected]);
    expect(coids(await orders('?status=filled'))).toEqual([late, filled]);
    expect(coids(await orders('?connector=custom'))).toEqual([late, rejected, resting, filled]);
    expect(coids(await orders('?connector=mock'))).toEqual([]);
    // Upper-cased like the signals' filter.
    expect(coids(await orders('?instrument=rsta'))).toEqual([resting]);
    expect(coids(await orders('?status=open&instrument=FILA'))).toEqual([]);
  });

  test('pages with next_cursor; a cursor it never handed out, a bad status or limit is 400 invalid_request naming the field', async () => {
    const walked: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: OrdersPage = await orders(`?limit=1${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(page.items.length).toBeLessThanOrEqual(1);
      walked.push(...coids(page));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(walked).toEqual(coids(await orders()));

    const refused = async (query: string, field: string) => {
      const res = await s.admin(`/orders${query}`);
      const body = (await res.json()) as { error: { code: string; issues: Array<{ path: string; message: string }> } };
      expect({ query, status: res.status, code: body.error.code, paths: body.error.issues.map((i) => i.path) }).toEqual({ query, status: 400, code: 'invalid_request', paths: [field] });
      return body.error.issues[0]?.message;
    };
    for (const bad of ['abc', '0', '-1', '1.5', '1234567890123456', '12:sl-x']) {
      expect(await refused(`?cursor=${encodeURIComponent(bad)}`, 'cursor')).toBe('expected a cursor from next_cursor');
    }
    await refused('?status=pending', 'status');
    await refused('?limit=0', 'limit');
    await refused('?limit=501', 'limit');
    await refused('?connector=-x', 'connector');
  });

  test('the read token may list orders; no token is 401', async () => {
    const res = await fetch(`${s.url}/admin/orders?status=open`, { headers: bearer(READ_TOKEN) });
    expect(res.status).toBe(200);
    expect(coids((await res.json()) as OrdersPage)).toEqual([coidOf(sent.resting)]);
    expect((await fetch(`${s.url}/admin/orders`)).status).toBe(401);
  });
});

describe("a signal's orders", () => {
  test('GET /admin/signals/{id} shows its order with its status and fills; a signal that placed none shows []', async () => {
    const detail = async (out: FinalOutcome) => readJson<{ status: string; orders: OrderView[] }>(await s.admin(`/signals/${out.signal_id}`));
    expect((await detail(sent.filled)).orders).toMatchObject([{ client_order_id: coidOf(sent.filled), status: 'filled', filled_quantity: 3, avg_fill_price: 20 }]);
    expect((await detail(sent.resting)).orders).toMatchObject([{ status: 'new', filled_quantity: 0, avg_fill_price: null, limit_price: 9 }]);
    expect(await detail(sent.rejected)).toMatchObject({ status: 'failed', orders: [{ status: 'rejected', filled_quantity: 0 }] });
    // Filled after the signal was final: the order shows it.
    expect((await detail(sent.late)).orders).toMatchObject([{ status: 'filled', filled_quantity: 2, avg_fill_price: 15 }]);
    const cancel = await sendFinal(s.url, { id: nextKey('cxl'), action: 'cancel', instrument: 'NONE' });
    expect(await detail(cancel)).toMatchObject({ status: 'executed', orders: [] });
  });
});

describe('the documented schemas', () => {
  test('the orders page, a signal with its orders and the status match the schemas the OpenAPI document is built from', async () => {
    const check = (schema: v.GenericSchema, body: unknown) => {
      const parsed = v.safeParse(schema, body);
      expect(parsed.issues?.map((i) => `${v.getDotPath(i) ?? ''}: ${i.message}`) ?? []).toEqual([]);
    };
    check(ordersResponse, await orders());
    for (const out of Object.values(sent)) check(signalDetail, await readJson<unknown>(await s.admin(`/signals/${out.signal_id}`)));
    check(statusResponse, await readJson<unknown>(await s.admin('/status')));
  });
});

describe('status and metrics', () => {
  test('status counts the open orders per connector; a late fill is not degraded', async () => {
    const status = await readJson<{ status: string; degraded: unknown[]; orders: unknown; streams: unknown[] }>(await s.admin('/status'));
    // The configured mock's in-process stream is the only one (the module here has none: it is asked).
    expect(status).toMatchObject({ status: 'ok', degraded: [], orders: { open: 1, by_connector: { custom: 1, mock: 0 } }, streams: [{ connector: 'mock', connected: true }] });
  });

  test('GET /metrics exposes the open orders, the order updates, the fills and the stream reconnects', async () => {
    const res = await fetch(`${s.url}/metrics`, { headers: bearer(READ_TOKEN) });
    const text = await res.text();
    expect(res.status).toBe(200);
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      if (line === undefined) throw new Error(`no ${series} in the exposition`);
      return Number(line.slice(series.length + 1));
    };
    expect(value('sluice_open_orders{connector="custom"}')).toBe(1);
    expect(value('sluice_open_orders{connector="mock"}')).toBe(0);
    // The late fill was reported after the placement: booked by the tracker.
    expect(value('sluice_fills_total{connector="custom"}')).toBeGreaterThanOrEqual(1);
    expect(value('sluice_order_updates_total{connector="custom",status="filled"}')).toBeGreaterThanOrEqual(1);
    expect(text).toContain('# TYPE sluice_order_stream_reconnects_total counter');
  });
});

describe('POST /admin/mode with cancel_open_orders', () => {
  test('cancels at the connector the instrument of the open order; the tracker books its end', async () => {
    await readJson<unknown>(await s.admin('/mode', { body: { mode: 'enabled', reason: 'cancel everything', cancel_open_orders: true } }));
    expect(broker.calls().filter((c) => c.call === 'cancel').map((c) => c.instrument)).toContain('RSTA');
    const logged = (await eventsAfter(s)).filter((e) => e.type === 'orders.cancelled').pop();
    expect(logged?.data.cancelled).toContainEqual({ connector: 'custom', instrument: 'RSTA', cancelled: 1 });
    const ended = await eventually(async () => {
      const open = await orders('?status=open');
      return open.items.length === 0 ? orders('?status=canceled') : undefined;
    }, 10_000, 'the cancelled order to end');
    expect(coids(ended)).toEqual([coidOf(sent.resting)]);
    const status = await readJson<{ orders: unknown }>(await s.admin('/status'));
    expect(status.orders).toEqual({ open: 0, by_connector: { custom: 0, mock: 0 } });
  });
});
