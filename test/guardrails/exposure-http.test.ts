/**
 * Exposure reservations under concurrency (docs/execution.md#guardrails: "exposure of in-flight orders is
 * reserved at decision time, so concurrent executions cannot jointly pass a limit"): 50 buys sent
 * at once over HTTP, 10 instruments × 5, while the mock answers after 50 ms so that orders of
 * different instruments are genuinely in flight together.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mockOrders, mockPositions, sendFinal, setFaults, startGuarded, type FinalOutcome } from '../helpers/guardrails.js';
import type { TestServer } from '../helpers/server.js';

const INSTRUMENTS = Array.from({ length: 10 }, (_, i) => `EXP${i}`);
const PER_INSTRUMENT = 5;
const QUANTITY = 2;
const PRICE = 50;
const NOTIONAL = QUANTITY * PRICE; // 100 per order
const MAX_GROSS = 2050; // room for 20 orders (2,000), not 21 (2,100)

describe('max_gross_exposure under 50 concurrent buys', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startGuarded({ max_order_notional: NOTIONAL, max_gross_exposure: MAX_GROSS });
    await setFaults(s, { latency_ms: 50 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('only the orders that fit execute; held + reserved never passes the limit; nothing stays reserved', async () => {
    let sending = true;
    const samples: Array<{ gross: number; reserved: number }> = [];
    // Watches the ledger while the burst runs: held + reserved is bounded at every moment.
    const watcher = (async () => {
      while (sending) {
        const p = await mockPositions(s);
        samples.push({ gross: p.gross_exposure, reserved: p.reserved_exposure });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    const bodies = INSTRUMENTS.flatMap((instrument) =>
      Array.from({ length: PER_INSTRUMENT }, () => ({ action: 'buy', instrument, quantity: QUANTITY, price: PRICE })),
    );
    let outcomes: FinalOutcome[];
    try {
      outcomes = await Promise.all(bodies.map((body) => sendFinal(s, body, 30)));
    } finally {
      sending = false;
      await watcher;
    }

    const executed = outcomes.filter((o) => o.status === 'executed');
    const rejected = outcomes.filter((o) => o.status === 'rejected');
    expect(executed.length + rejected.length).toBe(50);
    // Every decision sees held + reserved = 100 × (orders allowed before it): exactly 20 fit.
    expect(executed.length * NOTIONAL).toBeLessThanOrEqual(MAX_GROSS);
    expect(executed).toHaveLength(20);
    for (const o of executed) expect(o.result).toMatchObject({ status: 'filled', filled_quantity: QUANTITY, fill_price: PRICE });
    for (const o of rejected) {
      // Once 20 are held or reserved, each refused order saw 2,000 + its own 100.
      expect(o.decision?.failures).toEqual([
        expect.objectContaining({ rule: 'max_gross_exposure', limit: MAX_GROSS, actual: 21 * NOTIONAL }),
      ]);
    }

    const ledger = await mockPositions(s);
    expect(ledger.gross_exposure).toBeLessThanOrEqual(MAX_GROSS);
    expect(ledger.gross_exposure).toBe(executed.length * NOTIONAL);
    expect(ledger.reserved_exposure).toBe(0);
    const held = ledger.positions.reduce((sum, p) => sum + p.quantity, 0);
    expect(held).toBe(executed.length * QUANTITY);
    for (const p of ledger.positions) expect(INSTRUMENTS).toContain(p.instrument);

    // The broker saw exactly the executed orders, no more.
    const orders = await mockOrders(s);
    expect(orders).toHaveLength(executed.length);

    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) expect(sample.gross + sample.reserved).toBeLessThanOrEqual(MAX_GROSS);
  });
});
