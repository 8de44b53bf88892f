/**
 * The native signal (docs/http-api.md#signal-body): valibot for the shape, plain code for the rules that
 * relate fields. Every sender format is mapped onto this shape first and validated here, so
 * there is one definition of a valid signal. Unknown top-level fields are kept under
 * `meta.unknown_fields` and counted, not refused.
 */
import * as v from 'valibot';
import { roundQty } from '../../domain/ledger.js';
import { ACTIONS, INSTRUMENT_PATTERN, ORDER_TYPES, SIGNAL_BOUNDS, TIME_IN_FORCES, type Signal, type ValidationIssue } from '../../domain/types.js';

const show = (input: unknown): string => {
  const text = JSON.stringify(input);
  return text === undefined ? String(input) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** A number, or a decimal string ("10", "150.25", "-3"), finite. */
const decimal = (what: string) =>
  v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.trim(), v.regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/))], (i) => `expected ${what}, got ${show(i.input)}`),
    v.transform(Number),
    v.check((n) => Number.isFinite(n), (i) => `expected ${what}, got ${show(i.input)}`),
  );
const { max_quantity: MAX_QTY, min_price: MIN_PRICE, max_price: MAX_PRICE, max_notional: MAX_NOTIONAL } = SIGNAL_BOUNDS;
/** A quantity > 0 that stays > 0 at 9 decimals (what the ledger and the gate round to), at most 1e9. */
const quantity = () =>
  v.pipe(
    decimal('a quantity > 0'),
    v.check((n) => roundQty(n) > 0, 'expected a quantity > 0 (at most 9 decimals count)'),
    v.check((n) => n <= MAX_QTY, (i) => `expected a quantity of at most ${MAX_QTY}, got ${show(i.input)}`),
  );
/** A price in [1e-6, 1e9]. */
const price = () =>
  v.pipe(
    decimal('a price > 0'),
    v.check((n) => n >= MIN_PRICE && n <= MAX_PRICE, (i) => `expected a price from ${MIN_PRICE} to ${MAX_PRICE}, got ${show(i.input)}`),
  );
/** A signed quantity; |n| ≤ 1e9. */
const signedQuantity = () =>
  v.pipe(
    decimal('a signed number'),
    v.check((n) => Math.abs(n) <= MAX_QTY, (i) => `expected a quantity from -${MAX_QTY} to ${MAX_QTY}, got ${show(i.input)}`),
  );
const notional = () =>
  v.pipe(
    decimal('a number > 0'),
    v.check((n) => n > 0 && n <= MAX_NOTIONAL, (i) => `expected a notional > 0 and at most ${MAX_NOTIONAL}, got ${show(i.input)}`),
  );

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

/**
 * Strict ISO-8601 with an offset and a real calendar time: `Date.parse` rolls 2026-02-30 over
 * into March and reads 24:00 as the next day, so the fields are checked one by one.
 */
export function isStrictTimestamp(s: string): boolean {
  const m = TIMESTAMP.exec(s);
  if (m === null) return false;
  const [year, month, day, hour, minute, second = '0', , offH = '0', offM = '0'] = m.slice(1);
  const y = Number(year);
  const mo = Number(month);
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = mo === 2 && leap ? 29 : (DAYS_IN_MONTH[mo - 1] ?? 0);
  return (
    mo >= 1 && mo <= 12 &&
    Number(day) >= 1 && Number(day) <= days &&
    Number(hour) <= 23 && Number(minute) <= 59 && Number(second) <= 59 &&
    Number(offH) <= 23 && Number(offM) <= 59 &&
    !Number.isNaN(Date.parse(s))
  );
}

const KNOWN = [
  'id', 'action', 'instrument', 'quantity', 'notional', 'target_position', 'order_type', 'limit_price', 'stop_price', 'price',
  'time_in_force', 'take_profit', 'stop_loss', 'timestamp', 'strategy', 'meta',
] as const;

export const nativeSignalSchema = v.object({
  id: v.optional(v.pipe(v.string('expected a string'), v.minLength(1, 'expected a non-empty string'), v.maxLength(255, 'expected at most 255 characters'))),
  action: v.picklist(ACTIONS, (i) => `expected one of ${ACTIONS.join(', ')}, got ${show(i.input)}`),
  instrument: v.pipe(
    v.string((i) => `expected a string, got ${show(i.input)}`),
    // Trimmed first, so 32 spaces is empty and refused: at least one visible character.
    v.trim(),
    v.regex(INSTRUMENT_PATTERN, 'expected 1-32 characters of A-Z a-z 0-9 . / : - _ ! space, not only spaces'),
    v.toUpperCase(),
  ),
  quantity: v.optional(quantity()),
  notional: v.optional(notional()),
  target_position: v.optional(signedQuantity()),
  order_type: v.optional(v.picklist(ORDER_TYPES, (i) => `expected one of ${ORDER_TYPES.join(', ')}, got ${show(i.input)}`), 'market'),
  limit_price: v.optional(price()),
  stop_price: v.optional(price()),
  price: v.optional(price()),
  time_in_force: v.optional(v.picklist(TIME_IN_FORCES, (i) => `expected one of ${TIME_IN_FORCES.join(', ')}, got ${show(i.input)}`), 'day'),
  take_profit: v.optional(v.strictObject({ limit_price: price() }, 'expected { limit_price }')),
  stop_loss: v.optional(v.strictObject({ stop_price: price(), limit_price: v.optional(price()) }, 'expected { stop_price, limit_price? }')),
  timestamp: v.optional(
    v.pipe(
      v.string('expected an ISO-8601 time with offset'),
      v.check(isStrictTimestamp, (i) => `expected an ISO-8601 time with offset on a real calendar date, got ${show(i.input)}`),
    ),
  ),
  strategy: v.optional(v.pipe(v.string('expected a string'), v.maxLength(128, 'expected at most 128 characters'))),
  // valibot's record takes an array for an object: refused first.
  meta: v.optional(v.pipe(v.custom<unknown>((m) => !Array.isArray(m), 'expected an object'), v.record(v.string(), v.unknown(), 'expected an object')), {}),
});

