/**
 * The gate for a `close` or `target` forwarded as an action to a fire-and-forget connector
 * (`order_updates: 'none'`, see `forwardsAction`; docs/execution.md#which-rules-apply-to-a-fire-and-forget-connector).
 * Such a connector reports no fills and no positions, so sluice's ledger for it never moves: a
 * close resolved against it would always be "flat, nothing to do", a target always "the whole
 * target". The action goes to the connector instead, and the gate judges what the signal says,
 * never a position:
 * - a close, and a target of 0, can only reduce whatever the receiver holds: exits, as anywhere;
 * - any other target may add risk (sluice cannot tell): exit_only refuses it
 *   (`exit_only_position_unknown`), and every rule that spares only exits judges it (trading
 *   window, order rate, daily loss, open breaker);
 * - the rules that need a quantity, a price or a position (order quantity and notional, position
 *   notional, gross exposure, exit/flip resolution, exit_only trimming) have none to judge and do
 *   not apply. Nothing is reserved.
 */
import type { PolicyConfig } from '../config/schema.js';
import type { GateState } from '../domain/gate-state.js';
import { roundQty } from '../domain/ledger.js';
import type { Decision, RuleFailure, Signal } from '../domain/types.js';
import { checkInstrumentAllowed, checkStaleSignal, checkTradingWindow } from './rules/admission.js';
import { checkForwardedCapability } from './rules/capability.js';
import type { GateContext, RuleCheck } from './rules/context.js';
import { checkBreakerOpen, checkDailyLoss, checkOrderRate } from './rules/limits.js';
import { checkForwardedMode } from './rules/mode.js';

/** The rules after `mode` that judge a forwarded action, in the documented order (connector_capability last). */
const RULES: readonly RuleCheck[] = [checkInstrumentAllowed, checkStaleSignal, checkTradingWindow, checkOrderRate, checkDailyLoss, checkBreakerOpen];

/** Whether a forwarded action can only reduce what the receiver holds: a close, or a target of 0. */
export function forwardedIsExit(signal: Signal): boolean {
  return signal.action === 'close' || roundQty(signal.target_position ?? 0) === 0;
}

/**
 * Decides a forwarded close or target. `price` is the signal's reference price (decide.ts
 * `referencePrice`), recorded for the connector and never judged.
 */
export function decideForwarded(signal: Signal, state: GateState, policy: PolicyConfig, now: Date, price: number | null): Decision {
  const exit = forwardedIsExit(signal);
  // The rules used here read the signal, the policy, the time, the gate state and `increases`;
  // the position fields are the ledger's as read (flat for such a connector), judged by none of them.
  const ctx: GateContext = {
    signal,
    state,
    policy,
    now,
    intent: { side: null, quantity: 0, exit, flip: false },
    price,
    notional: null,
    effective: state.position,
    resulting: state.position,
    resultingEffective: state.position,
    places: true,
    increases: !exit,
  };
  const failures: RuleFailure[] = [
    ...checkForwardedMode(signal, state, exit),
    ...RULES.flatMap((rule) => rule(ctx)),
    ...checkForwardedCapability(signal, state.capabilities),
  ];
  return {
    allowed: failures.length === 0,
    failures,
    quantity: null,
    side: null,
    exit,
    trimmed: false,
    reserved_notional: 0,
    reference_price: price,
    forwarded: true,
  };
}
