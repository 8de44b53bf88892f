/**
 * Sender formats through the real server (docs/http-api.md#webhook-ingest, docs/http-api.md#signal-body): a TradingView alert arrives as
 * `text/plain` with numbers as strings and is stored as a native signal; an unrendered
 * placeholder is a 400 naming its field; the passphrase never reaches the stored signal;
 * TradersPost signals map as documented in src/ingest/formats/traderspost.ts; unknown fields
 * land in meta.unknown_fields.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TRADERSPOST_EXAMPLE } from '../../src/ingest/formats/traderspost.js';
import { TRADINGVIEW_EXAMPLE_ALERT } from '../../src/ingest/formats/tradingview.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PASSPHRASE = `tv-passphrase-${randomUUID()}`;
const TOKEN = `tp-token-${randomUUID()}`;

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({
    config: {
      sources: {
        tv: { auth: { scheme: 'passphrase', field: 'passphrase', secrets: [PASSPHRASE] }, format: 'tradingview' },
        tp: { auth: { scheme: 'token', secrets: [TOKEN] }, format: 'traderspost' },
        nat: { auth: { scheme: 'token', secrets: [TOKEN] } },
      },
    },
  });
});
afterAll(async () => {
  await s.close();
});

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** TradingView's {{timenow}}: UTC, seconds precision. */
const timenow = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The documented alert message with its placeholders filled in, exactly as TradingView sends it. */
function renderAlert(values: Record<string, string>, passphrase = PASSPHRASE): string {
  const rendered = TRADINGVIEW_EXAMPLE_ALERT.replace('YOUR_PASSPHRASE', passphrase).replace(/\{\{([a-z._]+)\}\}/g, (whole, name: string) => values[name] ?? whole);
  return rendered;
}

const alertValues = (overrides: Record<string, string> = {}): Record<string, string> => ({
  ticker: 'AAPL',
  'strategy.order.action': 'buy',
  'strategy.order.contracts': '10',
  'strategy.position_size': '10',
  'strategy.market_position': 'long',
  close: '150.25',
  timenow: timenow(),
  'strategy.order.id': `Long${randomUUID().slice(0, 8)}`,
  ...overrides,
});

