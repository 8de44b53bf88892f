/**
 * The guardrail gate, table-driven: one line per case, each a signal / state / policy delta from
 * the defaults (the documented default policy, a flat AAPL book, a connector that can do
 * everything) and the decision expected.
 */
import * as v from 'valibot';
import { describe, expect, test } from 'vitest';
import { configSchema, type PolicyConfig, type TradingWindow } from '../../src/config/schema.js';
import type { ConnectorCapabilities } from '../../src/domain/types.js';
import type { Rule, Side, Signal } from '../../src/domain/types.js';
import { decide, positionLimit, resolveIntent, sizeNotional, surelyHeld } from '../../src/guardrails/decide.js';
import type { GateState } from '../../src/domain/gate-state.js';
import { decideWithBreaker } from '../../src/execution/gate.js';

/** Monday 2026-11-23, 10:00 in New York (EST). */
const NOW = new Date('2026-11-23T15:00:00Z');
const DEFAULT_POLICY: PolicyConfig = v.parse(configSchema, {}).policy;
const FULL_CAPS: ConnectorCapabilities = { order_types: ['market', 'limit', 'stop', 'stop_limit'], brackets: true, fractional: true, short: true, lookup: true, positions: true, order_updates: 'stream' };

/** A fire-and-forget connector (http): no lookup, no positions, no order updates. */
const HTTP_CAPS: Partial<ConnectorCapabilities> = { lookup: false, positions: false, order_updates: 'none' };

const NY_HOURS: TradingWindow[] = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:30', to: '16:00', tz: 'America/New_York' }];
const OVERNIGHT: TradingWindow[] = [{ days: ['fri'], from: '22:00', to: '02:00', tz: 'UTC' }];
const NO_LIMITS: Partial<PolicyConfig> = { max_order_notional: null, max_position_notional: { default: null }, max_gross_exposure: null };
const at = (iso: string): string => new Date(iso).toISOString();
const shift = (seconds: number): string => new Date(NOW.getTime() + seconds * 1000).toISOString();

function buildSignal(s: Partial<Signal>, now: Date): Signal {
  const base: Signal = { action: 'buy', instrument: 'AAPL', quantity: 10, order_type: 'market', price: 100, time_in_force: 'day', timestamp: now.toISOString(), meta: {} };
  // A notional signal carries no quantity: "exactly one" (docs/http-api.md#signal-body).
  if (s.notional !== undefined && !('quantity' in s)) delete base.quantity;
  return { ...base, ...s };
}
function buildState(s: Partial<GateState>, caps: Partial<ConnectorCapabilities>): GateState {
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
    capabilities: { ...FULL_CAPS, ...caps },
  };
}
function buildPolicy(p: Partial<PolicyConfig>): PolicyConfig {
  return { ...DEFAULT_POLICY, ...p };
}

interface Case {
  name: string;
  signal?: Partial<Signal>;
  state?: Partial<GateState>;
  policy?: Partial<PolicyConfig>;
  caps?: Partial<ConnectorCapabilities>;
  now?: string;
  expect: {
    allowed: boolean;
    /** Failing rules, in order; omitted with allowed: true means "no failure at all". */
    rules?: Rule[];
    codes?: string[];
    quantity?: number | null;
    side?: Side | null;
    exit?: boolean;
    trimmed?: boolean;
    reserved?: number;
    /** A close or target judged as an action forwarded to a fire-and-forget connector. */
    forwarded?: boolean;
  };
}