export type NativeResult = { ok: true; signal: Signal; unknown_fields: string[] } | { ok: false; issues: ValidationIssue[] };

export function parseNativeSignal(input: unknown): NativeResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, issues: [{ path: '', message: 'expected a JSON object' }] };
  }
  const body = input as Record<string, unknown>;
  const parsed = v.safeParse(nativeSignalSchema, body);
  if (!parsed.success) {
    return { ok: false, issues: parsed.issues.map((i) => ({ path: v.getDotPath(i) ?? '', message: i.message })) };
  }
  const out = parsed.output;
  const issues: ValidationIssue[] = [];
  const need = (cond: boolean, path: string, message: string) => {
    if (!cond) issues.push({ path, message });
  };
  if (out.action === 'buy' || out.action === 'sell') {
    need((out.quantity === undefined) !== (out.notional === undefined), 'quantity', `${out.action} needs exactly one of quantity or notional`);
    need(out.notional === undefined || out.price !== undefined || out.limit_price !== undefined, 'price', 'notional needs price (or limit_price) to size the order');
  }
  if (out.action === 'target') need(out.target_position !== undefined, 'target_position', 'target needs target_position (a signed quantity)');
  if (out.action !== 'buy' && out.action !== 'sell') need(out.notional === undefined, 'notional', `notional is only for buy and sell`);
  if (out.order_type === 'limit' || out.order_type === 'stop_limit') need(out.limit_price !== undefined, 'limit_price', `a ${out.order_type} order needs limit_price`);
  if (out.order_type === 'stop' || out.order_type === 'stop_limit') need(out.stop_price !== undefined, 'stop_price', `a ${out.order_type} order needs stop_price`);
  if (issues.length > 0) return { ok: false, issues };

  const unknown = Object.keys(body).filter((k) => !(KNOWN as readonly string[]).includes(k));
  const meta: Record<string, unknown> = { ...out.meta };
  if (unknown.length > 0) meta.unknown_fields = Object.fromEntries(unknown.map((k) => [k, body[k]]));

  // Built in the documented field order, so stored and served signals read naturally.
  const signal: Signal = {
    ...(out.id === undefined ? {} : { id: out.id }),
    action: out.action,
    instrument: out.instrument,
    ...(out.quantity === undefined ? {} : { quantity: out.quantity }),
    ...(out.notional === undefined ? {} : { notional: out.notional }),
    ...(out.target_position === undefined ? {} : { target_position: out.target_position }),
    order_type: out.order_type,
    ...(out.limit_price === undefined ? {} : { limit_price: out.limit_price }),
    ...(out.stop_price === undefined ? {} : { stop_price: out.stop_price }),
    ...(out.price === undefined ? {} : { price: out.price }),
    time_in_force: out.time_in_force,
    ...(out.take_profit === undefined ? {} : { take_profit: out.take_profit }),
    ...(out.stop_loss === undefined
      ? {}
      : { stop_loss: out.stop_loss.limit_price === undefined ? { stop_price: out.stop_loss.stop_price } : { stop_price: out.stop_loss.stop_price, limit_price: out.stop_loss.limit_price } }),
    ...(out.timestamp === undefined ? {} : { timestamp: out.timestamp }),
    ...(out.strategy === undefined ? {} : { strategy: out.strategy }),
    meta,
  };
  return { ok: true, signal, unknown_fields: unknown };
}

/** Every string value still holding `{{` (an unrendered TradingView placeholder), with its path. */
export function findPlaceholders(value: unknown, path = ''): ValidationIssue[] {
  if (typeof value === 'string') return value.includes('{{') ? [{ path, message: `unrendered placeholder ${show(value)}` }] : [];
  if (Array.isArray(value)) return value.flatMap((item, i) => findPlaceholders(item, path ? `${path}.${i}` : String(i)));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, item]) => findPlaceholders(item, path ? `${path}.${k}` : k));
  }
  return [];
}
