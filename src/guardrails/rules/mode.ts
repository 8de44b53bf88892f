/**
 * The `mode` rule (docs/execution.md#modes). Unlike the other rules it can change what is ordered: in
 * exit_only with `exit_only_trim`, a flip is cut down to the quantity that flattens the
 * position, and every later rule judges the trimmed order.
 *
 * With orders in flight (`pending_quantity` ≠ 0) "the position" is the one surely held whether
 * or not they fill (`surelyHeld`, see decide.ts): a flip is trimmed to it, and when it is 0 (a
 * close of the whole position already in flight, or orders that may take it through zero) there
 * is nothing to exit. An increase is reported against the effective position. A close or target
 * forwarded to a fire-and-forget connector has no position to judge (`checkForwardedMode`).
 */
import type { PolicyConfig } from '../../config/schema.js';
import type { RuleFailure, Signal } from '../../domain/types.js';
import type { GateState } from '../../domain/gate-state.js';
import { roundQty } from '../../domain/ledger.js';
import { effectivePosition, qty, surelyHeld, type Intent } from './context.js';

export interface ModeOutcome {
  intent: Intent;
  trimmed: boolean;
  failures: RuleFailure[];
}

export function checkMode(signal: Signal, state: GateState, policy: PolicyConfig, intent: Intent): ModeOutcome {
  const pass = { intent, trimmed: false, failures: [] };
  const { instrument } = signal;

  if (state.mode === 'paused') {
    if (signal.action === 'cancel') return pass;
    return { ...pass, failures: [pausedFailure(signal)] };
  }

  // exit_only lets through cancel, close, and anything that orders nothing or only reduces
  // |position| (an intent with exit = true): none of them can add risk. A buy/sell that sized to
  // zero orders nothing either; connector_capability or max_order_notional already refuses it.
  if (state.mode !== 'exit_only' || signal.action === 'cancel' || signal.action === 'close' || intent.exit || intent.quantity === 0) return pass;

  const effective = effectivePosition(state.position, state.pending_quantity);
  const held = Math.abs(surelyHeld(state.position, effective));
  // How the position reads in a message: "10", or "10 (0 once the orders in flight settle)".
  const position = effective === state.position ? qty(state.position) : `${qty(state.position)} (${qty(effective)} once the orders in flight settle)`;
  if (held === 0) {
    return {
      ...pass,
      failures: [
        {
          rule: 'mode',
          code: 'exit_only_no_position',
          limit: 0,
          actual: intent.quantity,
          message:
            effective === state.position
              ? `exit_only: no ${instrument} position to exit, so the ${intent.side ?? signal.action} of ${qty(intent.quantity)} is refused`
              : `exit_only: no ${instrument} position is surely held (position ${position}), so the ${intent.side ?? signal.action} of ${qty(intent.quantity)} is refused`,
        },
      ],
    };
  }
  if (intent.flip && policy.exit_only_trim) {
    return { intent: { ...intent, quantity: held, exit: true, flip: false }, trimmed: true, failures: [] };
  }
  if (intent.flip) {
    return {
      ...pass,
      failures: [
        {
          rule: 'mode',
          code: 'exit_only_would_flip',
          limit: held,
          actual: intent.quantity,
          message: `exit_only: ${intent.side ?? ''} ${qty(intent.quantity)} ${instrument} would flip the position of ${position}; at most ${qty(held)} may be ordered (exit_only_trim is off)`,
        },
      ],
    };
  }
  const resulting = roundQty(effective + (intent.side === 'buy' ? intent.quantity : -intent.quantity));
  const from = Math.abs(effective);
  return {
    ...pass,
    failures: [
      {
        rule: 'mode',
        code: 'exit_only_would_increase',
        limit: from,
        actual: Math.abs(resulting),
        message: `exit_only: ${intent.side ?? ''} ${qty(intent.quantity)} ${instrument} would take |position| from ${qty(from)} to ${qty(Math.abs(resulting))}${effective === state.position ? '' : ' once the orders in flight settle'}`,
      },
    ],
  };
}

function pausedFailure(signal: Signal): RuleFailure {
  return { rule: 'mode', code: 'paused', limit: 'cancel', actual: signal.action, message: `sluice is paused: only cancel is allowed, got ${signal.action}` };
}

/**
 * The mode for a close or target forwarded as an action (see guardrails/forwarded.ts). paused
 * refuses it like any order. exit_only lets through what can only reduce whatever the receiver
 * holds: a close, and a target of 0. Any other target is refused (code
 * `exit_only_position_unknown`): the connector reports no position, so sluice cannot tell
 * whether it reduces one, and nothing is trimmed.
 */
export function checkForwardedMode(signal: Signal, state: Pick<GateState, 'mode'>, exit: boolean): RuleFailure[] {
  if (state.mode === 'paused') return [pausedFailure(signal)];
  if (state.mode !== 'exit_only' || exit) return [];
  const target = signal.target_position ?? 0;
  return [
    {
      rule: 'mode',
      code: 'exit_only_position_unknown',
      limit: 0,
      actual: target,
      message: `exit_only: the connector reports no positions, so sluice cannot tell whether target ${qty(target)} ${signal.instrument} reduces one; only close and target 0 are forwarded`,
    },
  ];
}