// prettier-ignore
const cases: Case[] = [
  // ── mode × action ───────────────────────────────────────────────────────────────────────────
  { name: 'enabled: buy from flat is placed and reserves its notional', expect: { allowed: true, quantity: 10, side: 'buy', exit: false, trimmed: false, reserved: 1000 } },
  { name: 'enabled: sell from flat opens a short', signal: { action: 'sell' }, expect: { allowed: true, quantity: 10, side: 'sell', exit: false, reserved: 1000 } },
  { name: 'enabled: buy adding to a long', state: { position: 10 }, expect: { allowed: true, quantity: 10, side: 'buy', exit: false } },
  { name: 'enabled: sell reducing a long is an exit and reserves nothing', signal: { action: 'sell', quantity: 4 }, state: { position: 10 }, expect: { allowed: true, quantity: 4, side: 'sell', exit: true, reserved: 0 } },
  { name: 'enabled: sell through zero flips and is not an exit', signal: { action: 'sell', quantity: 15 }, state: { position: 10 }, expect: { allowed: true, quantity: 15, side: 'sell', exit: false, reserved: 1500 } },
  { name: 'enabled: cancel orders nothing', signal: { action: 'cancel' }, expect: { allowed: true, quantity: null, side: null, exit: true, reserved: 0 } },
  { name: 'paused: buy refused', state: { mode: 'paused' }, expect: { allowed: false, rules: ['mode'], codes: ['paused'], quantity: null, side: null, reserved: 0 } },
  { name: 'paused: sell refused', signal: { action: 'sell' }, state: { mode: 'paused', position: 10 }, expect: { allowed: false, rules: ['mode'], codes: ['paused'] } },
  { name: 'paused: close refused', signal: { action: 'close' }, state: { mode: 'paused', position: 10 }, expect: { allowed: false, rules: ['mode'], codes: ['paused'] } },
  { name: 'paused: target refused', signal: { action: 'target', target_position: 0 }, state: { mode: 'paused', position: 10 }, expect: { allowed: false, rules: ['mode'], codes: ['paused'] } },
  { name: 'paused: cancel allowed', signal: { action: 'cancel' }, state: { mode: 'paused' }, expect: { allowed: true, quantity: null, exit: true } },
  { name: 'exit_only: buy while flat → no position', state: { mode: 'exit_only' }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_no_position'] } },
  { name: 'exit_only: sell while flat → no position', signal: { action: 'sell' }, state: { mode: 'exit_only' }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_no_position'] } },
  { name: 'exit_only: target away from flat → no position', signal: { action: 'target', target_position: 5 }, state: { mode: 'exit_only' }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_no_position'] } },
  { name: 'exit_only: buy while long would increase', state: { mode: 'exit_only', position: 10 }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_increase'] } },
  { name: 'exit_only: sell while short would increase', signal: { action: 'sell' }, state: { mode: 'exit_only', position: -10 }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_increase'] } },
  { name: 'exit_only: partial sell of a long allowed', signal: { action: 'sell', quantity: 5 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: 5, side: 'sell', exit: true, trimmed: false } },
  { name: 'exit_only: sell exactly the long allowed', signal: { action: 'sell', quantity: 10 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true, trimmed: false } },
  { name: 'exit_only: sell past zero trimmed to the long', signal: { action: 'sell', quantity: 15 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true, trimmed: true, reserved: 0 } },
  { name: 'exit_only: sell past zero refused with trim off', signal: { action: 'sell', quantity: 15 }, state: { mode: 'exit_only', position: 10 }, policy: { exit_only_trim: false }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_flip'], trimmed: false } },
  { name: 'exit_only: buy past zero trimmed to the short', signal: { action: 'buy', quantity: 15 }, state: { mode: 'exit_only', position: -10 }, expect: { allowed: true, quantity: 10, side: 'buy', exit: true, trimmed: true } },
  { name: 'exit_only: buy past zero refused with trim off', signal: { action: 'buy', quantity: 15 }, state: { mode: 'exit_only', position: -10 }, policy: { exit_only_trim: false }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_flip'] } },
  { name: 'exit_only: target nearer zero allowed', signal: { action: 'target', target_position: 4 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: 6, side: 'sell', exit: true } },
  { name: 'exit_only: target away from zero would increase', signal: { action: 'target', target_position: 15 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_increase'] } },
  { name: 'exit_only: target across zero trimmed to flat', signal: { action: 'target', target_position: -5 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true, trimmed: true } },
  { name: 'exit_only: target across zero refused with trim off', signal: { action: 'target', target_position: -5 }, state: { mode: 'exit_only', position: 10 }, policy: { exit_only_trim: false }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_flip'] } },
  { name: 'exit_only: target 0 covers a short', signal: { action: 'target', target_position: 0 }, state: { mode: 'exit_only', position: -8 }, expect: { allowed: true, quantity: 8, side: 'buy', exit: true } },
  { name: 'exit_only: target already reached is a no-op', signal: { action: 'target', target_position: 10 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: null, side: null, exit: true } },
  { name: 'exit_only: close allowed', signal: { action: 'close' }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true } },
  { name: 'exit_only: close while flat is a no-op', signal: { action: 'close' }, state: { mode: 'exit_only' }, expect: { allowed: true, quantity: null, side: null, exit: true } },
  { name: 'exit_only: cancel allowed', signal: { action: 'cancel' }, state: { mode: 'exit_only' }, expect: { allowed: true, quantity: null, exit: true } },
  // ── close and target resolution ─────────────────────────────────────────────────────────────
  { name: 'close: full long', signal: { action: 'close', quantity: undefined }, state: { position: 10 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true, reserved: 0 } },
  { name: 'close: partial long', signal: { action: 'close', quantity: 4 }, state: { position: 10 }, expect: { allowed: true, quantity: 4, side: 'sell', exit: true } },
  { name: 'close: partial larger than the position closes it, never flips', signal: { action: 'close', quantity: 25 }, state: { position: 10 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true } },
  { name: 'close: full short buys back', signal: { action: 'close', quantity: undefined }, state: { position: -7 }, expect: { allowed: true, quantity: 7, side: 'buy', exit: true } },
  { name: 'close: flat is an allowed no-op', signal: { action: 'close', quantity: undefined }, expect: { allowed: true, quantity: null, side: null, exit: true, reserved: 0 } },
  { name: 'target: away from zero buys the difference', signal: { action: 'target', target_position: 30 }, state: { position: 10 }, expect: { allowed: true, quantity: 20, side: 'buy', exit: false, reserved: 2000 } },
  { name: 'target: across zero in enabled sells the whole difference', signal: { action: 'target', target_position: -10 }, state: { position: 10 }, expect: { allowed: true, quantity: 20, side: 'sell', exit: false, reserved: 2000 } },
  { name: 'target: from flat to short', signal: { action: 'target', target_position: -5 }, expect: { allowed: true, quantity: 5, side: 'sell', exit: false } },
  // ── instrument_allowed ──────────────────────────────────────────────────────────────────────
  { name: 'instrument_allowed: listed instrument passes', policy: { instruments: ['AAPL', 'MSFT'] }, expect: { allowed: true } },
  { name: 'instrument_allowed: unlisted instrument refused', signal: { instrument: 'TSLA' }, policy: { instruments: ['AAPL', 'MSFT'] }, expect: { allowed: false, rules: ['instrument_allowed'] } },
  { name: 'instrument_allowed: applies to exits too', signal: { instrument: 'TSLA', action: 'close' }, state: { position: 5 }, policy: { instruments: ['AAPL'] }, expect: { allowed: false, rules: ['instrument_allowed'] } },
  // ── stale_signal ────────────────────────────────────────────────────────────────────────────
  { name: 'stale_signal: exactly max age passes', signal: { timestamp: shift(-300) }, expect: { allowed: true } },
  { name: 'stale_signal: one second over max age refused', signal: { timestamp: shift(-301) }, expect: { allowed: false, rules: ['stale_signal'], codes: [] } },
  { name: 'stale_signal: future by exactly max age passes', signal: { timestamp: shift(300) }, expect: { allowed: true } },
  { name: 'stale_signal: future beyond max age refused', signal: { timestamp: shift(301) }, expect: { allowed: false, rules: ['stale_signal'], codes: ['future_timestamp'] } },
  { name: 'stale_signal: null max age accepts a day-old signal', signal: { timestamp: shift(-86_400) }, policy: { max_signal_age_seconds: null }, expect: { allowed: true } },
  { name: 'stale_signal: no timestamp is not checked', signal: { timestamp: undefined }, expect: { allowed: true } },
  { name: 'stale_signal: a stale exit is refused too', signal: { action: 'close', timestamp: shift(-900) }, state: { position: 10 }, expect: { allowed: false, rules: ['stale_signal'] } },
  { name: 'stale_signal: offset timestamps are compared as instants', signal: { timestamp: '2026-11-23T09:56:00-05:00' }, expect: { allowed: true } },
  // ── trading_window ──────────────────────────────────────────────────────────────────────────
  { name: 'trading_window: inside the session', policy: { trading_windows: NY_HOURS }, expect: { allowed: true } },
  { name: 'trading_window: opening minute is inside', now: at('2026-11-23T14:30:00Z'), policy: { trading_windows: NY_HOURS }, expect: { allowed: true } },
  { name: 'trading_window: one second before the open is outside', now: at('2026-11-23T14:29:59Z'), policy: { trading_windows: NY_HOURS }, expect: { allowed: false, rules: ['trading_window'] } },
  { name: 'trading_window: the closing minute is outside', now: at('2026-11-23T21:00:00Z'), policy: { trading_windows: NY_HOURS }, expect: { allowed: false, rules: ['trading_window'] } },
  { name: 'trading_window: Saturday is outside', now: at('2026-11-28T15:00:00Z'), policy: { trading_windows: NY_HOURS }, expect: { allowed: false, rules: ['trading_window'] } },
  { name: 'trading_window: a close after hours passes', now: at('2026-11-28T15:00:00Z'), signal: { action: 'close' }, state: { position: 10 }, policy: { trading_windows: NY_HOURS }, expect: { allowed: true, exit: true } },
  { name: 'trading_window: a reducing sell after hours passes', now: at('2026-11-23T23:00:00Z'), signal: { action: 'sell', quantity: 3 }, state: { position: 10 }, policy: { trading_windows: NY_HOURS }, expect: { allowed: true, exit: true } },
  { name: 'trading_window: a flip after hours is refused', now: at('2026-11-23T23:00:00Z'), signal: { action: 'sell', quantity: 30 }, state: { position: 10 }, policy: { trading_windows: NY_HOURS }, expect: { allowed: false, rules: ['trading_window'] } },
  { name: 'trading_window: Friday night window open early Saturday', now: at('2026-11-28T01:00:00Z'), policy: { trading_windows: OVERNIGHT }, expect: { allowed: true } },
  { name: 'trading_window: Friday night window closed early Friday', now: at('2026-11-27T01:00:00Z'), policy: { trading_windows: OVERNIGHT }, expect: { allowed: false, rules: ['trading_window'] } },
  // ── order_rate ──────────────────────────────────────────────────────────────────────────────
  { name: 'order_rate: one below the limit passes', state: { orders_last_minute: 29 }, expect: { allowed: true } },
  { name: 'order_rate: at the limit refused', state: { orders_last_minute: 30 }, expect: { allowed: false, rules: ['order_rate'] } },
  { name: 'order_rate: an exit at the limit passes', signal: { action: 'close' }, state: { orders_last_minute: 30, position: 10 }, expect: { allowed: true } },
  { name: 'order_rate: a cancel at the limit passes', signal: { action: 'cancel' }, state: { orders_last_minute: 30 }, expect: { allowed: true } },
  { name: 'order_rate: null limit never refuses', state: { orders_last_minute: 10_000 }, policy: { max_orders_per_minute: null }, expect: { allowed: true } },
  // ── max_order_quantity ──────────────────────────────────────────────────────────────────────
  { name: 'max_order_quantity: null default never refuses', signal: { quantity: 1e9, price: 1e-6 }, policy: NO_LIMITS, expect: { allowed: true } },
  { name: 'max_order_quantity: exactly the limit passes', signal: { quantity: 100 }, policy: { max_order_quantity: { default: 100 } }, expect: { allowed: true } },
  { name: 'max_order_quantity: over the default refused whatever the price', signal: { quantity: 1_000_000, price: 1e-6 }, policy: { ...NO_LIMITS, max_order_quantity: { default: 1000 } }, expect: { allowed: false, rules: ['max_order_quantity'] } },
  { name: 'max_order_quantity: per-instrument limit overrides default', signal: { quantity: 500 }, policy: { ...NO_LIMITS, max_order_quantity: { default: 100, aapl: 1000 } }, expect: { allowed: true } },
  { name: 'max_order_quantity: per-instrument null means no limit', signal: { quantity: 500 }, policy: { ...NO_LIMITS, max_order_quantity: { default: 100, AAPL: null } }, expect: { allowed: true } },
  { name: 'max_order_quantity: other instruments get the default', signal: { instrument: 'MSFT', quantity: 500 }, policy: { ...NO_LIMITS, max_order_quantity: { default: 100, AAPL: 1000 } }, expect: { allowed: false, rules: ['max_order_quantity'] } },
  { name: 'max_order_quantity: a notional order is judged by the quantity it sizes to', signal: { notional: 5000, price: 10 }, policy: { max_order_quantity: { default: 100 } }, expect: { allowed: false, rules: ['max_order_quantity'] } },
  { name: 'max_order_quantity: an exit over the limit passes', signal: { action: 'sell', quantity: 500 }, state: { position: 500 }, policy: { max_order_quantity: { default: 100 } }, expect: { allowed: true, exit: true } },
  { name: 'max_order_quantity: a flip counts its whole quantity', signal: { action: 'sell', quantity: 150 }, state: { position: 100 }, policy: { ...NO_LIMITS, max_order_quantity: { default: 100 } }, expect: { allowed: false, rules: ['max_order_quantity'] } },
  { name: 'max_order_quantity: a target judged by the difference it orders', signal: { action: 'target', target_position: 150 }, state: { position: 100 }, policy: { max_order_quantity: { default: 100 } }, expect: { allowed: true, quantity: 50 } },
  // ── max_order_notional and pricing ──────────────────────────────────────────────────────────
  { name: 'max_order_notional: exactly the limit passes', signal: { quantity: 100 }, expect: { allowed: true, reserved: 10_000 } },
  { name: 'max_order_notional: a cent over refused', signal: { quantity: 100, price: 100.0001 }, expect: { allowed: false, rules: ['max_order_notional'] } },
  { name: 'max_order_notional: float noise at the limit passes', signal: { quantity: 3, price: 0.1 }, policy: { max_order_notional: 0.3 }, expect: { allowed: true } },
  { name: 'max_order_notional: an exit over every limit passes', signal: { action: 'sell', quantity: 500 }, state: { position: 500, gross_exposure: 500_000 }, expect: { allowed: true, exit: true, reserved: 0 } },
  { name: 'max_order_notional: last price used when the signal has none', signal: { price: undefined, quantity: 101 }, state: { last_price: 100 }, expect: { allowed: false, rules: ['max_order_notional'] } },
  { name: 'max_order_notional: limit price preferred to last price', signal: { price: undefined, order_type: 'limit', limit_price: 200, quantity: 60 }, state: { last_price: 100 }, expect: { allowed: false, rules: ['max_order_notional'] } },
  { name: 'max_order_notional: stop price used for a stop order', signal: { price: undefined, order_type: 'stop', stop_price: 50, quantity: 200 }, expect: { allowed: true, reserved: 10_000 } },
  { name: 'price unknown: every set limit refuses with price_unknown', signal: { price: undefined }, expect: { allowed: false, rules: ['max_order_notional', 'max_position_notional', 'max_gross_exposure'], codes: ['price_unknown', 'price_unknown', 'price_unknown'] } },
  { name: 'price unknown: passes when no notional limit is set', signal: { price: undefined }, policy: NO_LIMITS, expect: { allowed: true, quantity: 10, reserved: 0 } },
  { name: 'price unknown: an exit needs no price', signal: { price: undefined, action: 'close' }, state: { position: 10 }, expect: { allowed: true, quantity: 10 } },
  // ── notional → quantity ─────────────────────────────────────────────────────────────────────
  { name: 'notional: sized at the reference price', signal: { notional: 5000 }, expect: { allowed: true, quantity: 50, side: 'buy', reserved: 5000 } },
  { name: 'notional: floored for a whole-unit connector', signal: { notional: 1050 }, caps: { fractional: false }, expect: { allowed: true, quantity: 10, reserved: 1000 } },
  { name: 'notional: fractional connector gets the exact quantity', signal: { notional: 1050 }, expect: { allowed: true, quantity: 10.5, reserved: 1050 } },
  { name: 'notional: float quotient 0.3 / 0.1 is 3, not 2', signal: { notional: 0.3, price: 0.1 }, caps: { fractional: false }, expect: { allowed: true, quantity: 3 } },
  { name: 'notional: below one whole unit is quantity_zero', signal: { notional: 50 }, caps: { fractional: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['quantity_zero'], quantity: null } },
  { name: 'notional: without any price cannot be sized', signal: { notional: 5000, price: undefined }, policy: NO_LIMITS, expect: { allowed: false, rules: ['max_order_notional'], codes: ['price_unknown'] } },
  { name: 'notional: sell sized against a long is an exit', signal: { action: 'sell', notional: 500 }, state: { mode: 'exit_only', position: 10 }, expect: { allowed: true, quantity: 5, side: 'sell', exit: true } },
  { name: 'notional: over the order limit once sized', signal: { notional: 12_000 }, expect: { allowed: false, rules: ['max_order_notional'] } },
  // ── max_position_notional ───────────────────────────────────────────────────────────────────
  { name: 'max_position_notional: resulting exactly at the limit passes', signal: { quantity: 100 }, state: { position: 150 }, expect: { allowed: true } },
  { name: 'max_position_notional: one unit over refused', signal: { quantity: 100 }, state: { position: 151 }, expect: { allowed: false, rules: ['max_position_notional'] } },
  { name: 'max_position_notional: reserved orders in the instrument count', signal: { quantity: 100 }, state: { position: 150, reserved_instrument: 1 }, expect: { allowed: false, rules: ['max_position_notional'] } },
  { name: 'max_position_notional: per-instrument limit overrides default', signal: { quantity: 100 }, state: { position: 400 }, policy: { max_position_notional: { default: 25_000, AAPL: 50_000 } }, expect: { allowed: true } },
  { name: 'max_position_notional: other instruments use the default', signal: { instrument: 'MSFT', quantity: 100 }, state: { position: 400 }, policy: { max_position_notional: { default: 25_000, AAPL: 50_000 } }, expect: { allowed: false, rules: ['max_position_notional'] } },
  { name: 'max_position_notional: an instrument set to null has no limit', signal: { quantity: 100 }, state: { position: 10_000 }, policy: { max_position_notional: { default: 25_000, AAPL: null } }, expect: { allowed: true } },
  { name: 'max_position_notional: a flip is judged by the side it lands on', signal: { action: 'sell', quantity: 300 }, state: { position: 100 }, policy: { max_order_notional: null }, expect: { allowed: true, exit: false, quantity: 300, reserved: 30_000 } },
  { name: 'max_position_notional: a flip landing over the limit refused', signal: { action: 'sell', quantity: 400 }, state: { position: 100 }, policy: { max_order_notional: null }, expect: { allowed: false, rules: ['max_position_notional'] } },
  // ── max_gross_exposure ──────────────────────────────────────────────────────────────────────
  { name: 'max_gross_exposure: exactly the limit passes', state: { gross_exposure: 99_000 }, expect: { allowed: true } },
  { name: 'max_gross_exposure: reserved exposure tips it over', state: { gross_exposure: 99_000, reserved_exposure: 1 }, expect: { allowed: false, rules: ['max_gross_exposure'] } },
  { name: 'max_gross_exposure: an exit at the limit passes', signal: { action: 'sell' }, state: { position: 10, gross_exposure: 200_000 }, expect: { allowed: true, exit: true } },
  // ── daily_loss ──────────────────────────────────────────────────────────────────────────────
  { name: 'daily_loss: just under the limit passes', state: { realized_pnl_today: -1999.99 }, expect: { allowed: true } },
  { name: 'daily_loss: at the limit refuses risk', state: { realized_pnl_today: -2000 }, expect: { allowed: false, rules: ['daily_loss'] } },
  { name: 'daily_loss: over the limit still lets a close out', signal: { action: 'close' }, state: { realized_pnl_today: -5000, position: 10 }, expect: { allowed: true } },
  { name: 'daily_loss: null limit never refuses', state: { realized_pnl_today: -1e6 }, policy: { max_daily_loss: null }, expect: { allowed: true } },
  // ── breaker_open ────────────────────────────────────────────────────────────────────────────
  { name: 'breaker_open: open refuses a buy', state: { breaker: 'open' }, expect: { allowed: false, rules: ['breaker_open'] } },
  { name: 'breaker_open: half_open lets the probe through', state: { breaker: 'half_open' }, expect: { allowed: true } },
  { name: 'breaker_open: open still tries a close', signal: { action: 'close' }, state: { breaker: 'open', position: 10 }, expect: { allowed: true } },
  { name: 'breaker_open: open still tries a cancel', signal: { action: 'cancel' }, state: { breaker: 'open' }, expect: { allowed: true } },
  // ── connector_capability ────────────────────────────────────────────────────────────────────
  { name: 'capability: unsupported order type', signal: { order_type: 'stop_limit', stop_price: 99, limit_price: 100 }, caps: { order_types: ['market', 'limit'] }, expect: { allowed: false, rules: ['connector_capability'], codes: ['order_type'] } },
  { name: 'capability: unsupported order type on an exit', signal: { action: 'close', order_type: 'limit', limit_price: 100 }, state: { position: 10 }, caps: { order_types: ['market'] }, expect: { allowed: false, rules: ['connector_capability'], codes: ['order_type'] } },
  { name: 'capability: bracket legs without bracket support', signal: { take_profit: { limit_price: 110 }, stop_loss: { stop_price: 95 } }, caps: { brackets: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['brackets'] } },
  { name: 'capability: bracket legs on an exit still refused', signal: { action: 'close', stop_loss: { stop_price: 95 } }, state: { position: 10 }, caps: { brackets: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['brackets'] } },
  { name: 'capability: fractional quantity on a whole-unit connector', signal: { quantity: 2.5 }, caps: { fractional: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['fractional'] } },
  { name: 'capability: fractional partial close on a whole-unit connector', signal: { action: 'close', quantity: 2.5 }, state: { position: 10 }, caps: { fractional: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['fractional'] } },
  { name: 'capability: selling from flat needs short support', signal: { action: 'sell' }, caps: { short: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['short'] } },
  { name: 'capability: selling down a long needs no short support', signal: { action: 'sell', quantity: 5 }, state: { position: 10 }, caps: { short: false }, expect: { allowed: true } },
  { name: 'capability: flipping long to short needs short support', signal: { action: 'sell', quantity: 15 }, state: { position: 10 }, caps: { short: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['short'] } },
  { name: 'capability: covering a short needs no short support', signal: { action: 'buy', quantity: 5 }, state: { position: -10 }, caps: { short: false }, expect: { allowed: true } },
  { name: 'capability: cancel ignores order type and brackets', signal: { action: 'cancel', order_type: 'stop', take_profit: { limit_price: 1 } }, caps: { order_types: ['market'], brackets: false }, expect: { allowed: true } },
  { name: 'capability: a trimmed flip lands flat and needs no short support', signal: { action: 'sell', quantity: 15 }, state: { mode: 'exit_only', position: 10 }, caps: { short: false }, expect: { allowed: true, quantity: 10, trimmed: true } },
  // ── orders in flight (pending_quantity: several instances deciding one instrument) ─────────
  { name: 'pending: a sell while a sell of the whole long is in flight is not an exit', signal: { action: 'sell', quantity: 10 }, state: { position: 10, pending_quantity: -10 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: false, reserved: 1000 } },
  { name: 'pending exit_only: a second sell of the whole long finds no position', signal: { action: 'sell', quantity: 10 }, state: { mode: 'exit_only', position: 10, pending_quantity: -10 }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_no_position'] } },
  { name: 'pending exit_only: a sell is trimmed to what is left once the sells in flight settle', signal: { action: 'sell', quantity: 10 }, state: { mode: 'exit_only', position: 10, pending_quantity: -4 }, expect: { allowed: true, quantity: 6, side: 'sell', exit: true, trimmed: true, reserved: 0 } },
  { name: 'pending exit_only: with a buy in flight a sell is trimmed to the settled long', signal: { action: 'sell', quantity: 15 }, state: { mode: 'exit_only', position: 10, pending_quantity: 5 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true, trimmed: true } },
  { name: 'pending exit_only: a flip is refused with trim off, naming both positions', signal: { action: 'sell', quantity: 10 }, state: { mode: 'exit_only', position: 10, pending_quantity: -4 }, policy: { exit_only_trim: false }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_flip'] } },
  { name: 'pending exit_only: orders in flight that may cross zero leave nothing to exit', signal: { action: 'buy', quantity: 3 }, state: { mode: 'exit_only', position: 10, pending_quantity: -15 }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_no_position'] } },
  { name: 'pending exit_only: a buy is measured from the effective position', signal: { action: 'buy', quantity: 5 }, state: { mode: 'exit_only', position: 10, pending_quantity: 5 }, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_would_increase'] } },
  { name: 'pending: a sell within the long left after the sells in flight is an exit and skips the limits', signal: { action: 'sell', quantity: 4 }, state: { position: 10, pending_quantity: -4, gross_exposure: 200_000 }, expect: { allowed: true, quantity: 4, side: 'sell', exit: true, reserved: 0 } },
  { name: 'pending: a buy past the short left after a buy-back in flight adds risk', signal: { action: 'buy', quantity: 10 }, state: { position: -10, pending_quantity: 10 }, expect: { allowed: true, quantity: 10, side: 'buy', exit: false, reserved: 1000 } },
  { name: 'pending: close while a full close is in flight orders nothing', signal: { action: 'close' }, state: { position: 10, pending_quantity: -10 }, expect: { allowed: true, quantity: null, side: null, exit: true, reserved: 0 } },
  { name: 'pending: close takes what is left once the sells in flight settle', signal: { action: 'close' }, state: { position: 10, pending_quantity: -4 }, expect: { allowed: true, quantity: 6, side: 'sell', exit: true } },
  { name: 'pending: close with a buy in flight closes the settled position only', signal: { action: 'close' }, state: { mode: 'exit_only', position: 10, pending_quantity: 5 }, expect: { allowed: true, quantity: 10, side: 'sell', exit: true } },
  { name: 'pending: partial close is capped by the position surely held', signal: { action: 'close', quantity: 8 }, state: { position: -10, pending_quantity: 4 }, expect: { allowed: true, quantity: 6, side: 'buy', exit: true } },
  { name: 'pending: target is relative to the effective position', signal: { action: 'target', target_position: 4 }, state: { mode: 'exit_only', position: 10, pending_quantity: -4 }, expect: { allowed: true, quantity: 2, side: 'sell', exit: true } },
  { name: 'pending: a target repeated while its order is in flight orders nothing', signal: { action: 'target', target_position: 30 }, state: { position: 10, pending_quantity: 20 }, expect: { allowed: true, quantity: null, side: null, exit: true, reserved: 0 } },
  { name: 'pending: target away from zero buys the difference to the effective position', signal: { action: 'target', target_position: 30 }, state: { position: 10, pending_quantity: 5 }, expect: { allowed: true, quantity: 15, side: 'buy', exit: false, reserved: 1500 } },
  { name: 'pending exit_only: target across zero trimmed to the position surely held', signal: { action: 'target', target_position: -5 }, state: { mode: 'exit_only', position: 10, pending_quantity: -4 }, expect: { allowed: true, quantity: 6, side: 'sell', exit: true, trimmed: true } },
  { name: 'pending: position limit counts the buys in flight once, not twice', signal: { quantity: 50 }, state: { position: 100, pending_quantity: 100, reserved_instrument: 10_000 }, expect: { allowed: true, quantity: 50, reserved: 5000 } },
  { name: 'pending: position limit refuses one unit past it with buys in flight', signal: { quantity: 51 }, state: { position: 100, pending_quantity: 100, reserved_instrument: 10_000 }, expect: { allowed: false, rules: ['max_position_notional'] } },
  { name: 'pending: a buy-back in flight counts toward the position limit of a later buy', signal: { quantity: 300 }, state: { position: -100, pending_quantity: 100 }, policy: { max_order_notional: null }, expect: { allowed: false, rules: ['max_position_notional'] } },
  { name: 'pending: short capability counts the sells in flight', signal: { action: 'sell', quantity: 5 }, state: { position: 10, pending_quantity: -10 }, caps: { short: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['short'] } },
  { name: 'pending: selling down a long surely held needs no short support', signal: { action: 'sell', quantity: 5 }, state: { position: 10, pending_quantity: -5 }, caps: { short: false }, expect: { allowed: true, exit: true } },
  // ── forwarded to a fire-and-forget connector (order_updates: none): close and target as actions ──
  { name: 'forwarded enabled: close goes as the action, no side, no quantity', signal: { action: 'close', quantity: undefined }, caps: HTTP_CAPS, expect: { allowed: true, quantity: null, side: null, exit: true, reserved: 0, forwarded: true } },
  { name: 'forwarded enabled: partial close goes as the action', signal: { action: 'close', quantity: 4 }, caps: HTTP_CAPS, expect: { allowed: true, quantity: null, side: null, exit: true, forwarded: true } },
  { name: 'forwarded enabled: close is not resolved against the ledger', signal: { action: 'close', quantity: undefined }, state: { position: 10 }, caps: HTTP_CAPS, expect: { allowed: true, quantity: null, side: null, exit: true, forwarded: true } },
  { name: 'forwarded enabled: target 5 goes as the action and is not an exit', signal: { action: 'target', target_position: 5 }, caps: HTTP_CAPS, expect: { allowed: true, quantity: null, side: null, exit: false, reserved: 0, forwarded: true } },
  { name: 'forwarded enabled: target 0 is an exit', signal: { action: 'target', target_position: 0 }, caps: HTTP_CAPS, expect: { allowed: true, side: null, exit: true, forwarded: true } },
  { name: 'forwarded enabled: buy is resolved and limited as today', signal: { quantity: 10 }, caps: HTTP_CAPS, expect: { allowed: true, quantity: 10, side: 'buy', exit: false, reserved: 1000, forwarded: false } },
  { name: 'forwarded enabled: sell over max_order_notional refused as today', signal: { action: 'sell', quantity: 150 }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['max_order_notional'], forwarded: false } },
  { name: 'forwarded enabled: cancel is not a forwarded order', signal: { action: 'cancel' }, caps: HTTP_CAPS, expect: { allowed: true, quantity: null, side: null, exit: true, forwarded: false } },
  { name: 'forwarded paused: close refused', signal: { action: 'close' }, state: { mode: 'paused' }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['mode'], codes: ['paused'], forwarded: true } },
  { name: 'forwarded paused: target 0 refused', signal: { action: 'target', target_position: 0 }, state: { mode: 'paused' }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['mode'], codes: ['paused'], forwarded: true } },
  { name: 'forwarded paused: cancel allowed', signal: { action: 'cancel' }, state: { mode: 'paused' }, caps: HTTP_CAPS, expect: { allowed: true } },
  { name: 'forwarded exit_only: close allowed', signal: { action: 'close' }, state: { mode: 'exit_only' }, caps: HTTP_CAPS, expect: { allowed: true, exit: true, trimmed: false, forwarded: true } },
  { name: 'forwarded exit_only: target 0 allowed', signal: { action: 'target', target_position: 0 }, state: { mode: 'exit_only' }, caps: HTTP_CAPS, expect: { allowed: true, exit: true, forwarded: true } },
  { name: 'forwarded exit_only: target 5 refused, the position is unknown', signal: { action: 'target', target_position: 5 }, state: { mode: 'exit_only' }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_position_unknown'], exit: false, trimmed: false, forwarded: true } },
  { name: 'forwarded exit_only: target -5 refused, never trimmed', signal: { action: 'target', target_position: -5 }, state: { mode: 'exit_only' }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_position_unknown'], trimmed: false } },
  { name: 'forwarded exit_only: buy refused as today', state: { mode: 'exit_only' }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['mode'], codes: ['exit_only_no_position'], forwarded: false } },
  { name: 'forwarded breaker open: close still tried', signal: { action: 'close' }, state: { breaker: 'open' }, caps: HTTP_CAPS, expect: { allowed: true, forwarded: true } },
  { name: 'forwarded breaker open: target 0 still tried', signal: { action: 'target', target_position: 0 }, state: { breaker: 'open' }, caps: HTTP_CAPS, expect: { allowed: true, forwarded: true } },
  { name: 'forwarded breaker open: target 5 refused', signal: { action: 'target', target_position: 5 }, state: { breaker: 'open' }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['breaker_open'], forwarded: true } },
  { name: 'forwarded breaker half_open: target 5 passes (as the probe)', signal: { action: 'target', target_position: 5 }, state: { breaker: 'half_open' }, caps: HTTP_CAPS, expect: { allowed: true, forwarded: true } },
  { name: 'forwarded instrument_allowed: close of an unlisted instrument refused', signal: { action: 'close', instrument: 'TSLA' }, policy: { instruments: ['AAPL'] }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['instrument_allowed'], forwarded: true } },
  { name: 'forwarded stale_signal: a stale close refused', signal: { action: 'close', timestamp: shift(-900) }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['stale_signal'], forwarded: true } },
  { name: 'forwarded trading_window: close after hours passes', now: at('2026-11-28T15:00:00Z'), signal: { action: 'close' }, policy: { trading_windows: NY_HOURS }, caps: HTTP_CAPS, expect: { allowed: true } },
  { name: 'forwarded trading_window: target 5 after hours refused', now: at('2026-11-28T15:00:00Z'), signal: { action: 'target', target_position: 5 }, policy: { trading_windows: NY_HOURS }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['trading_window'] } },
  { name: 'forwarded order_rate and daily_loss: close passes', signal: { action: 'close' }, state: { orders_last_minute: 30, realized_pnl_today: -5000 }, caps: HTTP_CAPS, expect: { allowed: true } },
  { name: 'forwarded order_rate and daily_loss: target 5 refused', signal: { action: 'target', target_position: 5 }, state: { orders_last_minute: 30, realized_pnl_today: -5000 }, caps: HTTP_CAPS, expect: { allowed: false, rules: ['order_rate', 'daily_loss'] } },
  { name: 'forwarded limits: a target past every size limit passes, no price needed', signal: { action: 'target', target_position: 1e6, price: undefined }, state: { gross_exposure: 1e9 }, policy: { max_order_quantity: { default: 10 } }, caps: HTTP_CAPS, expect: { allowed: true, reserved: 0, forwarded: true } },
  { name: 'forwarded capability: order type the connector lacks', signal: { action: 'close', order_type: 'limit', limit_price: 100 }, caps: { ...HTTP_CAPS, order_types: ['market'] }, expect: { allowed: false, rules: ['connector_capability'], codes: ['order_type'] } },
  { name: 'forwarded capability: bracket legs without brackets', signal: { action: 'target', target_position: 5, stop_loss: { stop_price: 95 } }, caps: { ...HTTP_CAPS, brackets: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['brackets'] } },
  { name: 'forwarded capability: fractional partial close on a whole-unit connector', signal: { action: 'close', quantity: 2.5 }, caps: { ...HTTP_CAPS, fractional: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['fractional'] } },
  { name: 'forwarded capability: fractional target on a whole-unit connector', signal: { action: 'target', target_position: -2.5 }, caps: { ...HTTP_CAPS, fractional: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['fractional'] } },
  { name: 'forwarded capability: a short target without short support', signal: { action: 'target', target_position: -5 }, caps: { ...HTTP_CAPS, short: false }, expect: { allowed: false, rules: ['connector_capability'], codes: ['short'] } },
  { name: 'forwarded capability: a close needs no short support', signal: { action: 'close' }, caps: { ...HTTP_CAPS, short: false, fractional: false }, expect: { allowed: true } },
  { name: 'forwarded: all failures listed in rule order', signal: { action: 'target', target_position: 5, instrument: 'TSLA', order_type: 'stop', stop_price: 90 }, state: { mode: 'exit_only', breaker: 'open' }, policy: { instruments: ['AAPL'] }, caps: { ...HTTP_CAPS, order_types: ['market'] }, expect: { allowed: false, rules: ['mode', 'instrument_allowed', 'breaker_open', 'connector_capability'], codes: ['exit_only_position_unknown', 'order_type'] } },
  // ── several failures at once ────────────────────────────────────────────────────────────────
  { name: 'all failures listed: paused, stale, notional, breaker, order type', signal: { quantity: 300, order_type: 'stop', stop_price: 100, timestamp: shift(-600) }, state: { mode: 'paused', breaker: 'open' }, caps: { order_types: ['market'] }, expect: { allowed: false, rules: ['mode', 'stale_signal', 'max_order_notional', 'max_position_notional', 'breaker_open', 'connector_capability'], codes: ['paused', 'order_type'] } },
  { name: 'all failures listed: allowlist, window, rate, gross, daily loss', signal: { instrument: 'TSLA' }, now: at('2026-11-28T15:00:00Z'), state: { orders_last_minute: 30, gross_exposure: 100_000, realized_pnl_today: -2500 }, policy: { instruments: ['AAPL'], trading_windows: NY_HOURS }, expect: { allowed: false, rules: ['instrument_allowed', 'trading_window', 'order_rate', 'max_gross_exposure', 'daily_loss'] } },
  { name: 'all failures listed: exit_only increase plus capability', signal: { quantity: 2.5 }, state: { mode: 'exit_only', position: 10 }, caps: { fractional: false }, expect: { allowed: false, rules: ['mode', 'connector_capability'], codes: ['exit_only_would_increase', 'fractional'] } },
];

describe('decide', () => {
  test('the table has at least 60 cases with unique names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  for (const c of cases) {
    test(c.name, () => {
      const now = c.now === undefined ? NOW : new Date(c.now);
      const d = decide(buildSignal(c.signal ?? {}, now), buildState(c.state ?? {}, c.caps ?? {}), buildPolicy(c.policy ?? {}), now);
      const e = c.expect;
      expect(d.allowed, JSON.stringify(d.failures)).toBe(e.allowed);
      expect(d.failures.map((f) => f.rule)).toEqual(e.rules ?? []);
      if (e.codes !== undefined) expect(d.failures.flatMap((f) => (f.code === undefined ? [] : [f.code]))).toEqual(e.codes);
      if (e.quantity !== undefined) expect(d.quantity).toBe(e.quantity);
      if (e.side !== undefined) expect(d.side).toBe(e.side);
      if (e.exit !== undefined) expect(d.exit).toBe(e.exit);
      if (e.trimmed !== undefined) expect(d.trimmed).toBe(e.trimmed);
      if (e.reserved !== undefined) expect(d.reserved_notional).toBeCloseTo(e.reserved, 6);
      if (e.forwarded !== undefined) expect(d.forwarded === true).toBe(e.forwarded);
      // Whatever the case: a refusal orders and reserves nothing, and every failure explains itself.
      if (!d.allowed) expect([d.quantity, d.side, d.reserved_notional]).toEqual([null, null, 0]);
      for (const f of d.failures) expect(f.message.length).toBeGreaterThan(10);
    });
  }
});

describe('decide: failure details', () => {
  const run = (s: Partial<Signal>, st: Partial<GateState> = {}, p: Partial<PolicyConfig> = {}) =>
    decide(buildSignal(s, NOW), buildState(st, {}), buildPolicy(p), NOW).failures;

  test('limit and actual carry the numbers the message states', () => {
    expect(run({ quantity: 150 })).toContainEqual({
      rule: 'max_order_notional',
      limit: 10_000,
      actual: 15_000,
      message: 'order notional 15,000 (150 AAPL × 100) exceeds max_order_notional 10,000',
    });
    expect(run({}, { gross_exposure: 99_500 })[0]).toMatchObject({ rule: 'max_gross_exposure', limit: 100_000, actual: 100_500 });
    expect(run({}, { realized_pnl_today: -2100 })[0]).toMatchObject({ rule: 'daily_loss', limit: 2000, actual: 2100 });
    expect(run({ timestamp: shift(-400) })[0]).toMatchObject({ rule: 'stale_signal', limit: 300, actual: 400 });
    expect(run({}, { orders_last_minute: 31 })[0]).toMatchObject({ rule: 'order_rate', limit: 30, actual: 31 });
  });

  test('mode failures name the position and what was asked', () => {
    const [f] = run({ quantity: 5 }, { mode: 'exit_only', position: 10 });
    expect(f).toMatchObject({ rule: 'mode', code: 'exit_only_would_increase', limit: 10, actual: 15 });
    expect(f?.message).toBe('exit_only: buy 5 AAPL would take |position| from 10 to 15');
  });

  test('with orders in flight, failures name both positions', () => {
    expect(run({ action: 'sell', quantity: 10 }, { mode: 'exit_only', position: 10, pending_quantity: -10 })[0]?.message).toBe(
      'exit_only: no AAPL position is surely held (position 10 (0 once the orders in flight settle)), so the sell of 10 is refused',
    );
    expect(run({ action: 'sell', quantity: 10 }, { mode: 'exit_only', position: 10, pending_quantity: -4 }, { exit_only_trim: false })[0]).toMatchObject({
      code: 'exit_only_would_flip',
      limit: 6,
      actual: 10,
      message: 'exit_only: sell 10 AAPL would flip the position of 10 (6 once the orders in flight settle); at most 6 may be ordered (exit_only_trim is off)',
    });
    expect(run({ quantity: 5 }, { mode: 'exit_only', position: 10, pending_quantity: 5 })[0]).toMatchObject({
      code: 'exit_only_would_increase',
      limit: 15,
      actual: 20,
      message: 'exit_only: buy 5 AAPL would take |position| from 15 to 20 once the orders in flight settle',
    });
    expect(run({ quantity: 300 }, { position: -100, pending_quantity: 100 }, { max_order_notional: null })[0]).toMatchObject({
      rule: 'max_position_notional',
      limit: 25_000,
      actual: 30_000,
      message: 'AAPL position would be 300 once this order and every order in flight fill, worth 30,000 at 100, over the limit of 25,000',
    });
    expect(run({ quantity: 51 }, { position: 100, pending_quantity: 100, reserved_instrument: 10_000 })[0]).toMatchObject({ rule: 'max_position_notional', actual: 25_100 });
  });

  test('an unreadable timestamp fails closed', () => {
    expect(run({ timestamp: 'yesterday' })[0]).toMatchObject({ rule: 'stale_signal', code: 'invalid_timestamp' });
  });

  test('decide does not mutate its inputs', () => {
    const signal = buildSignal({ action: 'sell', quantity: 15 }, NOW);
    const state = buildState({ mode: 'exit_only', position: 10 }, {});
    const policy = buildPolicy({});
    const before = JSON.stringify([signal, state, policy]);
    decide(signal, state, policy, NOW);
    expect(JSON.stringify([signal, state, policy])).toBe(before);
  });
});

describe('decide: forwarded actions', () => {
  const forwarded = (s: Partial<Signal>, st: Partial<GateState> = {}) => decide(buildSignal(s, NOW), buildState(st, HTTP_CAPS), buildPolicy({}), NOW);

  test('exit_only refuses a target it cannot judge, naming the target', () => {
    expect(forwarded({ action: 'target', target_position: 5 }, { mode: 'exit_only' }).failures).toEqual([
      {
        rule: 'mode',
        code: 'exit_only_position_unknown',
        limit: 0,
        actual: 5,
        message: 'exit_only: the connector reports no positions, so sluice cannot tell whether target 5 AAPL reduces one; only close and target 0 are forwarded',
      },
    ]);
  });

  test('a half-open breaker lets a forwarded target ≠ 0 through as the probe, a forwarded close not', () => {
    const openedAt = new Date(NOW.getTime() - 120_000).toISOString();
    const open = { state: 'open' as const, consecutive_failures: 5, opened_at: openedAt };
    const stored = buildState({}, HTTP_CAPS);
    const caps = stored.capabilities;
    const run = (s: Partial<Signal>) => decideWithBreaker(buildSignal(s, NOW), stored, open, caps, buildPolicy({}), { half_open_after_seconds: 60 }, NOW, { signalId: 'sig_probe' });
    const target = run({ action: 'target', target_position: 5 });
    expect(target.decision).toMatchObject({ allowed: true, forwarded: true, exit: false });
    expect(target.breaker?.next).toMatchObject({ state: 'half_open', probe_signal_id: 'sig_probe' });
    const close = run({ action: 'close' });
    expect(close.decision).toMatchObject({ allowed: true, forwarded: true, exit: true });
    expect(close.breaker).toBeNull();
  });
});

describe('decide helpers', () => {
  test('sizeNotional floors only for whole-unit connectors', () => {
    expect(sizeNotional(1050, 100, true)).toBe(10.5);
    expect(sizeNotional(1050, 100, false)).toBe(10);
    expect(sizeNotional(0.3, 0.1, false)).toBe(3);
  });

  test('positionLimit matches instruments case-insensitively and keeps an explicit null', () => {
    const policy = buildPolicy({ max_position_notional: { default: 1, aapl: 5, MSFT: null } });
    expect(positionLimit(policy, 'AAPL')).toBe(5);
    expect(positionLimit(policy, 'MSFT')).toBeNull();
    expect(positionLimit(policy, 'TSLA')).toBe(1);
  });

  test('resolveIntent judges against the settled and the effective position', () => {
    const sell = buildSignal({ action: 'sell', quantity: 10 }, NOW);
    expect(resolveIntent(sell, 10, 100)).toEqual({ side: 'sell', quantity: 10, exit: true, flip: false });
    expect(resolveIntent(sell, 10, 100, true, -10)).toEqual({ side: 'sell', quantity: 10, exit: false, flip: false });
    expect(resolveIntent(sell, 10, 100, true, -4)).toEqual({ side: 'sell', quantity: 10, exit: false, flip: true });
    expect(resolveIntent(sell, 10, 100, true, 20)).toEqual({ side: 'sell', quantity: 10, exit: true, flip: false });
    expect(surelyHeld(10, 6)).toBe(6);
    expect(surelyHeld(-10, -14)).toBe(-10);
    expect(surelyHeld(10, -5)).toBe(0);
    expect(surelyHeld(10, 0)).toBe(0);
  });

  test('resolveIntent rounds float dust out of a target difference', () => {
    const intent = resolveIntent(buildSignal({ action: 'target', target_position: 0.3 }, NOW), 0.1 + 0.2, 100);
    expect(intent).toEqual({ side: null, quantity: 0, exit: true, flip: false });
  });
});
