/** Replay's simulated broker (ops/replay-book.ts): where an allowed order fills, from the signal alone. */
import { describe, expect, test } from 'vitest';
import type { Signal } from '../../src/domain/types.js';
import { simulateFill } from '../../src/ops/replay-book.js';

const base: Signal = { action: 'buy', instrument: 'AAA', quantity: 1, order_type: 'market', price: 100, time_in_force: 'day', meta: {} };
const allowed = (side: 'buy' | 'sell') => ({ allowed: true, side, quantity: 1 });

describe('simulateFill', () => {
  const cases: Array<{ name: string; signal: Partial<Signal>; side?: 'buy' | 'sell'; decision?: { allowed: boolean; side: 'buy' | 'sell' | null; quantity: number | null }; want: ReturnType<typeof simulateFill> }> = [
    { name: 'market fills at the price', signal: {}, want: { kind: 'filled', price: 100 } },
    { name: 'no price: unpriced', signal: { price: undefined }, want: { kind: 'unpriced', price: null } },
    { name: 'rejected: nothing', signal: {}, decision: { allowed: false, side: null, quantity: null }, want: { kind: 'none', price: null } },
    { name: 'allowed with nothing to order: nothing', signal: {}, decision: { allowed: true, side: null, quantity: null }, want: { kind: 'none', price: null } },
    { name: 'buy limit crossed fills at the limit', signal: { order_type: 'limit', limit_price: 101 }, want: { kind: 'filled', price: 101 } },
    { name: 'buy limit not crossed', signal: { order_type: 'limit', limit_price: 99 }, want: { kind: 'unfilled', price: null } },
    { name: 'sell limit crossed fills at the limit', signal: { order_type: 'limit', limit_price: 99 }, side: 'sell', want: { kind: 'filled', price: 99 } },
    { name: 'sell limit not crossed', signal: { order_type: 'limit', limit_price: 101 }, side: 'sell', want: { kind: 'unfilled', price: null } },
    { name: 'buy stop reached fills at the price', signal: { order_type: 'stop', stop_price: 100 }, want: { kind: 'filled', price: 100 } },
    { name: 'buy stop not reached', signal: { order_type: 'stop', stop_price: 105 }, want: { kind: 'unfilled', price: null } },
    { name: 'sell stop-limit reached and crossed', signal: { order_type: 'stop_limit', stop_price: 100, limit_price: 98 }, side: 'sell', want: { kind: 'filled', price: 98 } },
    { name: 'limit without a price: unpriced', signal: { order_type: 'limit', limit_price: 99, price: undefined }, want: { kind: 'unpriced', price: null } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const signal: Signal = { ...base, ...c.signal };
      if (c.signal.price === undefined && 'price' in c.signal) delete signal.price;
      expect(simulateFill(signal, c.decision ?? allowed(c.side ?? 'buy'))).toEqual(c.want);
    });
  }
});
