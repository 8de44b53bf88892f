/**
 * The `mode` rule (CONTRACT §5.1). Unlike the other rules it can change what is ordered: in
 * exit_only with `exit_only_trim`, a flip is cut down to the quantity that flattens the
 * position, and every later rule judges the trimmed order.
 */
import type { PolicyConfig } from '../../config/schema.js';
import type { RuleFailure, Signal } from '../../domain/types.js';
import type { GateState } from '../gate-state.js';
import { qty, roundQty, type Intent } from './context.js';

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
    return {
      ...pass,
      failures: [{ rule: 'mode', code: 'paused', limit: 'cancel', actual: signal.action, message: `sluice is paused: only cancel is allowed, got ${signal.action}` }],
    };
  }

  // exit_only lets through cancel, close, and anything that orders nothing or only reduces
  // |position| (an intent with exit = true): none of them can add risk. A buy/sell that sized to
  // zero orders nothing either; connector_capability or max_order_notional already refuses it.
  if (state.mode !== 'exit_only' || signal.action === 'cancel' || signal.action === 'close' || intent.exit || intent.quantity === 0) return pass;

  const held = Math.abs(state.position);
  if (held === 0) {
    return {
      ...pass,
      failures: [
        {
          rule: 'mode',
          code: 'exit_only_no_position',
          limit: 0,
          actual: intent.quantity,
          message: `exit_only: no ${instrument} position to exit, so the ${intent.side ?? signal.action} of ${qty(intent.quantity)} is refused`,
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
          message: `exit_only: ${intent.side ?? ''} ${qty(intent.quantity)} ${instrument} would flip the position of ${qty(state.position)}; at most ${qty(held)} may be ordered (exit_only_trim is off)`,
        },
      ],
    };
  }
  const resulting = roundQty(state.position + (intent.side === 'buy' ? intent.quantity : -intent.quantity));
  return {
    ...pass,
    failures: [
      {
        rule: 'mode',
        code: 'exit_only_would_increase',
        limit: held,
        actual: Math.abs(resulting),
        message: `exit_only: ${intent.side ?? ''} ${qty(intent.quantity)} ${instrument} would take |position| from ${qty(held)} to ${qty(Math.abs(resulting))}`,
      },
    ],
  };
}
