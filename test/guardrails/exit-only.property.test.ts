/**
 * Properties of the gate over random signal sequences, with positions booked by the real ledger
 * (`applyFill`) as the store would, and orders in flight modelled as several instances deciding
 * one instrument would leave them: the gate sees the settled position and `pending_quantity`, the
 * signed sum of every order in flight (exits included), and each order in flight later settles
 * wholly, partly or not at all, in any order.
 * - exit_only never lets an order increase |position| or flip it, whatever arrives and whatever
 *   of the orders in flight fills;
 * - in enabled mode with limits and reservations modelled, an allowed order never takes a
 *   reachable position past a limit, and an exit never flips or grows one (see the main property
 *   for exactly which positions the gate can answer for); and with one order in flight per
 *   instrument (the executor's lanes), no limit is exceeded at any moment.
 * Prices are fixed per instrument within a run in the enabled-mode properties, so that "exposure"
 * has one meaning throughout: price moves change exposure without any order, which no gate can
 * prevent.
 */
import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, test } from 'vitest';
import { configSchema, type PolicyConfig } from '../../src/config/schema.js';
import type { Action, Side, Signal } from '../../src/domain/types.js';
import { roundQty } from '../../src/domain/ledger.js';
import { decide, positionLimit } from '../../src/guardrails/decide.js';
import { roundMoney } from '../../src/guardrails/rules/context.js';
import type { GateState } from '../../src/domain/gate-state.js';
import { applyFill, grossExposure, type LedgerEntry } from '../../src/domain/ledger.js';

const NOW = new Date('2026-11-23T15:00:00Z');
const DEFAULT_POLICY: PolicyConfig = v.parse(configSchema, {}).policy;
const EPS = 1e-6;
// Step arrays are sized 'medium': fast-check's default ('small') never generates more than 10
// elements whatever maxLength says, too few for several orders to be in flight at once.
/** Runs per property; SLUICE_PROPERTY_RUNS=20000 searches deeper locally. */
const runs = (n: number): number => Number(process.env.SLUICE_PROPERTY_RUNS ?? n);

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
    pending_quantity: 0,
    last_price: null,
    gross_exposure: 0,
    reserved_exposure: 0,
    reserved_instrument: 0,
    realized_pnl_today: 0,
    orders_last_minute: 0,
    breaker: 'closed',
    ...s,
    capabilities: { order_types: ['market', 'limit', 'stop', 'stop_limit'], brackets: true, fractional, short: true, lookup: true, positions: true, order_updates: 'stream' },
  };
}

function book(position: LedgerEntry, side: Side, quantity: number, price: number): LedgerEntry {
  if (quantity <= 0) return position;
  const r = applyFill(position, { side, quantity, price });
  return { quantity: r.quantity, avg_price: r.avg_price };
}

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

const signedQty = (o: { side: Side; quantity: number }): number => (o.side === 'buy' ? o.quantity : -o.quantity);
const heldIn = (world: World, instrument: string): number => world.positions[instrument]?.quantity ?? 0;
const inFlightIn = (world: World, instrument: string): InFlight[] => world.inFlight.filter((o) => o.instrument === instrument);

/** What the store reports as `pending_quantity`: the signed sum of every order in flight in the instrument, exits included. */
function pendingIn(world: World, instrument: string): number {
  return inFlightIn(world, instrument).reduce((sum, o) => sum + signedQty(o), 0);
}

/**
 * The range of positions the instrument can reach from its settled position as its orders in
 * flight fill, wholly or partly, in any order: every sell filling and no buy gives the low end,
 * the reverse the high end. With `riskOnly`, exits in flight are left unfilled.
 */
function reach(world: World, instrument: string, riskOnly = false): { lo: number; hi: number } {
  const held = heldIn(world, instrument);
  let lo = held;
  let hi = held;
  for (const o of inFlightIn(world, instrument)) {
    if (riskOnly && o.exit) continue;
    if (o.side === 'buy') hi += o.quantity;
    else lo -= o.quantity;
  }
  return { lo, hi };
}

/** The instrument's orders in flight all go one way (or there are none). */
function oneWay(world: World, instrument: string): boolean {
  const sides = new Set(inFlightIn(world, instrument).map((o) => o.side));
  return sides.size <= 1;
}

/** Books part of an in-flight order and releases its reservation, as the store's finishSignal does. */
function settle(world: World, index: number, fraction: number): void {
  const [order] = world.inFlight.splice(index, 1);
  if (order === undefined) return;
  const held = world.positions[order.instrument] ?? { quantity: 0, avg_price: 0 };
  world.positions[order.instrument] = book(held, order.side, roundQty(order.quantity * fraction), order.price);
}

/**
 * An order of `side` and `quantity` is an exit from every position in `positions`: each is on
 * the side the order reduces, at least as far from zero as the order is large, so none can be
 * flipped or grown by it filling, wholly or partly.
 */
