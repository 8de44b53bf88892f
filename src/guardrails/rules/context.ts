/**
 * What every guardrail rule reads: the signal, the gate state, the policy, the time, and what the
 * signal resolved to (side, quantity, exit or not, the resulting positions, the order notional).
 * Resolving once in `decide` and handing the result to each rule keeps the rules small and makes
 * them agree on one reading of the signal.
 */
import type { PolicyConfig } from '../../config/schema.js';
import type { RuleFailure, Side, Signal } from '../../domain/types.js';
import type { GateState } from '../../domain/gate-state.js';
import { roundQty } from '../../domain/ledger.js';

/** What a signal would order, given the settled and the effective position (see `decide`). */
export interface Intent {
  /** null when nothing is ordered: a cancel, a close while flat, a target already reached. */
  side: Side | null;
  /** Unsigned quantity to order; 0 when nothing is ordered. */
  quantity: number;
  /**
   * Reduces |position| without flipping it whether or not the orders in flight fill (judged
   * against both the settled and the effective position), or orders nothing at all.
   */
  exit: boolean;
  /** Goes toward zero from the position surely held, but further than that position. */
  flip: boolean;
}

export interface GateContext {
  readonly signal: Signal;
  readonly state: GateState;
  readonly policy: PolicyConfig;
  readonly now: Date;
  /** After exit_only trimming. */
  readonly intent: Intent;
  /** Reference price for notional checks, or null when none is known. */
  readonly price: number | null;
  /** quantity × price, or null when no price is known. */
  readonly notional: number | null;
  /** Settled position + pending quantity: the position once every order in flight has filled. */
  readonly effective: number;
  /** Signed position once the order fills if no other order in flight fills (settled + this order). */
  readonly resulting: number;
  /** Signed position once the order and every other order in flight fill (effective + this order). */
  readonly resultingEffective: number;
  /** An order goes to the connector (not a cancel, not a no-op, not a zero quantity). */
  readonly places: boolean;
  /** An order that is not an exit: the limits, trading window, daily loss and breaker apply. */
  readonly increases: boolean;
}

export type RuleCheck = (ctx: GateContext) => RuleFailure[];

/**
 * The position once every order in flight has filled: settled + pending quantity, rounded like
 * every quantity. With nothing pending it is the settled position itself, untouched.
 */
export function effectivePosition(position: number, pending: number): number {
  return pending === 0 ? position : roundQty(position + pending);
}

/**
 * The signed position held whether or not the orders in flight fill: of the settled and the
 * effective position, the one nearer zero when both are on the same side, else 0 (nothing is
 * surely held when the orders in flight may leave the position flat or on the other side).
 * When the orders in flight all go one way, every position they can reach (any of them filling,
 * wholly or partly, in any order) lies between the two, so an order that reduces this one
 * without flipping it reduces every reachable position without flipping it.
 */
export function surelyHeld(settled: number, effective: number): number {
  if (settled > 0 && effective > 0) return Math.min(settled, effective);
  if (settled < 0 && effective < 0) return Math.max(settled, effective);
  return 0;
}

const MONEY = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const QTY = new Intl.NumberFormat('en-US', { maximumFractionDigits: 9 });

/** A money amount for a message: "15,000.5". Fixed locale so messages do not depend on the host. */
export function money(n: number): string {
  return MONEY.format(n);
}

/** A quantity for a message, signed when negative: "-2.5". */
export function qty(n: number): string {
  return QTY.format(n);
}

/**
 * Money is compared after rounding to 1e-6 so that float noise (0.1 × 3 = 0.30000000000000004)
 * never refuses an order that sits exactly on a limit.
 */
export function roundMoney(n: number): number {
  return Number(n.toFixed(6));
}
