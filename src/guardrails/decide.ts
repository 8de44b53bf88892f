/**
 * The guardrail gate (CONTRACT §5 step 1, §5.1): a pure function of the signal, the gate state,
 * the policy and the time. No I/O, no logger, no clock of its own: the caller passes `now`.
 * It resolves what the signal would order (close, target, notional → side and quantity), then
 * evaluates every rule and lists every failure; any failure rejects.
 */
import type { PolicyConfig } from '../config/schema.js';
import type { Decision, RuleFailure, Side, Signal } from '../domain/types.js';
import type { GateState } from './gate-state.js';

/** Quantities are rounded to this many decimals so float noise never makes a phantom position. */
const QTY_DECIMALS = 9;
export function roundQty(q: number): number {
  return Number(q.toFixed(QTY_DECIMALS));
}

interface Intent {
  side: Side | null;
  quantity: number;
  /** Reduces |position| without flipping (or is a cancel / no-op). */
  exit: boolean;
  /** Would flip the position through zero. */
  flip: boolean;
}

/** What the signal asks for, given the current signed position. */
export function resolveIntent(signal: Signal, position: number, price: number | null): Intent {
  switch (signal.action) {
    case 'cancel':
      return { side: null, quantity: 0, exit: true, flip: false };
    case 'close': {
      const held = Math.abs(position);
      const quantity = roundQty(Math.min(signal.quantity ?? held, held));
      return { side: position > 0 ? 'sell' : 'buy', quantity, exit: true, flip: false };
    }
    case 'target': {
      const target = signal.target_position ?? 0;
      const diff = roundQty(target - position);
      const side: Side = diff > 0 ? 'buy' : 'sell';
      const reduces = Math.abs(target) < Math.abs(position) && (target === 0 || Math.sign(target) === Math.sign(position));
      const flip = position !== 0 && target !== 0 && Math.sign(target) !== Math.sign(position);
      return { side, quantity: Math.abs(diff), exit: reduces, flip };
    }
    case 'buy':
    case 'sell': {
      const quantity =
        signal.quantity !== undefined ? signal.quantity : signal.notional !== undefined && price !== null ? roundQty(signal.notional / price) : 0;
      const signed = signal.action === 'buy' ? quantity : -quantity;
      const opposite = position !== 0 && Math.sign(signed) !== Math.sign(position);
      const exit = opposite && quantity <= Math.abs(position) + 1e-12;
      return { side: signal.action, quantity, exit, flip: opposite && !exit };
    }
  }
}

/** The reference price for notional checks: the signal's price, its limit, else the last known. */
export function referencePrice(signal: Signal, state: GateState): number | null {
  return signal.price ?? signal.limit_price ?? signal.stop_price ?? state.last_price ?? null;
}

export function decide(signal: Signal, state: GateState, policy: PolicyConfig, _now: Date): Decision {
  const failures: RuleFailure[] = [];
  const price = referencePrice(signal, state);
  let intent = resolveIntent(signal, state.position, price);
  let trimmed = false;

  // mode (§5.1)
  if (state.mode === 'paused' && signal.action !== 'cancel') {
    failures.push({ rule: 'mode', code: 'paused', limit: 'cancel only', actual: signal.action, message: 'sluice is paused: only cancel is allowed' });
  } else if (state.mode === 'exit_only' && signal.action !== 'cancel' && signal.action !== 'close' && !intent.exit) {
    if (state.position === 0) {
      failures.push({ rule: 'mode', code: 'exit_only_no_position', limit: 'exits only', actual: 0, message: `exit_only: no position in ${signal.instrument} to exit` });
    } else if (intent.flip && policy.exit_only_trim) {
      intent = { ...intent, quantity: Math.abs(state.position), exit: true, flip: false };
      trimmed = true;
    } else if (intent.flip) {
      failures.push({ rule: 'mode', code: 'exit_only_would_flip', limit: Math.abs(state.position), actual: intent.quantity, message: `exit_only: the order would flip the ${signal.instrument} position` });
    } else {
      failures.push({ rule: 'mode', code: 'exit_only_would_increase', limit: 'exits only', actual: state.position, message: `exit_only: the order would increase the ${signal.instrument} position` });
    }
  }

  const ordersSomething = intent.side !== null && intent.quantity > 0;
  const allowed = failures.length === 0;
  const notional = price === null ? 0 : intent.quantity * price;
  return {
    allowed,
    failures,
    quantity: allowed && ordersSomething ? intent.quantity : null,
    side: allowed && ordersSomething ? intent.side : null,
    exit: intent.exit,
    trimmed,
    reserved_notional: allowed && ordersSomething && !intent.exit ? notional : 0,
    reference_price: price,
  };
}
