/**
 * The guardrail gate (CONTRACT §5 step 1, §5.1): a pure function of the signal, the gate state,
 * the policy and the time. No I/O, no logger, no clock of its own: the caller passes `now`.
 * It resolves what the signal would order (close, target, notional → side and quantity), applies
 * the mode (which may trim a flip in exit_only), then evaluates every other rule against that
 * order and lists every failure, in the contract's rule order; any failure rejects.
 */
import type { PolicyConfig } from '../config/schema.js';
import type { Decision, RuleFailure, Signal } from '../domain/types.js';
import type { GateState } from './gate-state.js';
import { checkInstrumentAllowed, checkStaleSignal, checkTradingWindow } from './rules/admission.js';
import { checkConnectorCapability } from './rules/capability.js';
import { roundMoney, roundQty, type GateContext, type Intent, type RuleCheck } from './rules/context.js';
import {
  checkBreakerOpen,
  checkDailyLoss,
  checkMaxGrossExposure,
  checkMaxOrderNotional,
  checkMaxPositionNotional,
  checkOrderRate,
} from './rules/limits.js';
import { checkMode } from './rules/mode.js';

export { roundQty } from './rules/context.js';
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
 * What the signal asks for, given the current signed position. `fractional` says whether the
 * connector trades fractions (for sizing a notional). A notional whose price is unknown resolves
 * to quantity 0; the `max_order_notional` rule reports it.
 */
export function resolveIntent(signal: Signal, position: number, price: number | null, fractional = true): Intent {
  switch (signal.action) {
    case 'cancel':
      return NOTHING;
    case 'close': {
      const held = Math.abs(position);
      if (held === 0) return NOTHING;
      // A partial close larger than the position closes the position, never flips it.
      const quantity = roundQty(Math.min(signal.quantity ?? held, held));
      return { side: position > 0 ? 'sell' : 'buy', quantity, exit: true, flip: false };
    }
    case 'target': {
      // Validation requires target_position for a target; 0 (flatten) is the harmless reading.
      const target = roundQty(signal.target_position ?? 0);
      const diff = roundQty(target - position);
      if (diff === 0) return NOTHING;
      const flip = position !== 0 && target !== 0 && Math.sign(target) !== Math.sign(position);
      const exit = !flip && Math.abs(target) < Math.abs(position);
      return { side: diff > 0 ? 'buy' : 'sell', quantity: Math.abs(diff), exit, flip };
    }
    case 'buy':
    case 'sell': {
      const quantity =
        signal.quantity !== undefined
          ? Math.max(0, roundQty(signal.quantity))
          : signal.notional !== undefined && price !== null
            ? sizeNotional(signal.notional, price, fractional)
            : 0;
      const opposite = (signal.action === 'buy' && position < 0) || (signal.action === 'sell' && position > 0);
      const held = Math.abs(position);
      return { side: signal.action, quantity, exit: opposite && quantity <= held, flip: opposite && quantity > held };
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

/** Every rule after `mode`, in the contract's order. */
const RULES: readonly RuleCheck[] = [
  checkInstrumentAllowed,
  checkStaleSignal,
  checkTradingWindow,
  checkOrderRate,
  checkMaxOrderNotional,
  checkMaxPositionNotional,
  checkMaxGrossExposure,
  checkDailyLoss,
  checkBreakerOpen,
  checkConnectorCapability,
];

/**
 * Decides one signal. Invariant: an allowed decision never lets an order that adds risk past a
 * limit, counting what is already reserved; and an exit (reduces |position| without flipping) or
 * a cancel is never refused by a limit, only by the mode, the allowlist, staleness or what the
 * connector cannot do.
 */
export function decide(signal: Signal, state: GateState, policy: PolicyConfig, now: Date): Decision {
  const price = referencePrice(signal, state);
  const requested = resolveIntent(signal, state.position, price, state.capabilities.fractional);
  const mode = checkMode(signal, state, policy, requested);
  const intent = mode.intent;

  const places = intent.side !== null && intent.quantity > 0;
  const signed = intent.side === 'sell' ? -intent.quantity : intent.quantity;
  const ctx: GateContext = {
    signal,
    state,
    policy,
    now,
    intent,
    price,
    notional: price === null ? null : roundMoney(intent.quantity * price),
    resulting: places ? roundQty(state.position + signed) : state.position,
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