function post(source: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${s.url}/webhooks/${source}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

const postTp = (body: Record<string, unknown>): Promise<Response> => post('tp', JSON.stringify(body), { authorization: `Bearer ${TOKEN}` });

async function json(res: Response): Promise<Record<string, unknown>> {
  const body: unknown = await res.json();
  if (!isRecord(body)) throw new Error(`not a JSON object: ${JSON.stringify(body)}`);
  return body;
}

/** GET /admin/signals/{id} → the stored native signal. */
async function storedSignal(signalId: string): Promise<{ detail: Record<string, unknown>; signal: Record<string, unknown> }> {
  const res = await s.admin(`/signals/${signalId}`);
  expect(res.status).toBe(200);
  const detail = await json(res);
  if (!isRecord(detail.signal)) throw new Error(`no signal in ${JSON.stringify(detail)}`);
  return { detail, signal: detail.signal };
}

async function acceptedId(res: Response): Promise<string> {
  expect(res.status).toBe(202);
  const body = await json(res);
  expect(body.status).toBe('accepted');
  if (typeof body.signal_id !== 'string') throw new Error(`no signal_id in ${JSON.stringify(body)}`);
  return body.signal_id;
}

describe('tradingview', () => {
  test('the documented alert, rendered and sent as text/plain with numbers as strings, is stored as a native signal', async () => {
    const values = alertValues();
    const body = renderAlert(values);
    // As TradingView renders it: quoted numbers, and no placeholder left.
    expect(body).toContain('"contracts": "10"');
    expect(body).not.toContain('{{');
    const res = await post('tv', body, { 'content-type': 'text/plain; charset=utf-8' });
    const signalId = await acceptedId(res);

    const { detail, signal } = await storedSignal(signalId);
    const time = String(values.timenow);
    const orderId = String(values['strategy.order.id']);
    expect(detail.idempotency_key).toBe(`${orderId}-AAPL-${time}`);
    expect(signal).toEqual({
      id: `${orderId}-AAPL-${time}`,
      action: 'buy',
      instrument: 'AAPL',
      quantity: 10,
      price: 150.25,
      order_type: 'market',
      time_in_force: 'day',
      timestamp: time,
      strategy: 'momentum_v1',
      meta: { tradingview: { market_position: 'long', position_size: '10' } },
    });
    expect(typeof signal.quantity).toBe('number');
    expect(typeof signal.price).toBe('number');
  });

  test('a lower-case ticker and an upper-case action are normalized', async () => {
    const signalId = await acceptedId(await post('tv', renderAlert(alertValues({ ticker: 'msft', 'strategy.order.action': 'SELL', 'strategy.order.contracts': '2.5' })), { 'content-type': 'text/plain' }));
    const { signal } = await storedSignal(signalId);
    expect(signal).toMatchObject({ instrument: 'MSFT', action: 'sell', quantity: 2.5 });
  });

  test('market_position flat closes the whole position (no quantity)', async () => {
    const signalId = await acceptedId(await post('tv', renderAlert(alertValues({ 'strategy.market_position': 'flat', 'strategy.position_size': '0', 'strategy.order.action': 'sell' }))));
    const { signal } = await storedSignal(signalId);
    expect(signal.action).toBe('close');
    expect(signal).not.toHaveProperty('quantity');
    expect(signal.meta).toEqual({ tradingview: { market_position: 'flat', position_size: '0' } });
  });

  test('an unrendered {{ticker}} is a 400 invalid_signal whose issue names the field', async () => {
    const values = alertValues();
    delete values.ticker;
    const body = renderAlert(values);
    expect(body).toContain('"ticker": "{{ticker}}"');
    const res = await post('tv', body, { 'content-type': 'text/plain' });
    expect(res.status).toBe(400);
    const error = (await json(res)).error;
    if (!isRecord(error)) throw new Error('no error object');
    expect(error.code).toBe('invalid_signal');
    expect(error.request_id).toBe(res.headers.get('x-request-id'));
    expect(error.issues).toEqual([{ path: 'ticker', message: expect.stringContaining('{{ticker}}') }]);
  });

  test('every unrendered placeholder is listed, each by its field', async () => {
    const values = alertValues();
    delete values.close;
    delete values['strategy.order.contracts'];
    const res = await post('tv', renderAlert(values));
    expect(res.status).toBe(400);
    const error = (await json(res)).error;
    if (!isRecord(error) || !Array.isArray(error.issues)) throw new Error('no issues');
    const paths = error.issues.map((i: unknown) => (isRecord(i) ? i.path : undefined));
    expect(paths.sort()).toEqual(['contracts', 'price']);
  });

  test('the passphrase is never in the stored signal, the signal list or the refusal log', async () => {
    const signalId = await acceptedId(await post('tv', renderAlert(alertValues({ 'strategy.order.action': 'buy' }))));
    const { detail, signal } = await storedSignal(signalId);
    expect(signal).not.toHaveProperty('passphrase');
    expect(isRecord(signal.meta) ? signal.meta : {}).not.toHaveProperty('unknown_fields');
    expect(JSON.stringify(detail)).not.toContain(PASSPHRASE);
    const list = await (await s.admin('/signals?source=tv&limit=500')).text();
    expect(list).toContain(signalId);
    expect(list).not.toContain(PASSPHRASE);
    expect(list).not.toContain('"passphrase"');
    const deliveries = await (await s.admin('/deliveries?limit=500')).text();
    expect(deliveries).toContain('{{ticker}}'); // the refused alerts above are there…
    expect(deliveries).not.toContain(PASSPHRASE); // …without their passphrase
  });

  test('unknown alert fields are kept in meta.unknown_fields', async () => {
    const alert: unknown = JSON.parse(renderAlert(alertValues()));
    if (!isRecord(alert)) throw new Error('alert is not an object');
    const signalId = await acceptedId(await post('tv', JSON.stringify({ ...alert, note: 'from pine', bar_index: '1234' })));
    const { signal } = await storedSignal(signalId);
    expect(signal.meta).toEqual({ tradingview: { market_position: 'long', position_size: '10' }, unknown_fields: { note: 'from pine', bar_index: '1234' } });
  });
});

describe('traderspost', () => {
  test('the documented buy example maps field by field', async () => {
    const example: unknown = JSON.parse(TRADERSPOST_EXAMPLE);
    if (!isRecord(example)) throw new Error('example is not an object');
    // A fresh signalId so that this test owns its idempotency key.
    const signalId = await acceptedId(await postTp({ ...example, signalId: `momentum-${randomUUID()}-AAPL` }));
    const { signal, detail } = await storedSignal(signalId);
    expect(signal).toEqual({
      id: expect.stringMatching(/^momentum-.*-AAPL$/),
      action: 'buy',
      instrument: 'AAPL',
      quantity: 10,
      order_type: 'limit',
      limit_price: 150.1,
      time_in_force: 'day',
      take_profit: { limit_price: 160 },
      stop_loss: { stop_price: 145 },
      price: 150.25,
      timestamp: '2026-11-22T10:30:00Z',
      meta: { strategy_version: '1.4', traderspost: { action: 'buy', sentiment: 'bullish' } },
    });
    expect(detail.idempotency_key).toBe(signal.id);
  });

  test('exit → close of the whole position; with a quantity, a partial close', async () => {
    const whole = await storedSignal(await acceptedId(await postTp({ ticker: 'AAPL', action: 'exit', signalId: randomUUID() })));
    expect(whole.signal).toMatchObject({ action: 'close', instrument: 'AAPL' });
    expect(whole.signal).not.toHaveProperty('quantity');
    const partial = await storedSignal(await acceptedId(await postTp({ ticker: 'AAPL', action: 'exit', quantity: '3', signalId: randomUUID() })));
    expect(partial.signal).toMatchObject({ action: 'close', instrument: 'AAPL', quantity: 3 });
  });

  test('cancel → cancel', async () => {
    const { signal } = await storedSignal(await acceptedId(await postTp({ ticker: 'aapl', action: 'cancel', signalId: randomUUID() })));
    expect(signal).toMatchObject({ action: 'cancel', instrument: 'AAPL', meta: { traderspost: { action: 'cancel' } } });
  });

  test('add with sentiment bearish → sell; add bullish → buy', async () => {
    const bearish = await storedSignal(await acceptedId(await postTp({ ticker: 'AAPL', action: 'add', sentiment: 'bearish', quantity: 4, price: 100, signalId: randomUUID() })));
    expect(bearish.signal).toMatchObject({ action: 'sell', instrument: 'AAPL', quantity: 4, meta: { traderspost: { action: 'add', sentiment: 'bearish' } } });
    const bullish = await storedSignal(await acceptedId(await postTp({ ticker: 'AAPL', action: 'add', sentiment: 'bullish', quantity: 4, price: 100, signalId: randomUUID() })));
    expect(bullish.signal).toMatchObject({ action: 'buy', quantity: 4 });
  });

  test('add without a sentiment is refused (400) with an issue on action', async () => {
    const res = await postTp({ ticker: 'AAPL', action: 'add', quantity: 4, signalId: randomUUID() });
    expect(res.status).toBe(400);
    const error = (await json(res)).error;
    if (!isRecord(error)) throw new Error('no error object');
    expect(error.code).toBe('invalid_signal');
    expect(error.issues).toEqual([{ path: 'action', message: expect.stringContaining('"add"') }]);
  });

  test('sentiment flat → close of the whole position, the quantity dropped', async () => {
    const { signal } = await storedSignal(await acceptedId(await postTp({ ticker: 'AAPL', action: 'sell', sentiment: 'flat', quantity: 5, signalId: randomUUID() })));
    expect(signal.action).toBe('close');
    expect(signal).not.toHaveProperty('quantity');
  });

  test('unknown fields are kept in meta.unknown_fields', async () => {
    const { signal } = await storedSignal(await acceptedId(await postTp({ ticker: 'AAPL', action: 'buy', quantity: 1, price: 10, signalId: randomUUID(), accountId: 'acct-7', tags: ['a', 'b'] })));
    expect(signal.meta).toEqual({ traderspost: { action: 'buy' }, unknown_fields: { accountId: 'acct-7', tags: ['a', 'b'] } });
  });
});

describe('native', () => {
  test('unknown top-level fields are kept in meta.unknown_fields beside the given meta', async () => {
    const body = { id: `n-${randomUUID()}`, action: 'buy', instrument: 'aapl', quantity: '2', price: '10.5', meta: { desk: 'x' }, confidence: 0.8, source_system: 'quant' };
    const { signal } = await storedSignal(await acceptedId(await post('nat', JSON.stringify(body), { 'x-api-key': TOKEN })));
    expect(signal).toMatchObject({ instrument: 'AAPL', quantity: 2, price: 10.5 });
    expect(signal.meta).toEqual({ desk: 'x', unknown_fields: { confidence: 0.8, source_system: 'quant' } });
  });
});