function expectExitFrom(positions: number[], side: Side, quantity: number, what: string): void {
  for (const q of positions) {
    if (side === 'sell') expect(q, `${what}: sell ${quantity} from ${q}`).toBeGreaterThanOrEqual(quantity - EPS);
    else expect(q, `${what}: buy ${quantity} from ${q}`).toBeLessThanOrEqual(-quantity + EPS);
  }
}

/**
 * One step: settle an order in flight (`settle`, picked by `pick`) or decide a signal. With
 * `crowded`, steps settle one time in four and three signals in five go to AAA, so that several
 * orders of one instrument are often in flight at once.
 */
const stepArb = (price: fc.Arbitrary<number>, crowded = false) =>
  fc.record({
    settle: crowded ? fc.integer({ min: 0, max: 3 }).map((n) => n === 0) : fc.boolean(),
    pick: fc.nat(),
    instrument: crowded ? fc.constantFrom(...(['AAA', 'AAA', 'AAA', 'BBB', 'CCC'] as const)) : fc.constantFrom(...(['AAA', 'BBB', 'CCC'] as const)),
    spec: signalSpec(price),
    closeWhole: fc.boolean(),
  });

describe('exit_only', () => {
  test('no allowed order ever increases |position| or flips it', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -200, max: 200 }), fc.double({ min: -200, max: 200, noNaN: true })),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.tuple(signalSpec(fc.double({ min: 0.5, max: 1000, noNaN: true })), fc.boolean()), { maxLength: 60, size: 'medium' }),
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
      { numRuns: runs(500) },
    );
  });

  test('whichever of the orders in flight fill, in any order, no allowed order increases |position| or flips it', () => {
    // Several instances in exit_only from a position with nothing in flight: every allowed order
    // must be an exit from every position the orders already in flight can leave, which a gate
    // judging only the settled position (two sells of the whole long) or only the effective one
    // fails.
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -2000, max: 2000 }), fc.double({ min: -2000, max: 2000, noNaN: true })),
        fc.boolean(),
        fc.boolean(),
        fc.array(stepArb(fc.double({ min: 0.5, max: 1000, noNaN: true }), true), { maxLength: 60, size: 'medium' }),
        (start, trim, fractional, steps) => {
          const policy: PolicyConfig = { ...DEFAULT_POLICY, exit_only_trim: trim };
          const world: World = { prices: {}, positions: { AAA: { quantity: roundQty(start), avg_price: 100 } }, inFlight: [] };
          for (const step of steps) {
            if (step.settle && world.inFlight.length > 0) {
              settle(world, step.pick % world.inFlight.length, step.spec.fill);
              continue;
            }
            const state = gateState({ mode: 'exit_only', position: heldIn(world, 'AAA'), pending_quantity: pendingIn(world, 'AAA'), last_price: 100 }, fractional);
            const d = decide(toSignal(step.spec, 'AAA', step.closeWhole), state, policy, NOW);
            if (!d.allowed || d.side === null || d.quantity === null) continue;
            expect(d.exit).toBe(true);
            expect(d.reserved_notional).toBe(0);
            const { lo, hi } = reach(world, 'AAA');
            expectExitFrom([lo, hi], d.side, d.quantity, 'reachable');
            world.inFlight.push({ instrument: 'AAA', side: d.side, quantity: d.quantity, price: step.spec.price, reserved: 0, exit: true });
          }
        },
      ),
      { numRuns: runs(500) },
    );
  });

  test('with an enabled-mode burst still in flight, exits hold against the settled and the effective position, and against every reachable one while the orders in flight go one way', () => {
    // The orders decided before the switch may go both ways. The gate sees only their net sum
    // (a buy and a sell of 100 in flight read as nothing), so what it can answer for is the
    // position if none of them fills and if all of them do, and, when they all go one way, every
    // position in between, which is then every reachable one.
    const open: PolicyConfig = { ...DEFAULT_POLICY, max_signal_age_seconds: null, max_orders_per_minute: null, max_daily_loss: null, max_order_notional: null, max_gross_exposure: null, max_position_notional: { default: null } };
    fc.assert(
      fc.property(
        fc.integer({ min: -200, max: 200 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(stepArb(fc.double({ min: 0.5, max: 1000, noNaN: true })), { maxLength: 12, size: 'medium' }),
        fc.array(stepArb(fc.double({ min: 0.5, max: 1000, noNaN: true })), { maxLength: 40, size: 'medium' }),
        (start, trim, fractional, burst, steps) => {
          const world: World = { prices: {}, positions: { AAA: { quantity: start, avg_price: 100 } }, inFlight: [] };
          const run = (step: (typeof steps)[number], mode: 'enabled' | 'exit_only'): void => {
            if (step.settle && world.inFlight.length > 0) {
              settle(world, step.pick % world.inFlight.length, step.spec.fill);
              return;
            }
            const position = heldIn(world, 'AAA');
            const pending = pendingIn(world, 'AAA');
            const state = gateState({ mode, position, pending_quantity: pending, last_price: 100 }, fractional);
            const d = decide(toSignal(step.spec, 'AAA', step.closeWhole), state, { ...open, exit_only_trim: trim }, NOW);
            if (!d.allowed || d.side === null || d.quantity === null) return;
            if (mode === 'exit_only') {
              expect(d.exit).toBe(true);
              expectExitFrom([position, position + pending], d.side, d.quantity, 'settled / effective');
              if (oneWay(world, 'AAA')) {
                const { lo, hi } = reach(world, 'AAA');
                expectExitFrom([lo, hi], d.side, d.quantity, 'reachable');
              }
            }
            world.inFlight.push({ instrument: 'AAA', side: d.side, quantity: d.quantity, price: step.spec.price, reserved: d.reserved_notional, exit: d.exit });
          };
          for (const step of burst) run({ ...step, settle: false }, 'enabled');
          for (const step of steps) run(step, 'exit_only');
        },
      ),
      { numRuns: runs(500) },
    );
  });
});

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

