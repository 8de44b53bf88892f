/**
 * The guardrail gate (docs/execution.md#guardrails, docs/execution.md#modes): a pure function of the signal, the gate state,
 * the policy and the time. No I/O, no logger, no clock of its own: the caller passes `now`.
 * It resolves what the signal would order (close, target, notional → side and quantity), applies
 * the mode (which may trim a flip in exit_only), then evaluates every other rule against that
 * order and lists every failure, in the documented rule order (docs/execution.md#guardrails); any failure rejects.
 *
 * Orders in flight. With several instances on one database, orders of one instrument may be
 * decided before earlier ones settle; `state.pending_quantity` is their signed sum (exits
 * included). The gate judges a signal against two positions: the settled one (`position`: none
 * of the orders in flight fills) and the effective one (`position + pending_quantity`: all of
 * them fill).
 * - Exit: reduces |position| without flipping it relative to both, i.e. toward zero by at most
 *   the position surely held (`surelyHeld`: of the two, the one nearer zero when both are on the
 *   same side, else 0). exit_only trims a flip to that, and refuses with exit_only_no_position
 *   when it is 0 (position 10 with a sell of 10 in flight: a second sell is not an exit).
 * - close closes the position surely held (nothing while a full close is in flight); target
 *   orders the difference to the effective position.
 * - max_position_notional takes the worse of |effective + order| × price (everything fills; the
 *   risk-adding orders in flight are in it already, so reserved_instrument is not added again)
 *   and |settled + order| × price + reserved_instrument (no exit in flight fills, any risk-adding
 *   one may). connector_capability's short check starts from the lower of the two positions.
 * With pending_quantity 0 the two positions are one and every rule reads as it does for a single
 * position. When the orders in flight all go one way (always so with one executor lane per
 * instrument), every position they can reach, filling wholly or partly in any order, lies between
 * the two, so each decision holds for all of them. With orders of both directions in flight the
 * net sum hides part of that range (a buy and a sell of 100 read as nothing): a decision then
 * holds for the settled and the effective position and, for the limits, for any risk-adding
 * orders in flight filling; closing that gap needs the pending quantity per direction, which the
 * gate state does not carry.
 *
 * A close or target for a connector that reports no fills (`order_updates: 'none'`) is not
 * resolved here: it is forwarded as an action and judged by guardrails/forwarded.ts.
 */
import type { PolicyConfig } from '../config/schema.js';
import { forwardsAction, type Decision, type RuleFailure, type Side, type Signal } from '../domain/types.js';
import type { GateState } from '../domain/gate-state.js';
import { checkInstrumentAllowed, checkStaleSignal, checkTradingWindow } from './rules/admission.js';
import { checkConnectorCapability } from './rules/capability.js';
import { decideForwarded } from './forwarded.js';
import { roundQty } from '../domain/ledger.js';
import { effectivePosition, roundMoney, surelyHeld, type GateContext, type Intent, type RuleCheck } from './rules/context.js';
import {
  checkBreakerOpen,
  checkDailyLoss,
  checkMaxGrossExposure,
  checkMaxOrderNotional,
  checkMaxOrderQuantity,
  checkMaxPositionNotional,
  checkOrderRate,
} from './rules/limits.js';
import { checkMode } from './rules/mode.js';

export { effectivePosition, surelyHeld } from './rules/context.js';
export type { Intent } from './rules/context.js';
export { positionLimit } from './rules/limits.js';

const NOTHING: Intent = { side: null, quantity: 0, exit: true, flip: false };

/**
 * The quantity a notional buys at `price`. A connector that trades whole units gets the floor:
 * never more notional than the sender asked for, so a sized order cannot overshoot a limit the
 * sender sized against. The quotient is rounded to 9 decimals first so 0.3 / 0.1 is 3, not 2.
 */
export function sizeNotional(notional: number, price: number, fractional: boolean): number {
  const exact = roundQty(notional / price);
  return fractional ? exact : Math.floor(exact);
}

/**
 * What the signal asks for, given the settled signed position and the signed quantity of the
 * instrument's orders in flight (`pending`, see the module header). `fractional` says whether the
 * connector trades fractions (for sizing a notional). A notional whose price is unknown resolves
 * to quantity 0; the `max_order_notional` rule reports it.
 */
