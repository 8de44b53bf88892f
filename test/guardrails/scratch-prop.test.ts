/**
 * Properties of the gate over random signal sequences, with positions booked by the real ledger
 * (`applyFill`) as the store would:
 * - exit_only never lets an order increase |position| or flip it, whatever arrives;
 * - in enabled mode with limits and reservations modelled, an allowed risk-adding order cannot
 *   take exposure past a limit even if every order in flight fills, in whatever order orders
 *   settle; and with one order in flight per instrument (the executor's lanes), no limit is
 *   exceeded at any moment.
 * Prices are fixed per instrument within a run in the enabled-mode properties, so that "exposure"
 * has one meaning throughout: price moves change exposure without any order, which no gate can
 * prevent.
 */
import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, test } from 'vitest';
import { configSchema, type PolicyConfig } from '../../src/config/schema.js';
import type { Action, Side, Signal } from '../../src/domain/types.js';
import { decide, positionLimit, roundQty } from '../../src/guardrails/decide.js';
import type { GateState } from '../../src/guardrails/gate-state.js';
import { applyFill, grossExposure, type LedgerEntry } from '../../src/guardrails/ledger.js';

const NOW = new Date('2026-11-23T15:00:00Z');
const DEFAULT_POLICY: PolicyConfig = v.parse(configSchema, {}).policy;
const EPS = 1e-6;

interface SignalSpec {
  action: Action;
  quantity: number;
  /** Size by notional instead of quantity (buy/sell only). */
  byNotional: boolean;
  notional: number;
  target: number;
  price: number;
  fill: number;
}

const signalSpec = (price: fc.Arbitrary<number>): fc.Arbitrary<SignalSpec> =>
  fc.record({
    action: fc.constantFrom<Action>('buy', 'sell', 'close', 'target', 'cancel'),
    quantity: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.double({ min: 0.001, max: 300, noNaN: true })),
    byNotional: fc.boolean(),
    notional: fc.integer({ min: 1, max: 30_000 }),
    target: fc.integer({ min: -300, max: 300 }),
    price,
    // How much of an allowed order fills: none (rejected / cancelled by the broker), part, all.
    fill: fc.constantFrom(0, 0.5, 1),
  });

function toSignal(spec: SignalSpec, instrument: string, closeWhole: boolean): Signal {
  const base: Signal = { action: spec.action, instrument, order_type: 'market', price: spec.price, time_in_force: 'day', timestamp: NOW.toISOString(), meta: {} };
  switch (spec.action) {
    case 'buy':
    case 'sell':
      return spec.byNotional ? { ...base, notional: spec.notional } : { ...base, quantity: spec.quantity };
    case 'close':
      return closeWhole ? base : { ...base, quantity: spec.quantity };
    case 'target':
      return { ...base, target_position: spec.target };
    case 'cancel':
      return base;
  }
}

function gateState(s: Partial<GateState>, fractional: boolean): GateState {
  return {
    mode: 'enabled',
    position: 0,
    last_price: null,
    gross_exposure: 0,
    reserved_exposure: 0,
    reserved_instrument: 0,
    realized_pnl_today: 0,
    orders_last_minute: 0,
    breaker: 'closed',
    ...s,
    capabilities: { order_types: ['market', 'limit', 'stop', 'stop_limit'], brackets: true, fractional, short: true, lookup: true },
  };
}

function book(position: LedgerEntry, side: Side, quantity: number, price: number): LedgerEntry {
  if (quantity <= 0) return position;
  const r = applyFill(position, { side, quantity, price });
  return { quantity: r.quantity, avg_price: r.avg_price };
}

describe('exit_only', () => {
  test('no allowed order ever increases |position| or flips it', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -200, max: 200 }), fc.double({ min: -200, max: 200, noNaN: true })),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.tuple(signalSpec(fc.double({ min: 0.5, max: 1000, noNaN: true })), fc.boolean()), { maxLength: 60 }),
        (start, trim, fractional, steps) => {
          const policy: PolicyConfig = { ...DEFAULT_POLICY, exit_only_trim: trim };
          let position: LedgerEntry = { quantity: roundQty(start), avg_price: 100 };
          for (const [spec, closeWhole] of steps) {
            const state = gateState({ mode: 'exit_only', position: position.quantity, last_price: 100 }, fractional);
            const d = decide(toSignal(spec, 'AAPL', closeWhole), state, policy, NOW);
            if (!d.allowed || d.side === null || d.quantity === null) continue;
            const before = position.quantity;
            expect(before, 'an order was allowed while flat').not.toBe(0);
            expect(d.exit).toBe(true);
            expect(d.reserved_notional).toBe(0);
            // Even the whole order filling must not grow or flip the position.
            const full = book(position, d.side, d.quantity, spec.price).quantity;
            expect(Math.abs(full)).toBeLessThanOrEqual(Math.abs(before) + EPS);
            expect(full === 0 || Math.sign(full) === Math.sign(before)).toBe(true);
            position = book(position, d.side, roundQty(d.quantity * spec.fill), spec.price);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});

