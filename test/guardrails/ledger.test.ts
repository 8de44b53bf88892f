/**
 * Average-cost ledger math: adding moves the average, reducing realizes against it, a flip
 * realizes the closed part and opens the rest at the fill price, and no float dust survives.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Side } from '../../src/domain/types.js';
import { applyFill, grossExposure, type LedgerEntry } from '../../src/domain/ledger.js';

describe('applyFill', () => {
  const cases: { name: string; position: LedgerEntry | null; fill: { side: Side; quantity: number; price: number }; expect: { quantity: number; avg_price: number; realized_pnl: number } }[] = [
    { name: 'opens a long from nothing', position: null, fill: { side: 'buy', quantity: 10, price: 100 }, expect: { quantity: 10, avg_price: 100, realized_pnl: 0 } },
    { name: 'opens a short from nothing', position: null, fill: { side: 'sell', quantity: 10, price: 50 }, expect: { quantity: -10, avg_price: 50, realized_pnl: 0 } },
    { name: 'a flat row with a stale average opens fresh', position: { quantity: 0, avg_price: 999 }, fill: { side: 'buy', quantity: 2, price: 10 }, expect: { quantity: 2, avg_price: 10, realized_pnl: 0 } },
    { name: 'adding to a long averages the cost', position: { quantity: 10, avg_price: 100 }, fill: { side: 'buy', quantity: 10, price: 110 }, expect: { quantity: 20, avg_price: 105, realized_pnl: 0 } },
    { name: 'adding to a short averages the cost', position: { quantity: -10, avg_price: 50 }, fill: { side: 'sell', quantity: 30, price: 40 }, expect: { quantity: -40, avg_price: 42.5, realized_pnl: 0 } },
    { name: 'reducing a long at a gain keeps the average', position: { quantity: 20, avg_price: 105 }, fill: { side: 'sell', quantity: 5, price: 115 }, expect: { quantity: 15, avg_price: 105, realized_pnl: 50 } },
    { name: 'closing a long at a loss', position: { quantity: 10, avg_price: 100 }, fill: { side: 'sell', quantity: 10, price: 90 }, expect: { quantity: 0, avg_price: 0, realized_pnl: -100 } },
    { name: 'covering part of a short at a gain', position: { quantity: -20, avg_price: 45 }, fill: { side: 'buy', quantity: 5, price: 40 }, expect: { quantity: -15, avg_price: 45, realized_pnl: 25 } },
    { name: 'covering a short at a loss', position: { quantity: -10, avg_price: 50 }, fill: { side: 'buy', quantity: 10, price: 60 }, expect: { quantity: 0, avg_price: 0, realized_pnl: -100 } },
    { name: 'flipping long to short realizes the long, opens the rest at the fill', position: { quantity: 10, avg_price: 100 }, fill: { side: 'sell', quantity: 15, price: 120 }, expect: { quantity: -5, avg_price: 120, realized_pnl: 200 } },
    { name: 'flipping short to long realizes the short, opens the rest at the fill', position: { quantity: -10, avg_price: 50 }, fill: { side: 'buy', quantity: 25, price: 40 }, expect: { quantity: 15, avg_price: 40, realized_pnl: 100 } },
    { name: 'float dust does not leave a phantom position', position: { quantity: 0.1 + 0.2, avg_price: 1 }, fill: { side: 'sell', quantity: 0.3, price: 1 }, expect: { quantity: 0, avg_price: 0, realized_pnl: 0 } },
    { name: 'fractional quantities add up exactly', position: { quantity: 0.1, avg_price: 10 }, fill: { side: 'buy', quantity: 0.2, price: 10 }, expect: { quantity: 0.3, avg_price: 10, realized_pnl: 0 } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = applyFill(c.position, c.fill);
      expect(r.quantity).toBe(c.expect.quantity);
      expect(r.avg_price).toBeCloseTo(c.expect.avg_price, 9);
      expect(r.realized_pnl).toBeCloseTo(c.expect.realized_pnl, 9);
    });
  }

  test('a flat result is exactly 0, never -0', () => {
    expect(Object.is(applyFill({ quantity: -1, avg_price: 1 }, { side: 'buy', quantity: 1, price: 1 }).quantity, 0)).toBe(true);
  });

  test('a fill that is not a positive quantity at a positive price is a bug and throws', () => {
    expect(() => applyFill(null, { side: 'buy', quantity: 0, price: 1 })).toThrow(RangeError);
    expect(() => applyFill(null, { side: 'buy', quantity: 1, price: -1 })).toThrow(RangeError);
    expect(() => applyFill(null, { side: 'buy', quantity: Number.NaN, price: 1 })).toThrow(RangeError);
  });

  test('property: realized PnL over a round trip equals the cash it made', () => {
    const fill = fc.record({ side: fc.constantFrom<Side>('buy', 'sell'), quantity: fc.integer({ min: 1, max: 50 }), price: fc.integer({ min: 1, max: 500 }) });
    fc.assert(
      fc.property(fc.array(fill, { maxLength: 40 }), (fills) => {
        let position: LedgerEntry | null = null;
        let realized = 0;
        let cash = 0;
        for (const f of fills) {
          const r = applyFill(position, f);
          position = r;
          realized += r.realized_pnl;
          cash += (f.side === 'sell' ? 1 : -1) * f.quantity * f.price;
        }
        // Flatten at the average price (realizing 0 more): what is left is all realized.
        const held = position?.quantity ?? 0;
        const mark = position?.avg_price ?? 0;
        cash += held * mark;
        expect(realized).toBeCloseTo(cash, 4);
      }),
    );
  });
});

describe('grossExposure', () => {
  test('sums |quantity| × last price, falling back to the average price', () => {
    expect(grossExposure([{ quantity: 10, last_price: 100, avg_price: 90 }, { quantity: -5, last_price: null, avg_price: 50 }])).toBe(1250);
  });
  test('nothing held is 0', () => {
    expect(grossExposure([])).toBe(0);
  });
});
