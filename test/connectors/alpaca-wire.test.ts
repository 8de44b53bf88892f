/**
 * Alpaca's JSON ↔ sluice's types (src/connectors/alpaca-wire.ts), as tables: the status mapping,
 * order reading (numbers as strings, cumulative fills), the stream's address and its messages.
 */
import { describe, expect, test } from 'vitest';
import {
  authMessage,
  decimal,
  LISTEN_MESSAGE,
  mapAlpacaStatus,
  orderBody,
  parseStreamFrame,
  streamUrlOf,
  toOrder,
  type StreamMessage,
} from '../../src/connectors/alpaca-wire.js';
import type { PlacedOrderRequest } from '../../src/connectors/connector.js';
import type { Order, OrderStatus } from '../../src/domain/types.js';

describe('status mapping', () => {
  const statuses: { alpaca: string; filled: number; qty: number; want: OrderStatus }[] = [
    { alpaca: 'new', filled: 0, qty: 10, want: 'new' },
    { alpaca: 'accepted', filled: 0, qty: 10, want: 'new' },
    { alpaca: 'pending_new', filled: 0, qty: 10, want: 'new' },
    { alpaca: 'partially_filled', filled: 3, qty: 10, want: 'partially_filled' },
    { alpaca: 'filled', filled: 10, qty: 10, want: 'filled' },
    { alpaca: 'canceled', filled: 0, qty: 10, want: 'canceled' },
    { alpaca: 'canceled', filled: 4, qty: 10, want: 'canceled' },
    { alpaca: 'rejected', filled: 0, qty: 10, want: 'rejected' },
    { alpaca: 'expired', filled: 0, qty: 10, want: 'expired' },
    { alpaca: 'replaced', filled: 0, qty: 10, want: 'canceled' },
    { alpaca: 'done_for_day', filled: 4, qty: 10, want: 'partially_filled' },
    { alpaca: 'pending_cancel', filled: 0, qty: 10, want: 'new' },
    { alpaca: 'held', filled: 0, qty: 10, want: 'new' },
    { alpaca: 'calculated', filled: 10, qty: 10, want: 'filled' },
    { alpaca: 'calculated', filled: 4, qty: 10, want: 'partially_filled' },
    { alpaca: 'something_new', filled: 0, qty: 10, want: 'new' },
  ];
  for (const s of statuses) {
    test(`${s.alpaca} (filled ${s.filled}/${s.qty}) → ${s.want}`, () => {
      expect(mapAlpacaStatus(s.alpaca, s.filled, s.qty)).toBe(s.want);
    });
  }
});

const alpacaOrder = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: '7b08df51-c1ac-453c-99f9-323a5f075f0d',
  client_order_id: 'sl-1',
  symbol: 'AAPL',
  side: 'buy',
  type: 'limit',
  order_type: 'limit',
  qty: '10',
  filled_qty: '0',
  filled_avg_price: null,
  limit_price: '150.1',
  status: 'accepted',
  ...over,
});

describe('toOrder', () => {
  const base: Order = {
    client_order_id: 'sl-1',
    order_id: '7b08df51-c1ac-453c-99f9-323a5f075f0d',
    instrument: 'AAPL',
    side: 'buy',
    quantity: 10,
    order_type: 'limit',
    limit_price: 150.1,
    status: 'new',
    filled_quantity: 0,
    fill_price: null,
  };
  const cases: { name: string; json: Record<string, unknown>; want: Order | undefined }[] = [
    { name: 'accepted, nothing filled', json: alpacaOrder(), want: base },
    {
      name: 'partially filled: cumulative quantity and average price, from strings',
      json: alpacaOrder({ status: 'partially_filled', filled_qty: '4', filled_avg_price: '150.05' }),
      want: { ...base, status: 'partially_filled', filled_quantity: 4, fill_price: 150.05 },
    },
    {
      name: 'filled, fractional',
      json: alpacaOrder({ status: 'filled', qty: '0.5', filled_qty: '0.5', filled_avg_price: '150.0999' }),
      want: { ...base, status: 'filled', quantity: 0.5, filled_quantity: 0.5, fill_price: 150.0999 },
    },
    { name: 'JSON numbers are read too', json: alpacaOrder({ qty: 10, filled_qty: 2, filled_avg_price: 150 }), want: { ...base, filled_quantity: 2, fill_price: 150 } },
    { name: 'a price for nothing filled is no price', json: alpacaOrder({ filled_avg_price: '0' }), want: base },
    { name: 'market order: no limit price', json: alpacaOrder({ type: 'market', order_type: 'market', limit_price: null }), want: { ...base, order_type: 'market', limit_price: null } },
    { name: 'only order_type given', json: alpacaOrder({ type: undefined, order_type: 'stop' }), want: { ...base, order_type: 'stop' } },
    { name: 'replaced reads as canceled', json: alpacaOrder({ status: 'replaced' }), want: { ...base, status: 'canceled' } },
    { name: 'no id', json: alpacaOrder({ id: undefined }), want: undefined },
    { name: 'no client_order_id', json: alpacaOrder({ client_order_id: '' }), want: undefined },
    { name: 'an unknown side', json: alpacaOrder({ side: 'short' }), want: undefined },
    { name: 'a trailing stop (not a sluice order type)', json: alpacaOrder({ type: 'trailing_stop', order_type: 'trailing_stop' }), want: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(toOrder(c.json)).toEqual(c.want);
    });
  }
});

