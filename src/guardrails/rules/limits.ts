/**
 * The risk limits (docs/execution.md#guardrails): order rate, order quantity, order / position / gross notional, daily
 * loss, and the circuit breaker. Every one of them judges only orders that add risk
 * (`ctx.increases`): an exit (reduces |position| without flipping) and a cancel skip them all,
 * because a way out of a position must never be blocked by the limits that protect the way in.
 *
 * Exposure already reserved by decided, unsettled orders is counted, so concurrent executions
 * cannot jointly pass a limit that only one fits under (the store evaluates the gate inside the
 * transaction that records the reservation). The position limit also reads the effective position
 * (settled + pending quantity), since orders in flight that were exits when decided can add risk
 * together with a later order.
 */
import type { PolicyConfig } from '../../config/schema.js';
import type { RuleFailure, Rule } from '../../domain/types.js';
import { money, qty, roundMoney, type GateContext } from './context.js';

/**
 * `order_rate`: at most `max_orders_per_minute` orders decided per rolling minute. Exits are never
 * refused by it: the limit is there to stop a runaway strategy from piling on risk, an exit
 * can only shrink a position (so a run of exits ends when the position is flat), and refusing an
 * exit during a burst is exactly when it hurts most.
 */
export function checkOrderRate({ state, policy, increases }: GateContext): RuleFailure[] {
  const max = policy.max_orders_per_minute;
  if (!increases || max === null || state.orders_last_minute < max) return [];
  return [
    {
      rule: 'order_rate',
      limit: max,
      actual: state.orders_last_minute,
      message: `${state.orders_last_minute} orders were decided in the last minute; the limit is ${max} per minute`,
    },
  ];
}

function priceUnknown(rule: Rule, limit: number, ctx: GateContext, what: string): RuleFailure {
  return {
    rule,
    code: 'price_unknown',
    limit,
    actual: null,
    message: `no price is known for ${ctx.signal.instrument} (no price, limit_price, stop_price or last fill), so ${what} of ${money(limit)} cannot be checked`,
  };
}

/**
 * `max_order_notional`: quantity × reference price. A notional order whose price is unknown
 * cannot even be sized; that is reported here (code `price_unknown`) whether or not it is an exit
 * and whether or not a limit is set, because without a quantity there is no order.
 */
export function checkMaxOrderNotional(ctx: GateContext): RuleFailure[] {
  const { signal, policy, price, notional, intent, increases } = ctx;
  if ((signal.action === 'buy' || signal.action === 'sell') && signal.quantity === undefined && signal.notional !== undefined && price === null) {
    return [
      {
        rule: 'max_order_notional',
        code: 'price_unknown',
        limit: policy.max_order_notional,
        actual: null,
        message: `a notional order needs a price: none is known for ${signal.instrument} (no price, limit_price, stop_price or last fill), so ${money(signal.notional)} cannot be turned into a quantity`,
      },
    ];
  }
  const max = policy.max_order_notional;
  if (!increases || max === null) return [];
  if (notional === null || price === null) return [priceUnknown('max_order_notional', max, ctx, 'max_order_notional')];
  if (notional <= max) return [];
  return [
    {
      rule: 'max_order_notional',
      limit: max,
      actual: notional,
      message: `order notional ${money(notional)} (${qty(intent.quantity)} ${signal.instrument} × ${money(price)}) exceeds max_order_notional ${money(max)}`,
    },
  ];
}

/**
 * An instrument's limit in a per-instrument map: its own key (matched without regard to case,
 * since instruments are upper-cased), else `default`. An instrument key set to null means "no
 * limit for this instrument" and does not fall back to the default.
 */
function instrumentLimit(limits: { default: number | null; [instrument: string]: number | null }, instrument: string): number | null {
  for (const [key, value] of Object.entries(limits)) {
    if (key !== 'default' && key.toUpperCase() === instrument) return value;
  }
  return limits.default;
}

/** The position limit of an instrument in `max_position_notional` (see `instrumentLimit`). */
export function positionLimit(policy: PolicyConfig, instrument: string): number | null {
  return instrumentLimit(policy.max_position_notional, instrument);
}

/**
 * `max_order_quantity`: the quantity of one risk-adding order, per instrument. Unlike the
 * notional limits it does not depend on a price, so a sender's absurd price (1e-300) cannot
 * make an absurd quantity (1e300) look small.
 */
