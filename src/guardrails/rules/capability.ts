/**
 * `connector_capability` (docs/execution.md#connectors): refuse, with a clear reason, what the connector
 * declares it cannot do, instead of letting the broker fail the order after retries. These
 * checks apply to exits too (a connector cannot do what it cannot do); only a cancel and a
 * signal that orders nothing are exempt, since no order reaches the connector. The short check
 * counts the orders in flight (see `decide`). A close or target forwarded as an action
 * (`checkForwardedCapability`) is judged on what it says: its order type and legs, a partial
 * close's quantity and the target position.
 */
import type { ConnectorCapabilities, RuleFailure, Signal } from '../../domain/types.js';
import { roundQty } from '../../domain/ledger.js';
import { money, qty, type GateContext } from './context.js';

export function checkConnectorCapability(ctx: GateContext): RuleFailure[] {
  const { signal, state, intent, price, places } = ctx;
  const caps = state.capabilities;
  const failures: RuleFailure[] = [];

  // A buy/sell that resolves to nothing: a notional below one whole unit on a connector that
  // trades whole units (or, on a fractional one, below 1e-9 of a unit). An unknown price is
  // reported by max_order_notional instead, as the quantity was never computed.
  if ((signal.action === 'buy' || signal.action === 'sell') && intent.quantity === 0 && price !== null) {
    const raw = roundQty(signal.notional !== undefined ? signal.notional / price : (signal.quantity ?? 0));
    failures.push({
      rule: 'connector_capability',
      code: 'quantity_zero',
      limit: caps.fractional ? 1e-9 : 1,
      actual: raw,
      message:
        signal.notional !== undefined && !caps.fractional
          ? `notional ${money(signal.notional)} buys ${qty(raw)} ${signal.instrument} at ${money(price)}, less than the one whole unit the connector can trade`
          : `the ${signal.action} resolves to a quantity of 0 ${signal.instrument}: nothing to order`,
    });
  }
  if (!places) return failures;

  failures.push(...orderShapeFailures(signal, caps), ...fractionalFailures(signal, caps, intent.quantity));
  // Making or growing a short: a sell that can take the position below zero. With orders in
  // flight the lower of the settled and the effective position is the one that can end up short
  // (a sell of 10 at position 10 while another sell of 10 is in flight may leave -10). Covering
  // a short, or selling down a long that is surely held, needs no short support.
  const low = Math.min(state.position, ctx.effective);
  const lowest = roundQty(low - intent.quantity);
  if (!caps.short && intent.side === 'sell' && lowest < 0) {
    const from = low === state.position ? qty(state.position) : `${qty(state.position)} (${qty(low)} once the orders in flight settle)`;
    failures.push({
      rule: 'connector_capability',
      code: 'short',
      limit: 0,
      actual: lowest,
      message: `the connector cannot sell short: the ${intent.side} of ${qty(intent.quantity)} would take ${signal.instrument} from ${from} to ${qty(lowest)}`,
    });
  }
  return failures;
}

/**
 * A close or target forwarded as an action: its order type and legs as for any order; the
 * quantity that must be whole is a partial close's (a full close takes whatever is held) or the
 * target position, and a target below zero is a short whatever the receiver holds now.
 */
export function checkForwardedCapability(signal: Signal, caps: ConnectorCapabilities): RuleFailure[] {
  const failures = orderShapeFailures(signal, caps);
  const target = signal.action === 'target' ? roundQty(signal.target_position ?? 0) : null;
  const quantity = target !== null ? Math.abs(target) : signal.quantity;
  if (quantity !== undefined) failures.push(...fractionalFailures(signal, caps, quantity));
  if (!caps.short && target !== null && target < 0) {
    failures.push({
      rule: 'connector_capability',
      code: 'short',
      limit: 0,
      actual: target,
      message: `the connector cannot sell short: target ${qty(target)} ${signal.instrument} is a short position`,
    });
  }
  return failures;
}

/** The order type, and bracket legs on a connector without them. */
function orderShapeFailures(signal: Signal, caps: ConnectorCapabilities): RuleFailure[] {
  const failures: RuleFailure[] = [];
  if (!caps.order_types.includes(signal.order_type)) {
    failures.push({
      rule: 'connector_capability',
      code: 'order_type',
      limit: caps.order_types,
      actual: signal.order_type,
      message: `the connector does not take ${signal.order_type} orders (it takes ${caps.order_types.join(', ') || 'none'})`,
    });
  }
  const legs = [signal.take_profit !== undefined ? 'take_profit' : null, signal.stop_loss !== undefined ? 'stop_loss' : null].filter(
    (leg): leg is string => leg !== null,
  );
  if (legs.length > 0 && !caps.brackets) {
    failures.push({
      rule: 'connector_capability',
      code: 'brackets',
      limit: false,
      actual: legs,
      message: `the connector does not support bracket orders, but the signal carries ${legs.join(' and ')}`,
    });
  }
  return failures;
}

/** A fractional quantity on a connector that trades whole units only. */
function fractionalFailures(signal: Signal, caps: ConnectorCapabilities, quantity: number): RuleFailure[] {
  if (caps.fractional || Number.isInteger(quantity)) return [];
  return [
    {
      rule: 'connector_capability',
      code: 'fractional',
      limit: Math.floor(quantity),
      actual: quantity,
      message: `the connector trades whole units only; ${qty(quantity)} ${signal.instrument} is fractional`,
    },
  ];
}
