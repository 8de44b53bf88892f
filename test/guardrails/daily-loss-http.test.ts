/**
 * The daily loss limit end to end (docs/configuration.md#policy `max_daily_loss`, docs/execution.md#guardrails, docs/execution.md#modes): a realized
 * loss past the limit switches the stored mode to exit_only with reason `daily_loss`, the gate
 * refuses increases, exits still execute, and only an operator brings the mode back.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { failuresOf, mockPositions, readEvents, sendFinal, setMode, startGuarded, status } from '../helpers/guardrails.js';
import type { TestServer } from '../helpers/server.js';

describe('max_daily_loss 100', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_daily_loss: 100 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('a realized loss of 200 switches to exit_only (daily_loss); increases refused, exits execute, until an operator enables', async () => {
    // A long opened before the breach, to exit from afterwards.
    expect((await sendFinal(s, { action: 'buy', instrument: 'KEEP', quantity: 10, price: 50 })).status).toBe('executed');
    expect((await sendFinal(s, { action: 'buy', instrument: 'LOSS', quantity: 10, price: 100 })).status).toBe('executed');
    expect((await status(s)).mode).toBe('enabled');

    const losing = await sendFinal(s, { action: 'sell', instrument: 'LOSS', quantity: 10, price: 80 });
    expect(losing.status).toBe('executed');
    expect(losing.result).toMatchObject({ filled_quantity: 10, fill_price: 80 });

    const breached = await status(s);
    expect(breached.mode).toBe('exit_only');
    expect(breached.mode_reason).toBe('daily_loss');
    const changes = readEvents(s.dir, 'mode.changed').map((e) => e.data);
    expect(changes).toContainEqual({ from: 'enabled', to: 'exit_only', reason: 'daily_loss', actor: 'guardrails' });

    const ledger = await mockPositions(s);
    expect(ledger.realized_pnl_today).toBe(-200);
    expect(ledger.positions).toEqual([{ instrument: 'KEEP', quantity: 10, avg_price: 50 }]);
    expect(ledger.reserved_exposure).toBe(0);

    // Increases: a new position, and adding to the open one. Both the mode and the loss refuse.
    const fresh = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'LOSS', quantity: 1, price: 80 }));
    expect(fresh).toEqual([
      expect.objectContaining({ rule: 'mode', code: 'exit_only_no_position', limit: 0, actual: 1 }),
      expect.objectContaining({ rule: 'daily_loss', limit: 100, actual: 200 }),
    ]);
    const adding = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'KEEP', quantity: 1, price: 50 }));
    expect(adding).toEqual([
      expect.objectContaining({ rule: 'mode', code: 'exit_only_would_increase', limit: 10, actual: 11 }),
      expect.objectContaining({ rule: 'daily_loss', limit: 100, actual: 200 }),
    ]);

    // An exit from the long opened before the breach still executes.
    const exit = await sendFinal(s, { action: 'sell', instrument: 'KEEP', quantity: 4, price: 50 });
    expect(exit.status).toBe('executed');
    expect(exit.decision).toMatchObject({ allowed: true, failures: [], quantity: 4, side: 'sell', exit: true });
    expect(exit.result).toMatchObject({ filled_quantity: 4, fill_price: 50 });
    const afterExit = await mockPositions(s);
    expect(afterExit.positions).toEqual([{ instrument: 'KEEP', quantity: 6, avg_price: 50 }]);
    expect(afterExit.realized_pnl_today).toBe(-200);

    // The mode stays exit_only across further signals until an operator changes it.
    expect(await status(s)).toMatchObject({ mode: 'exit_only', mode_reason: 'daily_loss' });
    const enabled = await setMode(s, 'enabled', 'loss reviewed');
    expect(enabled).toMatchObject({ mode: 'enabled', mode_reason: 'loss reviewed' });
    expect(await status(s)).toMatchObject({ mode: 'enabled', mode_reason: 'loss reviewed' });

    // The gate keeps refusing increases on its own while today's loss is over the limit.
    const still = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'NEW', quantity: 1, price: 10 }));
    expect(still).toEqual([expect.objectContaining({ rule: 'daily_loss', limit: 100, actual: 200 })]);
  });
});

describe('after an operator re-enables', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_daily_loss: 100 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('an exit that realizes nothing does not switch the mode back to exit_only', async () => {
    expect((await sendFinal(s, { action: 'buy', instrument: 'KEEP', quantity: 10, price: 50 })).status).toBe('executed');
    expect((await sendFinal(s, { action: 'buy', instrument: 'LOSS', quantity: 10, price: 100 })).status).toBe('executed');
    expect((await sendFinal(s, { action: 'sell', instrument: 'LOSS', quantity: 10, price: 80 })).status).toBe('executed');
    expect(await status(s)).toMatchObject({ mode: 'exit_only', mode_reason: 'daily_loss' });
    await setMode(s, 'enabled', 'loss reviewed');

    // Sold at the average price: realized PnL stays -200, no new loss, no new breach.
    const exit = await sendFinal(s, { action: 'sell', instrument: 'KEEP', quantity: 1, price: 50 });
    expect(exit.status).toBe('executed');
    expect((await mockPositions(s)).realized_pnl_today).toBe(-200);
    // The operator's decision stands (docs/execution.md#modes: exit_only "until an operator changes it").
    expect(await status(s)).toMatchObject({ mode: 'enabled', mode_reason: 'loss reviewed' });
  });
});
