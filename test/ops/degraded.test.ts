/**
 * Degraded events while the event log cannot take them (docs/guarantees.md#degraded-mode): held
 * in order with their own time, alerted at once, appended when the log is back (marked
 * `alerted: true` when that alert was confirmed), then the exit. The log and the receiver here
 * are the two edges, recorded as calls.
 */
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { isAlertEvent } from '../../src/ops/alerts.js';
import { DegradedState, type HeldEvent } from '../../src/ops/degraded.js';

const T = (s: number) => new Date(Date.UTC(2026, 10, 23, 15, 0, s));

function harness(opts: { logUp: () => boolean; receiverUp: () => boolean }) {
  let clock = T(0);
  const log: Array<{ type: string; data: Record<string, unknown>; at: string }> = [];
  const alerts: Array<{ type: string; at: string }> = [];
  const state = new DegradedState({
    logger: pino({ level: 'silent' }),
    now: () => clock,
    record: async (type, data, at) => {
      if (!opts.logUp()) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      log.push({ type, data, at: at.toISOString() });
    },
    alert: async (e: HeldEvent) => {
      alerts.push({ type: e.type, at: e.at.toISOString() });
      return opts.receiverUp();
    },
  });
  return { state, log, alerts, setClock: (d: Date) => (clock = d) };
}

describe('DegradedState', () => {
  test('with the log up, enter and exit are appended at their time and not alerted from here', async () => {
    const h = harness({ logUp: () => true, receiverUp: () => true });
    h.state.enter('positions:mock', 'drift', T(1));
    h.setClock(T(5));
    h.state.exit('positions:mock');
    await h.state.settled();
    expect(h.log).toEqual([
      { type: 'degraded.entered', data: { component: 'positions:mock', reason: 'drift' }, at: T(1).toISOString() },
      { type: 'degraded.exited', data: { component: 'positions:mock', since: T(1).toISOString() }, at: T(5).toISOString() },
    ]);
    expect(h.alerts).toEqual([]);
  });

  test('the database going down is alerted at once, appended with its own time when it is back, marked alerted, then the exit', async () => {
    let up = false;
    const h = harness({ logUp: () => up, receiverUp: () => true });
    h.state.enter('database', 'ECONNREFUSED: connection refused', T(1));
    h.state.enter('database', 'ETIMEDOUT: timeout', T(2));
    await h.state.settled();
    expect(h.alerts).toEqual([{ type: 'degraded.entered', at: T(1).toISOString() }]);
    expect(h.log).toEqual([]);

    up = true;
    h.setClock(T(30));
    h.state.exit('database');
    await h.state.settled();
    expect(h.log).toEqual([
      { type: 'degraded.entered', data: { component: 'database', reason: 'ECONNREFUSED: connection refused', alerted: true }, at: T(1).toISOString() },
      { type: 'degraded.exited', data: { component: 'database', since: T(1).toISOString() }, at: T(30).toISOString() },
    ]);
    expect(h.alerts).toHaveLength(1);
    // The log's alert sender sends the exit and skips the entry it already had sent.
    expect(h.log.map((e) => isAlertEvent(e))).toEqual([false, true]);
  });

  test('an alert the receiver did not take is not marked: the log sends it once it has it', async () => {
    let up = false;
    const h = harness({ logUp: () => up, receiverUp: () => false });
    h.state.enter('database', 'down', T(1));
    await h.state.settled();
    up = true;
    h.state.exit('database');
    await h.state.settled();
    expect(h.log[0]).toEqual({ type: 'degraded.entered', data: { component: 'database', reason: 'down' }, at: T(1).toISOString() });
    expect(isAlertEvent({ type: 'degraded.entered', data: h.log[0]?.data ?? {} })).toBe(true);
  });

  test('an append that fails for another component holds it (alerted) until the next event finds the log up, in order', async () => {
    let up = false;
    const h = harness({ logUp: () => up, receiverUp: () => true });
    h.state.enter('positions:mock', 'drift', T(1));
    await h.state.settled();
    expect(h.alerts).toEqual([{ type: 'degraded.entered', at: T(1).toISOString() }]);
    expect(h.log).toEqual([]);
    up = true;
    h.state.enter('positions:alpaca', 'drift', T(2));
    await h.state.settled();
    expect(h.log.map((e) => [e.type, e.data.component, e.data.alerted, e.at])).toEqual([
      ['degraded.entered', 'positions:mock', true, T(1).toISOString()],
      ['degraded.entered', 'positions:alpaca', undefined, T(2).toISOString()],
    ]);
    expect(h.alerts).toHaveLength(1);
  });
});