export function resolveIntent(signal: Signal, position: number, price: number | null, fractional = true, pending = 0): Intent {
  const effective = effectivePosition(position, pending);
  const held = surelyHeld(position, effective);
  // An order toward zero from the position surely held is an exit up to |held|, a flip beyond.
  const classify = (side: Side, quantity: number): Intent => {
    const opposite = (side === 'buy' && held < 0) || (side === 'sell' && held > 0);
    return { side, quantity, exit: opposite && quantity <= Math.abs(held), flip: opposite && quantity > Math.abs(held) };
  };
  switch (signal.action) {
    case 'cancel':
      return NOTHING;
    case 'close': {
      // Closes what is held whatever the orders in flight do: never flips, and orders nothing
      // while a full close (or anything that may leave the position flat) is in flight.
      if (held === 0) return NOTHING;
      // A partial close larger than the position closes the position, never flips it.
      const quantity = roundQty(Math.min(signal.quantity ?? Math.abs(held), Math.abs(held)));
      return { side: held > 0 ? 'sell' : 'buy', quantity, exit: true, flip: false };
    }
    case 'target': {
      // Validation requires target_position for a target; 0 (flatten) is the harmless reading.
      // The difference is to the effective position, so a target repeated while the first
      // order is in flight orders nothing more.
      const target = roundQty(signal.target_position ?? 0);
      const diff = roundQty(target - effective);
      if (diff === 0) return NOTHING;
      return classify(diff > 0 ? 'buy' : 'sell', Math.abs(diff));
    }
    case 'buy':
    case 'sell': {
      const quantity =
        signal.quantity !== undefined
          ? Math.max(0, roundQty(signal.quantity))
          : signal.notional !== undefined && price !== null
            ? sizeNotional(signal.notional, price, fractional)
            : 0;
      return classify(signal.action, quantity);
    }
  }
}

/**
 * The reference price for notional checks: the signal's `price`, else its limit price, else its
 * stop price, else the instrument's last known price. A limit or stop price is what the order
 * would trade at, so it is a better guess than a stale last price.
 */
export function referencePrice(signal: Signal, state: GateState): number | null {
  return signal.price ?? signal.limit_price ?? signal.stop_price ?? state.last_price ?? null;
}

/** Every rule after `mode`, in the documented order. */
const RULES: readonly RuleCheck[] = [
  checkInstrumentAllowed,
  checkStaleSignal,
  checkTradingWindow,
  checkOrderRate,
  checkMaxOrderQuantity,
  checkMaxOrderNotional,
  checkMaxPositionNotional,
  checkMaxGrossExposure,
  checkDailyLoss,
  checkBreakerOpen,
  checkConnectorCapability,
];

/**
 * Decides one signal. Invariant: an allowed decision never lets an order that adds risk past a
 * limit, counting what is already reserved and what is in flight (within the reach described in
 * the module header); and an exit (reduces |position| without flipping, whether or not the
 * orders in flight fill) or a cancel is never refused by a limit, only by the mode, the
 * allowlist, staleness or what the connector cannot do.
 */
export function decide(signal: Signal, state: GateState, policy: PolicyConfig, now: Date): Decision {
  const price = referencePrice(signal, state);
  // A close or target for a fire-and-forget connector is not resolved against the ledger, which
  // never moves for it: the connector gets the action (guardrails/forwarded.ts).
  if (forwardsAction(signal.action, state.capabilities)) return decideForwarded(signal, state, policy, now, price);
  const requested = resolveIntent(signal, state.position, price, state.capabilities.fractional, state.pending_quantity);
  const mode = checkMode(signal, state, policy, requested);
  const intent = mode.intent;

  const places = intent.side !== null && intent.quantity > 0;
  const signed = intent.side === 'sell' ? -intent.quantity : intent.quantity;
  const effective = effectivePosition(state.position, state.pending_quantity);
  const ctx: GateContext = {
    signal,
    state,
    policy,
    now,
    intent,
    price,
    notional: price === null ? null : roundMoney(intent.quantity * price),
    effective,
    resulting: places ? roundQty(state.position + signed) : state.position,
    resultingEffective: places ? roundQty(effective + signed) : effective,
    places,
    increases: places && !intent.exit,
  };

  const failures: RuleFailure[] = [...mode.failures, ...RULES.flatMap((rule) => rule(ctx))];
  const allowed = failures.length === 0;
  const ordered = allowed && places;
  return {
    allowed,
    failures,
    quantity: ordered ? intent.quantity : null,
    side: ordered ? intent.side : null,
    exit: intent.exit,
    trimmed: mode.trimmed,
    // Only risk-adding orders hold a reservation: exits shrink exposure, so reserving them would
    // only make the limits stricter than the positions they protect.
    reserved_notional: ordered && ctx.increases ? (ctx.notional ?? 0) : 0,
    reference_price: price,
  };
}
