/**
 * What stored JSON must look like when it is read back: the signal, decision and result of a
 * signal row, the mode, breakers and cursors of `runtime_state`, an event's data and a refused
 * delivery's issues. Checked, never cast: a row that fails raises StoredRecordError naming the
 * table, the row and the field. The signal's shape is the stored form of domain/types.ts
 * `Signal` (ingest normalizes deliveries into it before they are stored).
 */
import * as v from 'valibot';
import { isBreakerState, type BreakerState } from '../domain/breaker.js';
import { ACTIONS, MODES, ORDER_TYPES, TIME_IN_FORCES, type Decision, type Rule, type Signal, type ValidationIssue } from '../domain/types.js';
import type { ModeState } from './contract/runtime.js';
import type { ExecutionResult } from './contract/signals.js';

/** A stored document that is not what its column must hold. */
export class StoredRecordError extends Error {
  constructor(
    readonly table: string,
    readonly rowId: string,
    readonly field: string,
    detail: string,
  ) {
    super(`stored ${table} row ${JSON.stringify(rowId)}: field ${field} ${detail}`);
    this.name = 'StoredRecordError';
  }
}

const finite = v.pipe(v.number(), v.finite());
const nullableFinite = v.nullable(finite);
/** A JSON object (not an array, not null). */
const object = v.custom<Record<string, unknown>>((x) => typeof x === 'object' && x !== null && !Array.isArray(x), 'expected an object');

const signalSchema = v.looseObject({
  id: v.optional(v.string()),
  action: v.picklist(ACTIONS),
  instrument: v.string(),
  quantity: v.optional(finite),
  notional: v.optional(finite),
  target_position: v.optional(finite),
  order_type: v.picklist(ORDER_TYPES),
  limit_price: v.optional(finite),
  stop_price: v.optional(finite),
  price: v.optional(finite),
  time_in_force: v.picklist(TIME_IN_FORCES),
  take_profit: v.optional(v.looseObject({ limit_price: finite })),
  stop_loss: v.optional(v.looseObject({ stop_price: finite, limit_price: v.optional(finite) })),
  timestamp: v.optional(v.string()),
  strategy: v.optional(v.string()),
  meta: object,
});

const RULES = [
  'mode',
  'instrument_allowed',
  'stale_signal',
  'trading_window',
  'order_rate',
  'max_order_quantity',
  'max_order_notional',
  'max_position_notional',
  'max_gross_exposure',
  'daily_loss',
  'breaker_open',
  'connector_capability',
] as const satisfies readonly Rule[];
/** Fails to compile when domain/types.ts gains a rule that RULES lacks. */
const everyRule: [Exclude<Rule, (typeof RULES)[number]>] extends [never] ? true : never = true;
void everyRule;

const decisionSchema = v.looseObject({
  allowed: v.boolean(),
  failures: v.array(
    v.looseObject({ rule: v.picklist(RULES), code: v.optional(v.string()), limit: v.unknown(), actual: v.unknown(), message: v.string() }),
  ),
  quantity: nullableFinite,
  side: v.nullable(v.picklist(['buy', 'sell'])),
  exit: v.boolean(),
  trimmed: v.boolean(),
  reserved_notional: finite,
  reference_price: nullableFinite,
});

const resultSchema = v.looseObject({
  connector: v.string(),
  client_order_id: v.string(),
  order_id: v.nullable(v.string()),
  status: v.string(),
  filled_quantity: finite,
  fill_price: nullableFinite,
  error: v.optional(v.string()),
});

const isoTime = v.pipe(v.string(), v.check((s) => !Number.isNaN(Date.parse(s)), 'a time'));

const modeSchema = v.looseObject({ mode: v.picklist(MODES), reason: v.nullable(v.string()), changed_at: isoTime });

const cursorSchema = v.pipe(v.number(), v.integer(), v.minValue(0));

const issuesSchema = v.array(v.looseObject({ path: v.string(), message: v.string() }));

/** A stored row's coordinates, for the error. */
export interface Where {
  table: string;
  id: string;
  field: string;
}

function parseJson(text: string, where: Where): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StoredRecordError(where.table, where.id, where.field, 'is not JSON');
  }
}

/** Checked against the schema; the value itself is returned (nothing stripped or reordered). */
function checked<S extends v.GenericSchema>(schema: S, text: string, where: Where): v.InferInput<S> {
  const value = parseJson(text, where);
  if (v.is(schema, value)) return value;
  const issue = v.safeParse(schema, value).issues?.[0];
  const path = issue === undefined ? '' : (v.getDotPath(issue) ?? '');
  throw new StoredRecordError(where.table, where.id, where.field, `is not valid${path === '' ? '' : ` at ${path}`}: ${issue?.message ?? 'unexpected value'}`);
}

export const checkSignal = (text: string, where: Where): Signal => checked(signalSchema, text, where);
export const checkDecision = (text: string, where: Where): Decision => checked(decisionSchema, text, where);
export const checkResult = (text: string, where: Where): ExecutionResult => checked(resultSchema, text, where);
export const checkMode = (text: string, where: Where): ModeState => checked(modeSchema, text, where);
export const checkCursor = (text: string, where: Where): number => checked(cursorSchema, text, where);
export const checkEventData = (text: string, where: Where): Record<string, unknown> => checked(object, text, where);
export const checkIssues = (text: string, where: Where): ValidationIssue[] => checked(issuesSchema, text, where);

export function checkBreaker(text: string, where: Where): BreakerState {
  const value = parseJson(text, where);
  if (isBreakerState(value)) return value;
  throw new StoredRecordError(where.table, where.id, where.field, 'is not a breaker state');
}