export function checkMaxOrderQuantity({ signal, policy, intent, increases }: GateContext): RuleFailure[] {
  const max = instrumentLimit(policy.max_order_quantity, signal.instrument);
  if (!increases || max === null || intent.quantity <= max) return [];
  return [
    {
      rule: 'max_order_quantity',
      limit: max,
      actual: intent.quantity,
      message: `order quantity ${qty(intent.quantity)} ${signal.instrument} exceeds max_order_quantity ${qty(max)}`,
    },
  ];
}

/**
 * `max_position_notional`: the worse of two readings of where the order can take the position.
 * - Nothing else in flight fills but any risk-adding order in flight may: |settled + order| ×
 *   price + the notional reserved in the instrument (what the gate has always checked).
 * - Everything in flight fills: |effective + order| × price. The risk-adding orders in flight are
 *   part of the effective position already, so their reservation is not added a second time:
 *   several buys in flight are counted once, not twice.
 * The second reading is what catches orders in flight that are exits when they are decided but
 * add risk together with this one (a buy-back of a short in flight, then a buy: the buy-back is no
 * longer covering anything once the buy lands). With pending_quantity 0 the second never
 * exceeds the first, so the rule reads as it always has.
 */
export function checkMaxPositionNotional(ctx: GateContext): RuleFailure[] {
  const { signal, state, policy, price, resulting, resultingEffective, increases } = ctx;
  const max = positionLimit(policy, signal.instrument);
  if (!increases || max === null) return [];
  if (price === null) return [priceUnknown('max_position_notional', max, ctx, `max_position_notional for ${signal.instrument}`)];
  const held = Math.abs(resulting) * price;
  const settledTotal = roundMoney(held + state.reserved_instrument);
  const effectiveTotal = roundMoney(Math.abs(resultingEffective) * price);
  const total = Math.max(settledTotal, effectiveTotal);
  if (total <= max) return [];
  return [
    {
      rule: 'max_position_notional',
      limit: max,
      actual: total,
      message:
        settledTotal >= effectiveTotal
          ? `${signal.instrument} position would be ${qty(resulting)}, worth ${money(held)} at ${money(price)}, plus ${money(state.reserved_instrument)} reserved by open orders: ${money(total)}, over the limit of ${money(max)}`
          : `${signal.instrument} position would be ${qty(resultingEffective)} once this order and every order in flight fill, worth ${money(total)} at ${money(price)}, over the limit of ${money(max)}`,
    },
  ];
}

/** `max_gross_exposure`: held exposure + reserved exposure + this order's notional, across the connector. */
export function checkMaxGrossExposure(ctx: GateContext): RuleFailure[] {
  const { state, policy, notional, increases } = ctx;
  const max = policy.max_gross_exposure;
  if (!increases || max === null) return [];
  if (notional === null) return [priceUnknown('max_gross_exposure', max, ctx, 'max_gross_exposure')];
  const total = roundMoney(state.gross_exposure + state.reserved_exposure + notional);
  if (total <= max) return [];
  return [
    {
      rule: 'max_gross_exposure',
      limit: max,
      actual: total,
      message: `gross exposure would be ${money(total)} (${money(state.gross_exposure)} held + ${money(state.reserved_exposure)} reserved + ${money(notional)} this order), over the limit of ${money(max)}`,
    },
  ];
}

/**
 * `daily_loss`: once today's realized loss reaches `max_daily_loss`, only exits pass. The gate
 * refuses on its own, independently of the switch to exit_only that the executor makes on the
 * breach, so the limit holds even between the breach and the mode change.
 */
export function checkDailyLoss({ state, policy, increases }: GateContext): RuleFailure[] {
  const max = policy.max_daily_loss;
  if (!increases || max === null || state.realized_pnl_today > -max) return [];
  const loss = roundMoney(-state.realized_pnl_today);
  return [
    {
      rule: 'daily_loss',
      limit: max,
      actual: loss,
      message: `realized loss today is ${money(loss)}, at or over max_daily_loss ${money(max)}: only exits are allowed`,
    },
  ];
}

/**
 * `breaker_open`: while the connector's breaker is open, orders that add risk are refused; exits
 * and cancels are still tried (docs/execution.md#circuit-breaker). `half_open` passes: letting exactly one probe
 * through is the executor's job (it owns the breaker's state machine), the gate only refuses
 * `open`.
 */
export function checkBreakerOpen({ state, increases }: GateContext): RuleFailure[] {
  if (!increases || state.breaker !== 'open') return [];
  return [
    {
      rule: 'breaker_open',
      limit: 'closed',
      actual: state.breaker,
      message: "the connector's circuit breaker is open: only exits and cancels are tried until it closes",
    },
  ];
}