interface InFlight {
  instrument: string;
  side: Side;
  quantity: number;
  price: number;
  reserved: number;
  exit: boolean;
}

interface World {
  prices: Record<string, number>;
  positions: Record<string, LedgerEntry>;
  inFlight: InFlight[];
}

const INSTRUMENTS = ['AAA', 'BBB', 'CCC'] as const;

const limitsArb = fc.record({
  max_order_notional: fc.option(fc.integer({ min: 500, max: 20_000 }), { nil: null }),
  max_gross_exposure: fc.option(fc.integer({ min: 1_000, max: 80_000 }), { nil: null }),
  position_default: fc.option(fc.integer({ min: 1_000, max: 40_000 }), { nil: null }),
  position_aaa: fc.option(fc.integer({ min: 1_000, max: 40_000 }), { nil: undefined }),
});

const worldArb = fc.record({
  AAA: fc.integer({ min: 1, max: 200 }),
  BBB: fc.integer({ min: 1, max: 200 }),
  CCC: fc.double({ min: 0.5, max: 200, noNaN: true }),
});

const stepArb = fc.record({
  settle: fc.boolean(),
  pick: fc.nat(),
  instrument: fc.constantFrom(...INSTRUMENTS),
  // The price field is replaced by the instrument's fixed price.
  spec: signalSpec(fc.constant(1)),
  closeWhole: fc.boolean(),
});

interface Limits {
  max_order_notional: number | null;
  max_gross_exposure: number | null;
  position_default: number | null;
  position_aaa: number | undefined;
}

function policyOf(l: Limits): PolicyConfig {
  const positions: PolicyConfig['max_position_notional'] = { default: l.position_default };
  if (l.position_aaa !== undefined) positions.AAA = l.position_aaa;
  return {
    ...DEFAULT_POLICY,
    max_signal_age_seconds: null,
    max_orders_per_minute: null,
    max_daily_loss: null,
    max_order_notional: l.max_order_notional,
    max_gross_exposure: l.max_gross_exposure,
    max_position_notional: positions,
  };
}

function stateFor(world: World, instrument: string, fractional: boolean): GateState {
  const position = world.positions[instrument] ?? { quantity: 0, avg_price: 0 };
  const marks = Object.entries(world.positions).map(([i, p]) => ({ ...p, last_price: world.prices[i] ?? null }));
  const sum = (xs: InFlight[]): number => xs.reduce((s, o) => s + o.reserved, 0);
  return gateState(
    {
      position: position.quantity,
      last_price: world.prices[instrument] ?? null,
      gross_exposure: grossExposure(marks),
      reserved_exposure: sum(world.inFlight),
      reserved_instrument: sum(world.inFlight.filter((o) => o.instrument === instrument)),
    },
    fractional,
  );
}

/** Books part of an in-flight order and releases its reservation, as the store's finishSignal does. */
function settle(world: World, index: number, fraction: number): void {
  const [order] = world.inFlight.splice(index, 1);
  if (order === undefined) return;
  const held = world.positions[order.instrument] ?? { quantity: 0, avg_price: 0 };
  world.positions[order.instrument] = book(held, order.side, roundQty(order.quantity * fraction), order.price);
}

/** Signed quantities of the risk-adding orders in flight in one instrument, split by direction. */
function pendingRisk(world: World, instrument: string): { up: number; down: number } {
  let up = 0;
  let down = 0;
  for (const o of world.inFlight) {
    if (o.instrument !== instrument || o.exit) continue;
    if (o.side === 'buy') up += o.quantity;
    else down -= o.quantity;
  }
  return { up, down };
}

