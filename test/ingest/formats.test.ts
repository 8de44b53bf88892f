/** The tradingview and traderspost mappings to native-shaped objects (docs/http-api.md#signal-body), as tables. */
import { describe, expect, test } from 'vitest';
import { TRADERSPOST_EXAMPLE, fromTradersPost } from '../../src/ingest/formats/traderspost.js';
import { TRADINGVIEW_EXAMPLE_ALERT, fromTradingView } from '../../src/ingest/formats/tradingview.js';

const TIME = '2026-11-22T10:30:00Z';

/** An alert as TradingView renders it: every placeholder replaced, numbers as strings. */
const rendered = {
  ticker: 'AAPL',
  action: 'buy',
  contracts: '10',
  position_size: '10',
  market_position: 'long',
  price: '150.25',
  time: TIME,
  order_id: 'Long',
  strategy: 'momentum_v1',
};

describe('fromTradingView', () => {
  test('maps a rendered strategy alert to a native-shaped signal', () => {
    expect(fromTradingView(rendered)).toEqual({
      id: `Long-AAPL-${TIME}`,
      action: 'buy',
      instrument: 'AAPL',
      quantity: '10',
      price: '150.25',
      timestamp: TIME,
      strategy: 'momentum_v1',
      meta: { tradingview: { market_position: 'long', position_size: '10' } },
    });
  });

  test('the documented alert, once TradingView renders it, maps as documented', () => {
    const values: Record<string, string> = {
      ticker: 'AAPL',
      'strategy.order.action': 'sell',
      'strategy.order.contracts': '4',
      'strategy.position_size': '-4',
      'strategy.market_position': 'short',
      close: '150.25',
      timenow: TIME,
      'strategy.order.id': 'Short',
    };
    const text = TRADINGVIEW_EXAMPLE_ALERT.replace(/\{\{([^}]+)\}\}/g, (_, name: string) => values[name] ?? `{{${name}}}`);
    expect(text).not.toContain('{{');
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(fromTradingView(body)).toEqual({
      passphrase: 'YOUR_PASSPHRASE', // removed by the passphrase scheme before the format runs
      id: `Short-AAPL-${TIME}`,
      action: 'sell',
      instrument: 'AAPL',
      quantity: '4',
      price: '150.25',
      timestamp: TIME,
      strategy: 'momentum_v1',
      meta: { tradingview: { market_position: 'short', position_size: '-4' } },
    });
  });

  const cases: { name: string; body: Record<string, unknown>; expected: Record<string, unknown> }[] = [
    {
      name: 'market_position flat → close, whole position (no quantity)',
      body: { ticker: 'AAPL', action: 'sell', contracts: '10', position_size: '0', market_position: 'flat' },
      expected: { action: 'close', instrument: 'AAPL', meta: { tradingview: { market_position: 'flat', position_size: '0' } } },
    },
    {
      name: 'market_position FLAT is case-insensitive',
      body: { ticker: 'AAPL', action: 'sell', contracts: '10', market_position: 'FLAT' },
      expected: { action: 'close', instrument: 'AAPL', meta: { tradingview: { market_position: 'FLAT' } } },
    },
    {
      name: 'sizing target, long → target with position_size',
      body: { ticker: 'AAPL', action: 'buy', contracts: '5', position_size: '15', market_position: 'long', sizing: 'target' },
      expected: { action: 'target', instrument: 'AAPL', target_position: '15', meta: { tradingview: { market_position: 'long' } } },
    },
    {
      name: 'sizing target, short with a signed size → kept',
      body: { ticker: 'AAPL', action: 'sell', position_size: '-7', market_position: 'short', sizing: 'target' },
      expected: { action: 'target', instrument: 'AAPL', target_position: '-7', meta: { tradingview: { market_position: 'short' } } },
    },
    {
      name: 'sizing target, short with an unsigned size → negated',
      body: { ticker: 'AAPL', action: 'sell', position_size: '7.5', market_position: 'short', sizing: 'target' },
      expected: { action: 'target', instrument: 'AAPL', target_position: '-7.5', meta: { tradingview: { market_position: 'short' } } },
    },
    {
      name: 'sizing target, short with a number → negated',
      body: { ticker: 'AAPL', position_size: 3, market_position: 'short', sizing: 'target' },
      expected: { action: 'target', instrument: 'AAPL', target_position: -3, meta: { tradingview: { market_position: 'short' } } },
    },
    {
      name: 'sizing target, flat → close',
      body: { ticker: 'AAPL', action: 'sell', position_size: '0', market_position: 'flat', sizing: 'target' },
      expected: { action: 'close', instrument: 'AAPL', meta: { tradingview: { market_position: 'flat', position_size: '0' } } },
    },
    {
      name: 'action is lower-cased',
      body: { ticker: 'MSFT', action: 'BUY', contracts: '1' },
      expected: { action: 'buy', instrument: 'MSFT', quantity: '1' },
    },
    {
      name: 'native fields present win over derived ones',
      body: { instrument: 'BTC/USD', ticker: 'BTCUSD', id: 'my-key', order_id: 'Long', quantity: '2', contracts: '9', timestamp: TIME, time: 'x', action: 'buy' },
      expected: { instrument: 'BTC/USD', id: 'my-key', quantity: '2', timestamp: TIME, action: 'buy' },
    },
    {
      name: 'native fields without any TradingView field pass through',
      body: { action: 'cancel', instrument: 'AAPL', order_type: 'limit', limit_price: '1.5', time_in_force: 'gtc' },
      expected: { action: 'cancel', instrument: 'AAPL', order_type: 'limit', limit_price: '1.5', time_in_force: 'gtc' },
    },
    {
      name: 'order_id alone (no ticker or time) → id',
      body: { instrument: 'AAPL', action: 'buy', quantity: '1', order_id: 'abc' },
      expected: { instrument: 'AAPL', action: 'buy', quantity: '1', id: 'abc' },
    },
    {
      name: 'unknown fields are kept at the top level',
      body: { ticker: 'AAPL', action: 'buy', contracts: '1', comment: 'hello', interval: '15' },
      expected: { instrument: 'AAPL', action: 'buy', quantity: '1', comment: 'hello', interval: '15' },
    },
    {
      name: 'an existing meta object is kept and extended',
      body: { ticker: 'AAPL', action: 'buy', contracts: '1', market_position: 'long', meta: { desk: 'a' } },
      expected: { instrument: 'AAPL', action: 'buy', quantity: '1', meta: { desk: 'a', tradingview: { market_position: 'long' } } },
    },
    {
      name: 'an unrendered placeholder is passed on as is (the native schema refuses it)',
      body: { ticker: '{{ticker}}', action: 'buy', contracts: '1' },
      expected: { instrument: '{{ticker}}', action: 'buy', quantity: '1' },
    },
  ];
  test.each(cases)('$name', ({ body, expected }) => {
    expect(fromTradingView(body)).toEqual(expected);
  });

  test('does not modify its input', () => {
    const body = structuredClone(rendered);
    fromTradingView(body);
    expect(body).toEqual(rendered);
  });
});