describe('stream address', () => {
  const cases: { base_url: string; stream_url?: string; want: string }[] = [
    { base_url: 'https://paper-api.alpaca.markets', want: 'wss://paper-api.alpaca.markets/stream' },
    { base_url: 'https://api.alpaca.markets/', want: 'wss://api.alpaca.markets/stream' },
    { base_url: 'http://127.0.0.1:4010', want: 'ws://127.0.0.1:4010/stream' },
    { base_url: 'https://proxy.example/alpaca/', want: 'wss://proxy.example/alpaca/stream' },
    { base_url: 'https://paper-api.alpaca.markets', stream_url: 'ws://127.0.0.1:9/s', want: 'ws://127.0.0.1:9/s' },
  ];
  for (const c of cases) {
    test(`${c.base_url}${c.stream_url === undefined ? '' : ` + ${c.stream_url}`} → ${c.want}`, () => {
      expect(streamUrlOf(c)).toBe(c.want);
    });
  }

  test('the handshake messages are the documented ones', () => {
    expect(JSON.parse(authMessage('KEY', 'SECRET'))).toEqual({ action: 'auth', key: 'KEY', secret: 'SECRET' });
    expect(JSON.parse(LISTEN_MESSAGE)).toEqual({ action: 'listen', data: { streams: ['trade_updates'] } });
  });
});

describe('stream messages', () => {
  const update = (event: string, order: unknown): string =>
    JSON.stringify({ stream: 'trade_updates', data: { event, order, timestamp: '2026-12-02T14:30:00Z', price: '150', qty: '4', position_qty: '4' } });
  const cases: { name: string; frame: string; want: StreamMessage[] }[] = [
    { name: 'authorized', frame: '{"stream":"authorization","data":{"status":"authorized","action":"authenticate"}}', want: [{ kind: 'authorized' }] },
    { name: 'unauthorized', frame: '{"stream":"authorization","data":{"status":"unauthorized","action":"authenticate"}}', want: [{ kind: 'unauthorized', action: 'authenticate' }] },
    { name: 'unauthorized listen', frame: '{"stream":"authorization","data":{"status":"unauthorized","action":"listen"}}', want: [{ kind: 'unauthorized', action: 'listen' }] },
    { name: 'listening', frame: '{"stream":"listening","data":{"streams":["trade_updates"]}}', want: [{ kind: 'listening', trade_updates: true }] },
    { name: 'listening to nothing', frame: '{"stream":"listening","data":{"streams":[]}}', want: [{ kind: 'listening', trade_updates: false }] },
    {
      name: 'a partial fill: the order as the REST mapping reads it',
      frame: update('partial_fill', alpacaOrder({ status: 'partially_filled', filled_qty: '4', filled_avg_price: '150' })),
      want: [{ kind: 'trade_update', event: 'partial_fill', order: { ...(toOrder(alpacaOrder()) as Order), status: 'partially_filled', filled_quantity: 4, fill_price: 150 } }],
    },
    { name: 'an update without a readable order', frame: update('fill', { id: 'x' }), want: [{ kind: 'unreadable', why: 'a fill update without a readable order' }] },
    { name: 'an in-stream error', frame: '{"action":"error","data":{"error_message":"internal server error"}}', want: [{ kind: 'error', message: 'internal server error' }] },
    { name: 'not JSON', frame: 'hello', want: [{ kind: 'unreadable', why: 'a frame that is not JSON' }] },
    { name: 'not an object', frame: '42', want: [{ kind: 'unreadable', why: 'a message that is not an object' }] },
    { name: 'another stream', frame: '{"stream":"account_updates","data":{}}', want: [{ kind: 'ignored' }] },
    {
      name: 'several messages in one frame',
      frame: '[{"stream":"authorization","data":{"status":"authorized"}},{"stream":"listening","data":{"streams":["trade_updates"]}}]',
      want: [{ kind: 'authorized' }, { kind: 'listening', trade_updates: true }],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(parseStreamFrame(c.frame)).toEqual(c.want);
    });
  }
});

describe('request bodies', () => {
  const decimals: [number, string][] = [
    [10, '10'],
    [0.5, '0.5'],
    [150.1, '150.1'],
    [1e-7, '0.0000001'],
    [123456.123456789, '123456.123456789'],
    [-0, '0'],
  ];
  for (const [n, want] of decimals) {
    test(`decimal(${n}) = "${want}"`, () => {
      expect(decimal(n)).toBe(want);
    });
  }

  test('orderBody: no order_class without legs; stop_limit carries both prices', () => {
    const request: PlacedOrderRequest = {
      action: 'buy',
      client_order_id: 'sl-1',
      signal_id: 'sig_1',
      instrument: 'AAPL',
      side: 'buy',
      quantity: 10,
      order_type: 'stop_limit',
      stop_price: 99,
      limit_price: 98.5,
      time_in_force: 'day',
      signal: { action: 'buy', instrument: 'AAPL', quantity: 10, order_type: 'stop_limit', time_in_force: 'day', meta: {} },
    };
    const body = orderBody(request);
    expect(body).not.toHaveProperty('order_class');
    expect(body).toMatchObject({ type: 'stop_limit', stop_price: '99', limit_price: '98.5', qty: '10', client_order_id: 'sl-1' });
  });
});