/** The largest |position| the instrument can reach if any subset of its risk-adding orders in flight fills. */
function worstPosition(world: World, instrument: string): number {
  const q = world.positions[instrument]?.quantity ?? 0;
  const { up, down } = pendingRisk(world, instrument);
  return Math.max(Math.abs(q + up), Math.abs(q + down));
}

describe('enabled mode with limits', () => {
  test('an allowed risk-adding order stays within every limit even if everything in flight fills, in any settle order', () => {
    fc.assert(
      fc.property(limitsArb, worldArb, fc.boolean(), fc.array(stepArb, { maxLength: 80 }), (limits, prices, fractional, steps) => {
        const policy = policyOf(limits);
        const world: World = { prices, positions: {}, inFlight: [] };
        for (const step of steps) {
          if (step.settle && world.inFlight.length > 0) {
            settle(world, step.pick % world.inFlight.length, step.spec.fill);
            continue;
          }
          const price = prices[step.instrument];
          const d = decide(toSignal({ ...step.spec, price }, step.instrument, step.closeWhole), stateFor(world, step.instrument, fractional), policy, NOW);
          if (!d.allowed || d.side === null || d.quantity === null) continue;
          const notional = d.quantity * price;
          world.inFlight.push({ instrument: step.instrument, side: d.side, quantity: d.quantity, price, reserved: d.reserved_notional, exit: d.exit });
          if (d.exit) {
            expect(d.reserved_notional).toBe(0);
            continue;
          }
          expect(d.reserved_notional).toBeCloseTo(notional, 6);
          if (policy.max_order_notional !== null) expect(notional).toBeLessThanOrEqual(policy.max_order_notional + EPS);
          const positionMax = positionLimit(policy, step.instrument);
          if (positionMax !== null) expect(worstPosition(world, step.instrument) * price).toBeLessThanOrEqual(positionMax + EPS);
          if (policy.max_gross_exposure !== null) {
            // Exits in flight are left unfilled here: they can only lower exposure from where the
            // gate saw it, and this property is about what risk-adding orders may add.
            const worstGross = INSTRUMENTS.reduce((sum, i) => sum + worstPosition(world, i) * prices[i], 0);
            expect(worstGross).toBeLessThanOrEqual(policy.max_gross_exposure + EPS);
          }
        }
      }),
      { numRuns: 20000 },
    );
  });

  test('with one order in flight per instrument (the executor lanes), no limit is exceeded at any moment', () => {
    fc.assert(
      fc.property(limitsArb, worldArb, fc.boolean(), fc.array(stepArb, { maxLength: 80 }), (limits, prices, fractional, steps) => {
        const policy = policyOf(limits);
        const world: World = { prices, positions: {}, inFlight: [] };
        const check = (): void => {
          for (const i of INSTRUMENTS) {
            const max = positionLimit(policy, i);
            // Held, and held plus the order in flight: both within the instrument's limit.
            if (max !== null) expect(worstPosition(world, i) * prices[i]).toBeLessThanOrEqual(max + EPS);
          }
          if (policy.max_gross_exposure !== null) {
            const held = INSTRUMENTS.reduce((s, i) => s + Math.abs(world.positions[i]?.quantity ?? 0) * prices[i], 0);
            const reserved = world.inFlight.reduce((s, o) => s + o.reserved, 0);
            expect(held + reserved).toBeLessThanOrEqual(policy.max_gross_exposure + EPS);
          }
        };
        for (const step of steps) {
          const busy = world.inFlight.findIndex((o) => o.instrument === step.instrument);
          if (busy >= 0 || (step.settle && world.inFlight.length > 0)) {
            settle(world, busy >= 0 ? busy : step.pick % world.inFlight.length, step.spec.fill);
          } else {
            const price = prices[step.instrument];
            const d = decide(toSignal({ ...step.spec, price }, step.instrument, step.closeWhole), stateFor(world, step.instrument, fractional), policy, NOW);
            if (d.allowed && d.side !== null && d.quantity !== null) {
              if (!d.exit && policy.max_order_notional !== null) expect(d.quantity * price).toBeLessThanOrEqual(policy.max_order_notional + EPS);
              world.inFlight.push({ instrument: step.instrument, side: d.side, quantity: d.quantity, price, reserved: d.reserved_notional, exit: d.exit });
            }
          }
          check();
        }
      }),
      { numRuns: 20000 },
    );
  });
});