describe('fromTradersPost', () => {
  test('maps the documented example', () => {
    expect(fromTradersPost(JSON.parse(TRADERSPOST_EXAMPLE) as Record<string, unknown>)).toEqual({
      id: 'momentum-2026-11-22T10:30:00Z-AAPL',
      action: 'buy',
      instrument: 'AAPL',
      quantity: 10,
      order_type: 'limit',
      limit_price: 150.1,
      price: 150.25,
      time_in_force: 'day',
      take_profit: { limit_price: 160 },
      stop_loss: { stop_price: 145 },
      timestamp: TIME,
      meta: { strategy_version: '1.4', traderspost: { action: 'buy', sentiment: 'bullish' } },
    });
  });

  const actions: { action: string; sentiment?: string; want: string; quantity: boolean }[] = [
    { action: 'buy', want: 'buy', quantity: true },
    { action: 'sell', want: 'sell', quantity: true },
    { action: 'BUY', want: 'buy', quantity: true },
    { action: 'buy', sentiment: 'bearish', want: 'buy', quantity: true },
    { action: 'exit', want: 'close', quantity: true },
    { action: 'cancel', want: 'cancel', quantity: true },
    { action: 'cancel', sentiment: 'flat', want: 'cancel', quantity: true },
    { action: 'add', sentiment: 'bullish', want: 'buy', quantity: true },
    { action: 'add', sentiment: 'long', want: 'buy', quantity: true },
    { action: 'add', sentiment: 'bearish', want: 'sell', quantity: true },
    { action: 'add', sentiment: 'short', want: 'sell', quantity: true },
    { action: 'add', want: 'add', quantity: true },
    { action: 'sell', sentiment: 'flat', want: 'close', quantity: false },
    { action: 'buy', sentiment: 'Flat', want: 'close', quantity: false },
    { action: 'exit', sentiment: 'flat', want: 'close', quantity: false },
  ];
  test.each(actions)('action $action, sentiment $sentiment → $want', ({ action, sentiment, want, quantity }) => {
    const body: Record<string, unknown> = { ticker: 'SQ', action, quantity: '5' };
    if (sentiment !== undefined) body.sentiment = sentiment;
    const out = fromTradersPost(body);
    expect(out.action).toBe(want);
    expect(out.instrument).toBe('SQ');
    expect(out.quantity).toBe(quantity ? '5' : undefined);
    expect(out.meta).toEqual({ traderspost: sentiment === undefined ? { action } : { action, sentiment } });
  });

  const cases: { name: string; body: Record<string, unknown>; expected: Record<string, unknown> }[] = [
    {
      name: 'stop_limit with a stop-loss limit leg',
      body: { ticker: 'AAPL', action: 'sell', orderType: 'stop_limit', stopPrice: '100', limitPrice: '99', stopLoss: { stopPrice: '110', limitPrice: '111' } },
      expected: {
        instrument: 'AAPL',
        action: 'sell',
        order_type: 'stop_limit',
        stop_price: '100',
        limit_price: '99',
        stop_loss: { stop_price: '110', limit_price: '111' },
        meta: { traderspost: { action: 'sell' } },
      },
    },
    {
      name: 'fields outside the format stay at the top level',
      body: { ticker: 'AAPL', action: 'buy', signalPrice: 143.12, optionType: 'call' },
      expected: { instrument: 'AAPL', action: 'buy', signalPrice: 143.12, optionType: 'call', meta: { traderspost: { action: 'buy' } } },
    },
    {
      name: 'bracket legs in percent are passed on for the native schema to judge',
      body: { ticker: 'AMD', action: 'buy', takeProfit: { percent: 10 }, stopLoss: { type: 'stop', percent: 5 } },
      expected: { instrument: 'AMD', action: 'buy', take_profit: { percent: 10 }, stop_loss: { type: 'stop', percent: 5 }, meta: { traderspost: { action: 'buy' } } },
    },
    {
      name: 'extras that are not an object are kept under meta.extras',
      body: { ticker: 'AMD', action: 'buy', extras: 'note' },
      expected: { instrument: 'AMD', action: 'buy', meta: { extras: 'note', traderspost: { action: 'buy' } } },
    },
    {
      name: 'extras merge into an existing meta object',
      body: { ticker: 'AMD', action: 'buy', meta: { desk: 'a' }, extras: { run: 7 } },
      expected: { instrument: 'AMD', action: 'buy', meta: { desk: 'a', run: 7, traderspost: { action: 'buy' } } },
    },
    {
      name: 'native fields present win over derived ones',
      body: { instrument: 'AAPL', ticker: 'MSFT', id: 'k', signalId: 's', order_type: 'market', orderType: 'limit', action: 'buy' },
      expected: { instrument: 'AAPL', id: 'k', order_type: 'market', action: 'buy', meta: { traderspost: { action: 'buy' } } },
    },
    {
      name: 'signalId → id, time → timestamp, timeInForce → time_in_force',
      body: { ticker: 'AAPL', action: 'buy', signalId: 'sig-9', time: TIME, timeInForce: 'gtc' },
      expected: { instrument: 'AAPL', action: 'buy', id: 'sig-9', timestamp: TIME, time_in_force: 'gtc', meta: { traderspost: { action: 'buy' } } },
    },
  ];
  test.each(cases)('$name', ({ body, expected }) => {
    expect(fromTradersPost(body)).toEqual(expected);
  });
});
