/**
 * The circuit breaker through HTTP (docs/execution.md#circuit-breaker, docs/http-api.md#connectors-and-breakers, docs/guarantees.md#event-log): the mock connector with faults set at
 * run time (`POST /admin/connectors/mock/faults`), the breaker read back from
 * `GET /admin/connectors` and `/admin/status`, its transitions from the event log (read from the
 * SQLite file: there is no `/admin/events` route yet), and its state across a restart.
 */
import { describe, expect, test } from 'vitest';
import {
  breakerEvents,
  breakerOf,
  e2eConfig,
  mockOrders,
  resetBreaker,
  sendAccepted,
  sendFinal,
  setMockFaults,
  signalDetail,
  sleep,
  statusOf,
  type BreakerView,
  type FinalOutcome,
} from '../helpers/connectors.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';

/** One attempt per signal, so each failed signal is exactly one failure for the breaker. */
function breakerConfig(halfOpenAfterSeconds: number | null): Record<string, unknown> {
  return e2eConfig({
    connector: 'mock',
    connectors: { mock: { type: 'mock' } },
    execution: { max_attempts: 1, breaker: { failure_threshold: 3, half_open_after_seconds: halfOpenAfterSeconds } },
  });
}

const rules = (o: FinalOutcome) => o.decision?.failures.map((f) => f.rule) ?? [];

/** With failure_rate 1, sends buys until the breaker opens; returns how many it took and the state. */
async function failUntilOpen(s: TestServer, instrument: string): Promise<{ failed: number; breaker: BreakerView }> {
  for (let failed = 1; failed <= 10; failed += 1) {
    const out = await sendFinal(s.url, { action: 'buy', instrument, quantity: 1, price: 10 });
    expect(out.status).toBe('failed');
    expect(out.result?.error).toBe('gave up after 1 attempts: mock: simulated failure (nothing placed)');
    const breaker = await breakerOf(s.url, 'mock');
    if (breaker.state === 'open') return { failed, breaker };
    expect(breaker).toEqual({ state: 'closed', consecutive_failures: failed, opened_at: null });
  }
  throw new Error('the breaker never opened');
}

describe('breaker with half_open_after_seconds: null', () => {
  test('opens after 3 failures; increases rejected, exits tried; stays open across signals and a restart; reset closes it', async () => {
    const dir = tempDir();
    let s = await startTestServer({ dir, config: breakerConfig(null) });
    try {
      // A long position to exit from later, while the breaker is open.
      expect((await sendFinal(s.url, { action: 'buy', instrument: 'EXIT', quantity: 10, price: 10 })).status).toBe('executed');
      expect((await statusOf(s.url)).status).toBe('ok');

      await setMockFaults(s.url, { failure_rate: 1 });
      const { failed, breaker } = await failUntilOpen(s, 'ADD');
      expect(failed).toBe(3);
      expect(breaker).toMatchObject({ state: 'open', consecutive_failures: 3 });
      expect(breaker.opened_at).not.toBeNull();

      const status = await statusOf(s.url);
      expect(status.status).toBe('degraded');
      expect(status.breakers['mock']).toEqual(breaker);
      expect(status.degraded).toContainEqual(expect.objectContaining({ component: 'breaker:mock' }));
      expect(breakerEvents(dir)).toEqual([{ type: 'breaker.opened', data: expect.objectContaining({ connector: 'mock', state: 'open', consecutive_failures: 3 }) }]);

      // An increase is refused before it reaches the connector.
      const ordersBefore = (await mockOrders(s.url)).length;
      const refused = await sendFinal(s.url, { action: 'buy', instrument: 'ADD', quantity: 1, price: 10 });
      expect(refused.status).toBe('rejected');
      expect(refused.decision?.failures).toContainEqual(expect.objectContaining({ rule: 'breaker_open' }));
      const refusedDetail = await signalDetail(s.url, refused.signal_id);
      expect(refusedDetail.attempts).toEqual([]);
      expect(refusedDetail.events.map((e) => e.type)).toEqual(['signal.accepted', 'signal.rejected']);

      // An exit is still tried: it reaches the (failing) connector.
      const exit = await sendFinal(s.url, { action: 'sell', instrument: 'EXIT', quantity: 4, price: 10 });
      expect(exit.status).toBe('failed');
      expect(rules(exit)).toEqual([]);
      const exitDetail = await signalDetail(s.url, exit.signal_id);
      expect(exitDetail.attempts).toMatchObject([{ n: 1, outcome: 'retryable', error: 'mock: simulated failure (nothing placed)' }]);
      expect(exitDetail.events.map((e) => e.type)).toEqual(['signal.accepted', 'signal.executing', 'signal.attempt', 'signal.failed']);

      // With the connector healthy again, a close goes through, but one exit does not close the breaker.
      await setMockFaults(s.url, { failure_rate: 0 });
      const close = await sendFinal(s.url, { action: 'close', instrument: 'EXIT', price: 10 });
      expect(close.status).toBe('executed');
      expect(close.decision).toMatchObject({ side: 'sell', quantity: 10, exit: true });
      expect(close.result).toMatchObject({ status: 'filled', filled_quantity: 10 });
      expect((await mockOrders(s.url)).length).toBe(ordersBefore + 1);

      // Nothing but an operator closes it: more increases, some time, all refused.
      for (const instrument of ['ADD', 'MORE', 'ADD']) {
        const out = await sendFinal(s.url, { action: 'buy', instrument, quantity: 1, price: 10 });
        expect(rules(out)).toContain('breaker_open');
      }
      await sleep(300);
      const beforeRestart = await breakerOf(s.url, 'mock');
      // The failed exit counted as one more failure; the breaker is the same one, opened at the same time.
      expect(beforeRestart).toEqual({ state: 'open', consecutive_failures: 4, opened_at: breaker.opened_at });

      // The state is stored: a new process on the same database finds it open.
      await s.close();
      s = await startTestServer({ dir, config: breakerConfig(null) });
      expect(await breakerOf(s.url, 'mock')).toEqual(beforeRestart);
      expect((await statusOf(s.url)).status).toBe('degraded');
      expect(rules(await sendFinal(s.url, { action: 'buy', instrument: 'ADD', quantity: 1, price: 10 }))).toContain('breaker_open');

      expect(await resetBreaker(s.url, 'mock')).toEqual({ state: 'closed', consecutive_failures: 0, opened_at: null });
      expect(await breakerOf(s.url, 'mock')).toEqual({ state: 'closed', consecutive_failures: 0, opened_at: null });
      expect((await statusOf(s.url)).status).toBe('ok');
      const after = await sendFinal(s.url, { action: 'buy', instrument: 'ADD', quantity: 1, price: 10 });
      expect(after.status).toBe('executed');
      expect(breakerEvents(dir).map((e) => e.type)).toEqual(['breaker.opened', 'breaker.closed']);
      expect(breakerEvents(dir)[1]?.data).toMatchObject({ connector: 'mock', reason: 'reset by operator', state: 'closed' });
    } finally {
      await s.close();
    }
  });
});

