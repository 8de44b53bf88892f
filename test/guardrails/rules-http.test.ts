/**
 * Every guardrail rule (docs/execution.md#guardrails, docs/execution.md#modes) seen from outside: a real sluice over HTTP
 * with a real SQLite file, a policy per group, and the rejection body of each rule
 * (`status: rejected`, `decision.allowed: false`, `decision.failures[]` with rule, limit, actual,
 * message). Each group also shows the same signal passing when the limit is not reached, so a
 * rule that refused everything would fail here too.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  failuresOf,
  hhmm,
  mockPositions,
  sendFinal,
  setFaults,
  setMode,
  startGuarded,
  status,
  windowExcludingNow,
} from '../helpers/guardrails.js';
import type { TestServer } from '../helpers/server.js';

const ALL_DAYS = 'mon,tue,wed,thu,fri,sat,sun';

describe('mode', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({});
  });
  afterAll(async () => {
    await s.close();
  });
  afterEach(async () => {
    await setMode(s, 'enabled', 'test reset');
  });

  test('paused: a buy is rejected with rule mode, code paused; a cancel still executes', async () => {
    await setMode(s, 'paused', 'maintenance');
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'PAUSED', quantity: 1, price: 10 }));
    expect(failures).toEqual([
      { rule: 'mode', code: 'paused', limit: 'cancel', actual: 'buy', message: 'sluice is paused: only cancel is allowed, got buy' },
    ]);
    const close = failuresOf(await sendFinal(s, { action: 'close', instrument: 'PAUSED' }));
    expect(close).toEqual([expect.objectContaining({ rule: 'mode', code: 'paused', actual: 'close' })]);
    const cancel = await sendFinal(s, { action: 'cancel', instrument: 'PAUSED' });
    expect(cancel.status).toBe('executed');
    expect(cancel.decision?.failures).toEqual([]);
  });

  test('exit_only with no position: rule mode, code exit_only_no_position, limit 0, actual the quantity', async () => {
    await setMode(s, 'exit_only', 'winding down');
    const failures = failuresOf(await sendFinal(s, { action: 'sell', instrument: 'FLATX', quantity: 3, price: 10 }));
    expect(failures).toEqual([
      {
        rule: 'mode',
        code: 'exit_only_no_position',
        limit: 0,
        actual: 3,
        message: 'exit_only: no FLATX position to exit, so the sell of 3 is refused',
      },
    ]);
  });

  test('exit_only on the same side: rule mode, code exit_only_would_increase, limit |position|, actual the resulting |position|', async () => {
    const opened = await sendFinal(s, { action: 'buy', instrument: 'GROW', quantity: 5, price: 10 });
    expect(opened.status).toBe('executed');
    await setMode(s, 'exit_only', 'winding down');
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'GROW', quantity: 2, price: 10 }));
    expect(failures).toEqual([
      {
        rule: 'mode',
        code: 'exit_only_would_increase',
        limit: 5,
        actual: 7,
        message: 'exit_only: buy 2 GROW would take |position| from 5 to 7',
      },
    ]);
    // The way out is open: a sell of the long executes in exit_only.
    const exit = await sendFinal(s, { action: 'sell', instrument: 'GROW', quantity: 2, price: 10 });
    expect(exit.status).toBe('executed');
    expect(exit.result?.filled_quantity).toBe(2);
  });
});

describe('instrument_allowed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ instruments: ['aapl', 'MSFT'] });
  });
  afterAll(async () => {
    await s.close();
  });

  test('an instrument outside the allowlist is rejected with the (upper-cased) allowlist as limit', async () => {
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'tsla', quantity: 1, price: 10 }));
    expect(failures).toEqual([
      {
        rule: 'instrument_allowed',
        limit: ['AAPL', 'MSFT'],
        actual: 'TSLA',
        message: 'TSLA is not in the instrument allowlist (AAPL, MSFT)',
      },
    ]);
    const allowed = await sendFinal(s, { action: 'buy', instrument: 'aapl', quantity: 1, price: 10 });
    expect(allowed.status).toBe('executed');
  });
});

describe('stale_signal', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_signal_age_seconds: 60 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('a timestamp older than max_signal_age_seconds is rejected with its age in seconds', async () => {
    const timestamp = new Date(Date.now() - 3_600_000).toISOString();
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'OLD', quantity: 1, price: 10, timestamp }));
    expect(failures).toHaveLength(1);
    const [failure] = failures;
    expect(failure).toMatchObject({ rule: 'stale_signal', limit: 60 });
    expect(failure?.code).toBeUndefined();
    // The age is computed at decision time: at least the hour it was sent ago, in seconds (not ms).
    expect(failure?.actual).toEqual(expect.any(Number));
    expect(Number(failure?.actual)).toBeGreaterThanOrEqual(3600);
    expect(Number(failure?.actual)).toBeLessThan(86_400);
    expect(failure?.message).toContain(timestamp);
    expect(failure?.message).toContain('the limit is 60 s');

    const fresh = await sendFinal(s, { action: 'buy', instrument: 'OLD', quantity: 1, price: 10, timestamp: new Date().toISOString() });
    expect(fresh.status).toBe('executed');
  });
});

describe('trading_window', () => {
  test('outside every window: rejected with the windows as limit and the decision time as actual', async () => {
    const window = windowExcludingNow();
    const s = await startGuarded({ trading_windows: [window] });
    try {
      const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'WIN', quantity: 1, price: 10 }));
      expect(failures).toHaveLength(1);
      const [failure] = failures;
      const described = `${ALL_DAYS} ${window.from}-${window.to} UTC`;
      expect(failure).toMatchObject({ rule: 'trading_window', limit: [described] });
      expect(failure?.actual).toEqual(expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/));
      expect(failure?.message).toContain(`is outside every trading window (${described})`);
    } finally {
      await s.close();
    }
  });

  test('inside a window (the hour around now) the same buy executes', async () => {
    const now = new Date();
    const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
    const s = await startGuarded({ trading_windows: [{ from: hhmm(minute - 60), to: hhmm(minute + 60), tz: 'UTC' }] });
    try {
      expect((await sendFinal(s, { action: 'buy', instrument: 'WIN', quantity: 1, price: 10 })).status).toBe('executed');
    } finally {
      await s.close();
    }
  });
});

describe('order_rate', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_orders_per_minute: 2 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('with max_orders_per_minute 2 the third order in the minute is rejected; an exit still passes', async () => {
    expect((await sendFinal(s, { action: 'buy', instrument: 'RATE', quantity: 1, price: 10 })).status).toBe('executed');
    expect((await sendFinal(s, { action: 'buy', instrument: 'RATE', quantity: 1, price: 10 })).status).toBe('executed');
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'RATE2', quantity: 1, price: 10 }));
    expect(failures).toEqual([
      { rule: 'order_rate', limit: 2, actual: 2, message: '2 orders were decided in the last minute; the limit is 2 per minute' },
    ]);
    const exit = await sendFinal(s, { action: 'sell', instrument: 'RATE', quantity: 1, price: 10 });
    expect(exit.status).toBe('executed');
  });
});

describe('max_order_notional', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_order_notional: 1000 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('quantity × price over the limit is rejected; exactly at the limit executes', async () => {
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'ORD', quantity: 15, price: 100 }));
    expect(failures).toEqual([
      {
        rule: 'max_order_notional',
        limit: 1000,
        actual: 1500,
        message: 'order notional 1,500 (15 ORD × 100) exceeds max_order_notional 1,000',
      },
    ]);
    expect((await sendFinal(s, { action: 'buy', instrument: 'ORD', quantity: 10, price: 100 })).status).toBe('executed');
  });

  test('a notional order is sized at its price and judged the same way', async () => {
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'ORDN', notional: 1200, price: 100 }));
    expect(failures).toEqual([expect.objectContaining({ rule: 'max_order_notional', limit: 1000, actual: 1200 })]);
  });
});

describe('max_position_notional', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_position_notional: { default: 1000, AAPL: 5000 } });
  });
  afterAll(async () => {
    await s.close();
  });

  test('the per-instrument override applies to its instrument, the default to every other', async () => {
    // 3,000 of AAPL: over the default, under AAPL's own limit.
    const aapl = await sendFinal(s, { action: 'buy', instrument: 'AAPL', quantity: 30, price: 100 });
    expect(aapl.status).toBe('executed');

    const msft = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'MSFT', quantity: 30, price: 100 }));
    expect(msft).toEqual([
      {
        rule: 'max_position_notional',
        limit: 1000,
        actual: 3000,
        message: 'MSFT position would be 30, worth 3,000 at 100, plus 0 reserved by open orders: 3,000, over the limit of 1,000',
      },
    ]);

    // The resulting position counts what is already held: 30 + 21 = 51 × 100 = 5,100 > 5,000.
    const more = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'AAPL', quantity: 21, price: 100 }));
    expect(more).toEqual([expect.objectContaining({ rule: 'max_position_notional', limit: 5000, actual: 5100 })]);
    expect((await sendFinal(s, { action: 'buy', instrument: 'AAPL', quantity: 20, price: 100 })).status).toBe('executed');
  });
});

describe('max_gross_exposure', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_gross_exposure: 2000 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('held exposure across instruments plus the order over the limit is rejected', async () => {
    expect((await sendFinal(s, { action: 'buy', instrument: 'GA', quantity: 10, price: 100 })).status).toBe('executed');
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'GB', quantity: 15, price: 100 }));
    expect(failures).toEqual([
      {
        rule: 'max_gross_exposure',
        limit: 2000,
        actual: 2500,
        message: 'gross exposure would be 2,500 (1,000 held + 0 reserved + 1,500 this order), over the limit of 2,000',
      },
    ]);
    // A short counts by its absolute value too: -10 × 100 fills the limit exactly.
    expect((await sendFinal(s, { action: 'sell', instrument: 'GB', quantity: 10, price: 100 })).status).toBe('executed');
    expect((await mockPositions(s)).gross_exposure).toBe(2000);
    const full = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'GC', quantity: 0.01, price: 100 }));
    expect(full).toEqual([expect.objectContaining({ rule: 'max_gross_exposure', limit: 2000, actual: 2001 })]);
  });
});

describe('daily_loss', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_daily_loss: 100 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('once today’s realized loss reaches the limit, an increase is rejected by daily_loss even in enabled mode', async () => {
    expect((await sendFinal(s, { action: 'buy', instrument: 'DL', quantity: 10, price: 100 })).status).toBe('executed');
    expect((await sendFinal(s, { action: 'sell', instrument: 'DL', quantity: 10, price: 80 })).status).toBe('executed');
    // The breach switched the mode to exit_only; re-enable it to see the rule on its own.
    await setMode(s, 'enabled', 'reviewed the loss');
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'DL2', quantity: 1, price: 10 }));
    expect(failures).toEqual([
      {
        rule: 'daily_loss',
        limit: 100,
        actual: 200,
        message: 'realized loss today is 200, at or over max_daily_loss 100: only exits are allowed',
      },
    ]);
  });
});

describe('breaker_open', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({}, { execution: { max_attempts: 1, breaker: { failure_threshold: 1 } } });
  });
  afterAll(async () => {
    await s.close();
  });

  test('opened by a transient failure: increases are rejected breaker_open, exits are still tried, a reset closes it', async () => {
    expect((await sendFinal(s, { action: 'buy', instrument: 'BRK', quantity: 10, price: 10 })).status).toBe('executed');

    await setFaults(s, { failure_rate: 1 });
    const failed = await sendFinal(s, { action: 'buy', instrument: 'BRK2', quantity: 1, price: 10 });
    expect(failed.status).toBe('failed');
    expect(failed.result?.error).toContain('simulated failure');
    await setFaults(s, { failure_rate: 0 });
    expect((await status(s)).breakers.mock?.state).toBe('open');

    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'BRK3', quantity: 1, price: 10 }));
    expect(failures).toEqual([
      {
        rule: 'breaker_open',
        limit: 'closed',
        actual: 'open',
        message: "the connector's circuit breaker is open: only exits and cancels are tried until it closes",
      },
    ]);

    const exit = await sendFinal(s, { action: 'sell', instrument: 'BRK', quantity: 4, price: 10 });
    expect(exit.status).toBe('executed');
    expect(exit.result?.filled_quantity).toBe(4);
    // One successful exit does not close a breaker that waits for an operator.
    expect((await status(s)).breakers.mock?.state).toBe('open');

    const reset = await s.admin('/breakers/mock/reset', { method: 'POST' });
    expect(reset.status).toBe(200);
    expect((await sendFinal(s, { action: 'buy', instrument: 'BRK3', quantity: 1, price: 10 })).status).toBe('executed');
  });
});

describe('connector_capability', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({});
  });
  afterAll(async () => {
    await s.close();
  });

  test('a bracket leg on the mock (brackets: false) is rejected with code brackets', async () => {
    const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'BRKT', quantity: 1, price: 150, take_profit: { limit_price: 160 } }));
    expect(failures).toEqual([
      {
        rule: 'connector_capability',
        code: 'brackets',
        limit: false,
        actual: ['take_profit'],
        message: 'the connector does not support bracket orders, but the signal carries take_profit',
      },
    ]);
    const both = failuresOf(
      await sendFinal(s, { action: 'buy', instrument: 'BRKT', quantity: 1, price: 150, take_profit: { limit_price: 160 }, stop_loss: { stop_price: 145 } }),
    );
    expect(both).toEqual([expect.objectContaining({ rule: 'connector_capability', code: 'brackets', actual: ['take_profit', 'stop_loss'] })]);
    expect((await mockPositions(s)).positions).toEqual([]);
  });
});

describe('several rules at once', () => {
  test('every failing rule is listed, in the documented order, in one decision', async () => {
    const s = await startGuarded({
      instruments: ['AAPL'],
      max_signal_age_seconds: 60,
      trading_windows: [windowExcludingNow()],
      max_order_notional: 100,
      max_position_notional: { default: 100 },
      max_gross_exposure: 100,
    });
    try {
      const outcome = await sendFinal(s, {
        action: 'buy',
        instrument: 'MSFT',
        quantity: 10,
        price: 100,
        timestamp: new Date(Date.now() - 3_600_000).toISOString(),
        take_profit: { limit_price: 120 },
      });
      const failures = failuresOf(outcome);
      expect(failures.map((f) => f.rule)).toEqual([
        'instrument_allowed',
        'stale_signal',
        'trading_window',
        'max_order_notional',
        'max_position_notional',
        'max_gross_exposure',
        'connector_capability',
      ]);
      expect(failures).toContainEqual(expect.objectContaining({ rule: 'max_order_notional', limit: 100, actual: 1000 }));
      expect(failures).toContainEqual(expect.objectContaining({ rule: 'max_position_notional', limit: 100, actual: 1000 }));
      expect(failures).toContainEqual(expect.objectContaining({ rule: 'max_gross_exposure', limit: 100, actual: 1000 }));
      for (const f of failures) expect(f.message.length).toBeGreaterThan(0);
      expect(outcome.decision?.quantity).toBeNull();
    } finally {
      await s.close();
    }
  });
});

describe('exits skip the limits', () => {
  test('a sell reducing a long executes although notional, position, exposure, window and rate limits would refuse it', async () => {
    const open = await startGuarded({});
    const dir = open.dir;
    try {
      expect((await sendFinal(open, { action: 'buy', instrument: 'EXIT', quantity: 10, price: 100 })).status).toBe('executed');
    } finally {
      await open.close();
    }

    // Same database, a policy the open long is far beyond.
    const s = await startGuarded(
      {
        trading_windows: [windowExcludingNow()],
        max_orders_per_minute: 1,
        max_order_notional: 100,
        max_position_notional: { default: 100 },
        max_gross_exposure: 100,
      },
      {},
      dir,
    );
    try {
      // Control: the smallest increase is refused by every one of those rules.
      const control = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'EXIT', quantity: 1, price: 500 }));
      expect(control.map((f) => f.rule)).toEqual([
        'trading_window',
        'order_rate',
        'max_order_notional',
        'max_position_notional',
        'max_gross_exposure',
      ]);

      // 5 × 500 = 2,500 per order, a position worth 2,500 after, exposure far over 100: still an exit.
      const exit = await sendFinal(s, { action: 'sell', instrument: 'EXIT', quantity: 5, price: 500 });
      expect(exit.status).toBe('executed');
      expect(exit.decision).toMatchObject({ allowed: true, failures: [], quantity: 5, side: 'sell', exit: true });
      expect(exit.result).toMatchObject({ status: 'filled', filled_quantity: 5, fill_price: 500 });

      const close = await sendFinal(s, { action: 'close', instrument: 'EXIT', price: 500 });
      expect(close.status).toBe('executed');
      expect(close.result?.filled_quantity).toBe(5);
      const ledger = await mockPositions(s);
      expect(ledger.positions).toEqual([]);
      expect(ledger.realized_pnl_today).toBe(4000);
    } finally {
      await s.close();
    }
  });
});
