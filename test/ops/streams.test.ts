/**
 * Order streams as a degraded component, and the alerts of orders that end badly, as tables
 * (docs/http-api.md#status, docs/configuration.md#alerts): a stream is `stream:<connector>` only
 * once it has been down for longer than twice `order_poll_seconds` (a brief reconnect never),
 * entering and leaving through the one DegradedState; `order.rejected` and `order.expired` are
 * alerts, other order events are not.
 */
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import type { StreamStatus } from '../../src/execution/tracker.js';
import { alertMessage, isAlertEvent } from '../../src/ops/alerts.js';
import { DegradedState } from '../../src/ops/degraded.js';
import { checkStreams, streamsDown } from '../../src/ops/streams.js';

const T0 = Date.UTC(2026, 10, 23, 15, 0, 0);
const at = (ms: number) => new Date(T0 + ms);
const stream = (connector: string, connected: boolean, sinceMs: number, reason: string | null = null): StreamStatus => ({
  connector,
  connected,
  reason,
  since: at(sinceMs).toISOString(),
});

describe('streamsDown', () => {
  const cases: Array<{ name: string; streams: StreamStatus[]; nowMs: number; down: string[] }> = [
    { name: 'connected for long: nothing', streams: [stream('alpaca', true, 0)], nowMs: 60_000, down: [] },
    { name: 'a brief reconnect (down under the threshold): nothing', streams: [stream('alpaca', false, 0, 'reset')], nowMs: 9_999, down: [] },
    { name: 'down exactly the threshold: not yet', streams: [stream('alpaca', false, 0, 'reset')], nowMs: 10_000, down: [] },
    { name: 'down past the threshold', streams: [stream('alpaca', false, 0, 'reset')], nowMs: 10_001, down: ['stream:alpaca'] },
    { name: 'never connected since start, past the threshold', streams: [stream('alpaca', false, 0, 'connecting')], nowMs: 30_000, down: ['stream:alpaca'] },
    {
      name: 'only the one that is down',
      streams: [stream('a', true, 0), stream('b', false, 0, 'x'), stream('c', false, 25_000, 'y')],
      nowMs: 30_000,
      down: ['stream:b'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(streamsDown(c.streams, at(c.nowMs), 10_000, 5).map((d) => d.component)).toEqual(c.down);
    });
  }

  test('the reason names when it went down, why, and that open orders are polled meanwhile', () => {
    expect(streamsDown([stream('alpaca', false, 0, 'socket hang up')], at(20_000), 10_000, 5)).toEqual([
      { component: 'stream:alpaca', reason: `order stream down since ${at(0).toISOString()} (socket hang up); open orders are polled every 5 s` },
    ]);
    expect(streamsDown([stream('alpaca', false, 0)], at(20_000), 10_000, 5)[0]?.reason).toBe(`order stream down since ${at(0).toISOString()}; open orders are polled every 5 s`);
  });
});

describe('checkStreams', () => {
  test('enters degraded once while the stream stays down, leaves it when it is back; a brief drop leaves no trace', async () => {
    let now = at(0);
    let streams: StreamStatus[] = [stream('alpaca', true, 0)];
    const log: Array<{ type: string; component: unknown }> = [];
    const degraded = new DegradedState({
      logger: pino({ level: 'silent' }),
      now: () => now,
      record: async (type, data) => {
        log.push({ type, component: data.component });
      },
    });
    const check = () => checkStreams({ streams: () => streams, degraded, now: () => now, pollSeconds: 5 });

    // A drop of 4 s (under 2 × 5 s), then back: nothing.
    streams = [stream('alpaca', false, 1_000, 'reset')];
    now = at(5_000);
    check();
    streams = [stream('alpaca', true, 5_500)];
    now = at(6_000);
    check();
    expect(degraded.list()).toEqual([]);

    // Down at 10 s and staying down: degraded from past 20 s, once however often it is checked.
    streams = [stream('alpaca', false, 10_000, 'reset')];
    for (const ms of [15_000, 20_001, 25_000, 30_000]) {
      now = at(ms);
      check();
    }
    expect(degraded.list()).toMatchObject([{ component: 'stream:alpaca', since: at(20_001).toISOString() }]);

    streams = [stream('alpaca', true, 31_000)];
    now = at(31_000);
    check();
    expect(degraded.list()).toEqual([]);
    await degraded.settled();
    expect(log).toEqual([
      { type: 'degraded.entered', component: 'stream:alpaca' },
      { type: 'degraded.exited', component: 'stream:alpaca' },
    ]);
  });
});

describe('order alerts', () => {
  const data = { connector: 'alpaca', instrument: 'AAPL', client_order_id: 'sl-abc', order_id: 'o-1', side: 'buy', quantity: 5, avg_fill_price: null, fill: null };
  const cases: Array<{ type: string; filled: number; alert: boolean; text?: string }> = [
    { type: 'order.rejected', filled: 0, alert: true, text: 'order rejected: alpaca buy 5 AAPL (client_order_id sl-abc), nothing filled' },
    { type: 'order.expired', filled: 2, alert: true, text: 'order expired: alpaca buy 5 AAPL (client_order_id sl-abc), 2 of 5 filled' },
    { type: 'order.filled', filled: 5, alert: false },
    { type: 'order.canceled', filled: 0, alert: false },
    { type: 'order.partially_filled', filled: 1, alert: false },
    { type: 'order.new', filled: 0, alert: false },
  ];
  for (const c of cases) {
    test(`${c.type}: ${c.alert ? 'alerted' : 'not alerted'}`, () => {
      const event = { type: c.type, at: at(0).toISOString(), data: { ...data, filled_quantity: c.filled }, seq: 42 };
      expect(isAlertEvent(event)).toBe(c.alert);
      if (c.text !== undefined) expect(alertMessage(event)).toEqual({ text: `[sluice #42 ${at(0).toISOString()}] ${c.text}` });
    });
  }
});
