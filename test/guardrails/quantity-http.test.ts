/**
 * Sizes a sender may not trust prices to bound (docs/http-api.md#signal-body, docs/execution.md#guardrails),
 * over HTTP: `quantity: 1e300, price: 1e-300` is refused 400 at validation (it once executed
 * and left a position of 1e300), and a quantity over `max_order_quantity` is rejected by that
 * rule whatever its price, while an exit over the limit still executes.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { failuresOf, mockOrders, mockPositions, nextId, sendFinal, startGuarded } from '../helpers/guardrails.js';
import type { TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  // The notional limits are on, as by default: the absurd price must not slip under them.
  s = await startGuarded({ max_order_notional: 10_000, max_position_notional: { default: 25_000 }, max_order_quantity: { default: 1000, BIG: null } });
});
afterAll(async () => {
  await s.close();
});

test('quantity 1e300 at price 1e-300 is refused 400 invalid_signal and places nothing', async () => {
  const res = await s.send({ id: nextId(), action: 'buy', instrument: 'HUGE', quantity: 1e300, price: 1e-300 });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { code: string; issues: { path: string; message: string }[] } };
  expect(body.error.code).toBe('invalid_signal');
  expect(body.error.issues).toEqual([
    { path: 'quantity', message: 'expected a quantity of at most 1000000000, got 1e+300' },
    { path: 'price', message: 'expected a price from 0.000001 to 1000000000, got 1e-300' },
  ]);
  expect((await mockOrders(s)).filter((o) => o.instrument === 'HUGE')).toEqual([]);
});

test('a quantity over max_order_quantity is rejected with that rule, even at a tiny price', async () => {
  const failures = failuresOf(await sendFinal(s, { action: 'buy', instrument: 'PENNY', quantity: 5000, price: 0.0001 }));
  expect(failures).toEqual([
    { rule: 'max_order_quantity', limit: 1000, actual: 5000, message: 'order quantity 5,000 PENNY exceeds max_order_quantity 1,000' },
  ]);
});

test('at the limit it executes; an instrument set to null has no limit; an exit over the limit executes', async () => {
  expect((await sendFinal(s, { action: 'buy', instrument: 'PENNY', quantity: 1000, price: 0.0001 })).status).toBe('executed');
  expect((await sendFinal(s, { action: 'buy', instrument: 'BIG', quantity: 5000, price: 0.0001 })).status).toBe('executed');
  expect((await sendFinal(s, { action: 'sell', instrument: 'BIG', quantity: 5000, price: 0.0001 })).status).toBe('executed');
  const { positions } = await mockPositions(s);
  expect(positions.filter((p) => p.instrument === 'PENNY' || p.instrument === 'BIG').map((p) => [p.instrument, p.quantity])).toEqual([['PENNY', 1000]]);
});