describe('breaker with half_open_after_seconds', () => {
  /**
   * 1 s rather than less: a probe in flight blocks other increases only until it is presumed lost
   * (after the same time), and the test needs every competing signal gated within that window.
   */
  const HALF_OPEN_AFTER_S = 1;

  async function waitPastHalfOpen(s: TestServer): Promise<BreakerView> {
    const breaker = await breakerOf(s.url, 'mock');
    expect(breaker.state).toBe('open');
    const opened = Date.parse(breaker.opened_at ?? '');
    await sleep(Math.max(0, opened + HALF_OPEN_AFTER_S * 1000 + 50 - Date.now()));
    return breaker;
  }

  test('a failed probe reopens it; a successful probe (the only increase let through) closes it', async () => {
    const dir = tempDir();
    const s = await startTestServer({ dir, config: breakerConfig(HALF_OPEN_AFTER_S) });
    try {
      await setMockFaults(s.url, { failure_rate: 1 });
      expect((await failUntilOpen(s, 'P0')).failed).toBe(3);

      // The probe fails: open again, with a fresh opened_at.
      const first = await waitPastHalfOpen(s);
      const failedProbe = await sendFinal(s.url, { action: 'buy', instrument: 'P1', quantity: 1, price: 10 });
      expect(failedProbe.status).toBe('failed');
      expect((await signalDetail(s.url, failedProbe.signal_id)).attempts).toMatchObject([{ outcome: 'retryable' }]);
      const reopened = await breakerOf(s.url, 'mock');
      expect(reopened).toMatchObject({ state: 'open', consecutive_failures: 4 });
      expect(Date.parse(reopened.opened_at ?? '')).toBeGreaterThan(Date.parse(first.opened_at ?? ''));
      expect(breakerEvents(dir).map((e) => e.type)).toEqual(['breaker.opened', 'breaker.half_opened', 'breaker.opened']);

      // The connector recovers; it answers slowly, so the probe is still in flight while others arrive.
      await setMockFaults(s.url, { failure_rate: 0, latency_ms: 600 });
      await waitPastHalfOpen(s);
      const ordersBefore = (await mockOrders(s.url)).length;
      const probe = await sendAccepted(s.url, { action: 'buy', instrument: 'P2', quantity: 1, price: 10 });
      await eventually(async () => ((await signalDetail(s.url, probe.signal_id)).status === 'executing' ? true : undefined), 5_000, 'the probe to start');
      expect((await breakerOf(s.url, 'mock')).state).toBe('half_open');

      // Other increases (other instruments, so other lanes) while the probe is out: refused.
      const others = await Promise.all(['P3', 'P4', 'P5'].map((instrument) => sendFinal(s.url, { action: 'buy', instrument, quantity: 1, price: 10 })));
      for (const out of others) {
        expect(out.status).toBe('rejected');
        expect(rules(out)).toEqual(['breaker_open']);
      }

      const probeDone = await eventually(async () => {
        const d = await signalDetail(s.url, probe.signal_id);
        return d.status === 'executing' ? undefined : d;
      }, 10_000, 'the probe to finish');
      expect(probeDone.status).toBe('executed');
      expect(probeDone.attempts).toMatchObject([{ n: 1, outcome: 'ok' }]);
      // Exactly one increase reached the connector: the probe.
      const orders = await mockOrders(s.url);
      expect(orders.length).toBe(ordersBefore + 1);
      expect(orders.filter((o) => ['P2', 'P3', 'P4', 'P5'].includes(o.instrument)).map((o) => o.instrument)).toEqual(['P2']);

      expect(await breakerOf(s.url, 'mock')).toEqual({ state: 'closed', consecutive_failures: 0, opened_at: null });
      expect(breakerEvents(dir).map((e) => e.type)).toEqual(['breaker.opened', 'breaker.half_opened', 'breaker.opened', 'breaker.half_opened', 'breaker.closed']);

      await setMockFaults(s.url, { latency_ms: 0 });
      expect((await sendFinal(s.url, { action: 'buy', instrument: 'P6', quantity: 1, price: 10 })).status).toBe('executed');
    } finally {
      await s.close();
    }
  });
});
