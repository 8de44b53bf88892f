/**
 * The native signal (docs/http-api.md#signal-body): valibot for the shape, plain code for the rules that
 * relate fields. Every sender format is mapped onto this shape first and validated here, so
 * there is one definition of a valid signal. Unknown top-level fields are kept under
 * `meta.unknown_fields` and counted, not refused.
 */
import * as v from 'valibot';
import { ACTIONS, ORDER_TYPES, TIME_IN_FORCES, type Signal, type ValidationIssue } from '../../domain/types.js';

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
const positive = (what = 'a number > 0') => v.pipe(decimal(what), v.check((n) => n > 0, `expected ${what}`));

const KNOWN = [
  'id', 'action', 'instrument', 'quantity', 'notional', 'target_position', 'order_type', 'limit_price', 'stop_price', 'price',
  'time_in_force', 'take_profit', 'stop_loss', 'timestamp', 'strategy', 'meta',
] as const;

export const nativeSignalSchema = v.object({
  id: v.optional(v.pipe(v.string('expected a string'), v.minLength(1, 'expected a non-empty string'), v.maxLength(255, 'expected at most 255 characters'))),
  action: v.picklist(ACTIONS, (i) => `expected one of ${ACTIONS.join(', ')}, got ${show(i.input)}`),
  instrument: v.pipe(
    v.string((i) => `expected a string, got ${show(i.input)}`),
    v.regex(/^[A-Za-z0-9./:\-_ ]{1,32}$/, 'expected 1-32 characters of A-Z a-z 0-9 . / : - _ space'),
    v.toUpperCase(),
  ),
  quantity: v.optional(positive()),
  notional: v.optional(positive()),
  target_position: v.optional(decimal('a signed number')),
  order_type: v.optional(v.picklist(ORDER_TYPES, (i) => `expected one of ${ORDER_TYPES.join(', ')}, got ${show(i.input)}`), 'market'),
  limit_price: v.optional(positive()),
  stop_price: v.optional(positive()),
  price: v.optional(positive()),
  time_in_force: v.optional(v.picklist(TIME_IN_FORCES, (i) => `expected one of ${TIME_IN_FORCES.join(', ')}, got ${show(i.input)}`), 'day'),
  take_profit: v.optional(v.strictObject({ limit_price: positive() }, 'expected { limit_price }')),
  stop_loss: v.optional(v.strictObject({ stop_price: positive(), limit_price: v.optional(positive()) }, 'expected { stop_price, limit_price? }')),
  timestamp: v.optional(
    v.pipe(
      v.string('expected an ISO-8601 time with offset'),
      v.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/, 'expected an ISO-8601 time with offset'),
      v.check((s) => !Number.isNaN(Date.parse(s)), 'expected a valid time'),
    ),
  ),
  strategy: v.optional(v.pipe(v.string('expected a string'), v.maxLength(128, 'expected at most 128 characters'))),
  meta: v.optional(v.record(v.string(), v.unknown(), 'expected an object'), {}),
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