const startArb = fc.record({
  AAA: fc.integer({ min: -100, max: 100 }),
  BBB: fc.integer({ min: -100, max: 100 }),
  CCC: fc.constantFrom(0, 10, -10),
});

// The price field is replaced by the instrument's fixed price.
const fixedPriceSteps = fc.array(stepArb(fc.constant(1)), { maxLength: 80, size: 'medium' });
const crowdedSteps = fc.array(stepArb(fc.constant(1), true), { maxLength: 80, size: 'medium' });

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

/** The gate state the store would assemble: settled positions, reservations, and the instrument's orders in flight (exits included). */
function stateFor(world: World, instrument: string, fractional: boolean): GateState {
  const marks = Object.entries(world.positions).map(([i, p]) => ({ ...p, last_price: world.prices[i] ?? null }));
  const sum = (xs: InFlight[]): number => xs.reduce((s, o) => s + o.reserved, 0);
  return gateState(
    {
      position: heldIn(world, instrument),
      pending_quantity: pendingIn(world, instrument),
      last_price: world.prices[instrument] ?? null,
      gross_exposure: grossExposure(marks),
      reserved_exposure: sum(world.inFlight),
      reserved_instrument: sum(inFlightIn(world, instrument)),
    },
    fractional,
  );
}

/** The largest |position| in a range. */
const extent = (r: { lo: number; hi: number }): number => Math.max(Math.abs(r.lo), Math.abs(r.hi));

describe('enabled mode with limits', () => {
  /*
   * What "every position it can reach" can mean for a gate that sees the settled position, the
   * net quantity in flight (pending_quantity) and the notional reserved by risk-adding orders:
   * - none of the orders in flight fills, or all of them do: both are known exactly;
   * - no exit in flight fills and any of the risk-adding ones do (wholly or partly): covered by
   *   the reservations, as before pending_quantity existed;
   * - any of the orders in flight fill, exits included: known exactly when they all go one way
   *   (then the reachable positions lie between the settled and the effective one). When they go
   *   both ways the net sum hides how far: position 10, sell 4 (an exit); sell 16 (adds risk,
   *   fine at a limit of 10: it reaches -10 at worst) fills, leaving position -6 with the sell 4
   *   still in flight; buy 6 (an exit of the short, whichever way the sell 4 goes); the gate now
   *   sees position -6 and +2 in flight, exactly as for a lone buy of 2, and lets a sell of 4
   *   through, yet the sell 4 filling and the buy 6 not reaches -14. Only the gross quantity in
   *   flight per direction would close that gap, which GateState does not carry.
   * Each is checked on the side the order pushes toward: the far side of the range is not moved
   * by the order, and the gate answered for it when the orders that reach it were decided, within
   * the same limits of what it could see.
   */
  test('an allowed order keeps every position it can reach, in any settle order, within every limit the gate can answer for, and an exit never flips one', () => {
    fc.assert(
      fc.property(limitsArb, worldArb, startArb, fc.boolean(), crowdedSteps, (limits, prices, start, fractional, steps) => {
        const policy = policyOf(limits);
        // Positions held from before (within the limits or not): exits need something to exit.
        const positions = Object.fromEntries(INSTRUMENTS.map((i) => [i, { quantity: start[i], avg_price: prices[i] }]));
        const world: World = { prices, positions, inFlight: [] };
        for (const step of steps) {
          if (step.settle && world.inFlight.length > 0) {
            settle(world, step.pick % world.inFlight.length, step.spec.fill);
            continue;
          }
          const i = step.instrument;
          const price = prices[i];
          const d = decide(toSignal({ ...step.spec, price }, i, step.closeWhole), stateFor(world, i, fractional), policy, NOW);
          if (!d.allowed || d.side === null || d.quantity === null) continue;
          const held = heldIn(world, i);
          const effective = held + pendingIn(world, i);
          const oneWayBefore = oneWay(world, i);
          const before = reach(world, i);
          const order = signedQty({ side: d.side, quantity: d.quantity });
          world.inFlight.push({ instrument: i, side: d.side, quantity: d.quantity, price, reserved: d.reserved_notional, exit: d.exit });

          if (d.exit) {
            expect(d.reserved_notional).toBe(0);
            expectExitFrom([held, effective], d.side, d.quantity, 'settled / effective');
            if (oneWayBefore) expectExitFrom([before.lo, before.hi], d.side, d.quantity, 'reachable');
            continue;
          }

          const notional = d.quantity * price;
          // Reserved exactly the order's notional as the gate rounds money (6 decimals): a
          // closeness check at 6 digits fails on a notional ending in 5 at the 7th decimal.
          expect(d.reserved_notional).toBe(roundMoney(notional));
          if (policy.max_order_notional !== null) expect(notional).toBeLessThanOrEqual(policy.max_order_notional + EPS);
          const positionMax = positionLimit(policy, i);
          if (positionMax !== null) {
            // How far from zero a position gets on the side the order pushes toward.
            const toward = (q: number): number => Math.max(0, Math.sign(order) * q);
            const within = (q: number, what: string): void => {
              expect(q * price, `${what}: ${i} at ${q} × ${price}`).toBeLessThanOrEqual(positionMax + EPS);
            };
            within(Math.abs(effective + order), 'everything in flight fills');
            const risk = reach(world, i, true);
            within(toward(order > 0 ? risk.hi : risk.lo), 'no exit fills, any risk-adding order does');
            if (oneWayBefore) within(toward(order > 0 ? before.hi + order : before.lo + order), 'any order in flight fills');
          }
          if (policy.max_gross_exposure !== null) {
            // Exits in flight are left unfilled here: a risk-adding order in another instrument
            // reserves nothing for them (they are only netted into that instrument's pending
            // quantity), so the gross limit answers for held positions plus reservations.
            const worstGross = INSTRUMENTS.reduce((sum, k) => sum + extent(reach(world, k, true)) * prices[k], 0);
            expect(worstGross).toBeLessThanOrEqual(policy.max_gross_exposure + EPS);
          }
        }
      }),
      { numRuns: runs(1000) },
    );
  });

  test('with one order in flight per instrument (the executor lanes), no limit is exceeded at any moment, whichever orders fill', () => {
    fc.assert(
      fc.property(limitsArb, worldArb, fc.boolean(), fixedPriceSteps, (limits, prices, fractional, steps) => {
        const policy = policyOf(limits);
        const world: World = { prices, positions: {}, inFlight: [] };
        const check = (): void => {
          for (const i of INSTRUMENTS) {
            const max = positionLimit(policy, i);
            // Held, and held plus the order in flight (exit or not): both within the instrument's limit.
            if (max !== null) expect(extent(reach(world, i)) * prices[i]).toBeLessThanOrEqual(max + EPS);
          }
          if (policy.max_gross_exposure !== null) {
            const held = INSTRUMENTS.reduce((s, i) => s + Math.abs(heldIn(world, i)) * prices[i], 0);
            const reserved = world.inFlight.reduce((s, o) => s + o.reserved, 0);
            expect(held + reserved).toBeLessThanOrEqual(policy.max_gross_exposure + EPS);
            const worst = INSTRUMENTS.reduce((s, i) => s + extent(reach(world, i)) * prices[i], 0);
            expect(worst).toBeLessThanOrEqual(policy.max_gross_exposure + EPS);
          }
        };
        for (const step of steps) {
          const busy = world.inFlight.findIndex((o) => o.instrument === step.instrument);
          if (busy >= 0 || (step.settle && world.inFlight.length > 0)) {
            settle(world, busy >= 0 ? busy : step.pick % world.inFlight.length, step.spec.fill);
          } else {
            const price = prices[step.instrument];
            const state = stateFor(world, step.instrument, fractional);
            expect(state.pending_quantity).toBe(0);
            const d = decide(toSignal({ ...step.spec, price }, step.instrument, step.closeWhole), state, policy, NOW);
            if (d.allowed && d.side !== null && d.quantity !== null) {
              if (!d.exit && policy.max_order_notional !== null) expect(d.quantity * price).toBeLessThanOrEqual(policy.max_order_notional + EPS);
              world.inFlight.push({ instrument: step.instrument, side: d.side, quantity: d.quantity, price, reserved: d.reserved_notional, exit: d.exit });
            }
          }
          check();
        }
      }),
      { numRuns: runs(1000) },
    );
  });
});
