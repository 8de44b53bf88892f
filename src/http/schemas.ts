/**
 * Valibot schemas of what the HTTP surface answers. The OpenAPI document is generated from
 * these and from the request schemas the routes validate with; the view functions are typed by
 * them, so the document cannot drift from the code.
 */
import * as v from 'valibot';
import { MODES, ORDER_STATUSES, ORDER_TYPES } from '../domain/types.js';
import type { CancelledLane, FlattenOutcome } from '../ops/flatten.js';
import type { StatusView } from '../ops/status.js';
import type { OrderRecord } from '../store/store.js';

const status = v.picklist(['accepted', 'executing', 'executed', 'rejected', 'failed']);
const time = v.pipe(v.string(), v.isoTimestamp());
const json = v.record(v.string(), v.unknown());

export const errorResponse = v.object({
  error: v.object({
    code: v.string(),
    message: v.string(),
    request_id: v.string(),
    issues: v.optional(v.array(v.object({ path: v.string(), message: v.string() }))),
  }),
});

export const acceptedResponse = v.object({ signal_id: v.string(), status: v.literal('accepted'), idempotency_key: v.string() });
export const finalResponse = v.object({ signal_id: v.string(), status, decision: v.nullable(json), result: v.nullable(json) });
export const duplicateResponse = v.object({ signal_id: v.string(), status: v.literal('duplicate'), original_status: status });
export const deferredResponse = v.object({ status: v.literal('deferred'), delivery_id: v.string() });
/** `POST /webhooks/{source}` answers 202 with a new signal or a deferred delivery, 200 with an outcome or a duplicate. */
export const webhook202Response = v.union([acceptedResponse, deferredResponse]);
export const webhook200Response = v.union([finalResponse, duplicateResponse]);

const ruleFailure = v.object({ rule: v.string(), code: v.optional(v.string()), limit: v.unknown(), actual: v.unknown(), message: v.string() });
export const decisionView = v.object({
  allowed: v.boolean(),
  failures: v.array(ruleFailure),
  quantity: v.nullable(v.number()),
  side: v.nullable(v.picklist(['buy', 'sell'])),
  exit: v.boolean(),
  trimmed: v.boolean(),
  /** A close or target sent to a fire-and-forget connector as the action itself (side and quantity null). */
  forwarded: v.boolean(),
});
export const resultView = v.object({
  connector: v.string(),
  client_order_id: v.string(),
  order_id: v.nullable(v.string()),
  status: v.string(),
  filled_quantity: v.number(),
  fill_price: v.nullable(v.number()),
  error: v.optional(v.string()),
});
export const signalView = v.object({
  signal_id: v.string(),
  source: v.string(),
  idempotency_key: v.string(),
  status,
  connector: v.string(),
  instrument: v.string(),
  received_at: time,
  updated_at: time,
  signal: json,
  decision: v.nullable(decisionView),
  result: v.nullable(resultView),
  /** The delivery's OpenTelemetry trace id (32 hex digits); null when tracing was off when it was received. */
  trace_id: v.nullable(v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/))),
});
export const eventView = v.object({
  seq: v.number(),
  at: time,
  type: v.string(),
  signal_id: v.nullable(v.string()),
  data: json,
  prev_hash: v.string(),
  hash: v.string(),
});
/** An order sluice placed and follows until it is terminal (`GET /admin/orders`, a signal's `orders`). */
export const orderView = v.object({
  client_order_id: v.string(),
  connector: v.string(),
  signal_id: v.string(),
  instrument: v.string(),
  order_id: v.nullable(v.string()),
  side: v.picklist(['buy', 'sell']),
  quantity: v.number(),
  order_type: v.picklist(ORDER_TYPES),
  limit_price: v.nullable(v.number()),
  stop_price: v.nullable(v.number()),
  status: v.picklist(ORDER_STATUSES),
  filled_quantity: v.number(),
  avg_fill_price: v.nullable(v.number()),
  created_at: time,
  updated_at: time,
});
export const signalDetail = v.object({
  ...signalView.entries,
  attempts: v.array(v.object({ n: v.number(), at: time, outcome: v.string(), error: v.nullable(v.string()) })),
  events: v.array(eventView),
  orders: v.array(orderView),
});
export const page = <T extends v.GenericSchema>(item: T) => v.object({ items: v.array(item), next_cursor: v.nullable(v.string()) });
export const ordersResponse = page(orderView);

const breaker = v.object({ state: v.picklist(['closed', 'open', 'half_open']), consecutive_failures: v.number(), opened_at: v.nullable(time) });
export const statusResponse = v.object({
  status: v.picklist(['ok', 'degraded']),
  mode: v.nullable(v.picklist(MODES)),
  mode_reason: v.nullable(v.string()),
  mode_changed_at: v.nullable(time),
  read_at: v.nullable(time),
  test_mode: v.boolean(),
  degraded: v.array(v.object({ component: v.string(), reason: v.string(), since: time })),
  breakers: v.record(v.string(), breaker),
  last_signal: v.nullable(v.object({ signal_id: v.string(), source: v.string(), status, received_at: time })),
  recent_errors: v.array(v.object({ at: time, component: v.string(), message: v.string(), signal_id: v.nullable(v.string()) })),
  queue: v.nullable(v.object({ accepted: v.number(), executing: v.number(), oldest_accepted_age_seconds: v.number() })),
  spool: v.object({ pending: v.number() }),
  orders: v.nullable(v.object({ open: v.number(), by_connector: v.record(v.string(), v.number()) })),
  streams: v.array(v.object({ connector: v.string(), connected: v.boolean(), reason: v.nullable(v.string()), since: time })),
  version: v.string(),
  uptime_seconds: v.number(),
  /** Which token the caller holds (the read token may not write): added by the route, not the reader. */
  role: v.picklist(['admin', 'read']),
});
export const connectorView = v.object({ name: v.string(), type: v.string(), mocked: v.boolean(), capabilities: json, breaker });
export const deliveryView = v.object({
  at: time,
  source: v.string(),
  code: v.nullable(v.string()),
  reason: v.string(),
  issues: v.array(v.object({ path: v.string(), message: v.string() })),
  request_id: v.string(),
  body_excerpt: v.string(),
});
/** An order as a connector reports it (the mock's routes). */
export const brokerOrderView = v.object({
  client_order_id: v.string(),
  order_id: v.string(),
  instrument: v.string(),
  side: v.picklist(['buy', 'sell']),
  quantity: v.number(),
  order_type: v.string(),
  limit_price: v.nullable(v.number()),
  status: v.string(),
  filled_quantity: v.number(),
  fill_price: v.nullable(v.number()),
});
export const mockOrderView = v.object({ ...brokerOrderView.entries, created_at: time });
export const positionsResponse = v.object({
  connectors: v.record(
    v.string(),
    v.object({
      positions: v.array(v.object({ instrument: v.string(), quantity: v.number(), avg_price: v.number() })),
      gross_exposure: v.number(),
      reserved_exposure: v.number(),
      realized_pnl_today: v.number(),
      max_daily_loss: v.nullable(v.number()),
    }),
  ),
});
export const eventsResponse = v.object({ items: v.array(eventView), next_after: v.number() });
export const auditResponse = v.union([
  v.object({ ok: v.literal(true), entries: v.number(), head: v.string() }),
  v.object({ ok: v.literal(false), broken_at: v.number() }),
]);
const cancelledLane = v.object({ connector: v.string(), instrument: v.string(), open_orders: v.number(), settled: v.boolean(), error: v.optional(v.string()) });
export const flattenResponse = v.object({
  status: v.literal('accepted'),
  signals: v.array(v.object({ signal_id: v.string(), connector: v.string(), instrument: v.string(), quantity: v.number(), status: v.string() })),
  cancelled: v.array(cancelledLane),
  adopted: v.array(v.object({ connector: v.string(), instrument: v.string(), ledger: v.number(), broker: v.number() })),
});
export const breakerResetResponse = v.object({ connector: v.string(), breaker });
export const faultsResponse = v.object({
  connector: v.string(),
  faults: v.object({ latency_ms: v.number(), failure_rate: v.number(), timeout_rate: v.number(), fill_delay_ms: v.number(), partial_fills: v.number(), resting_orders: v.boolean() }),
});
export const pricesResponse = v.object({ connector: v.string(), prices: v.record(v.string(), v.number()), orders: v.array(brokerOrderView) });
export const healthResponse = v.object({ status: v.string() });

/** The schema above and the type `statusReader` reads must be the same shape: a compile-time check. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const statusSchemaMatches: Same<Omit<v.InferOutput<typeof statusResponse>, 'role'>, StatusView> = true;
const orderSchemaMatches: Same<v.InferOutput<typeof orderView>, OrderRecord> = true;
const cancelledSchemaMatches: Same<v.InferOutput<typeof cancelledLane>, CancelledLane> = true;
const flattenSchemaMatches: Same<Omit<v.InferOutput<typeof flattenResponse>, 'status'>, FlattenOutcome> = true;
void [statusSchemaMatches, orderSchemaMatches, cancelledSchemaMatches, flattenSchemaMatches];

const replayDecision = v.object({
  allowed: v.boolean(),
  side: v.nullable(v.picklist(['buy', 'sell'])),
  quantity: v.nullable(v.number()),
  failures: v.array(v.object({ rule: v.string(), code: v.nullable(v.string()) })),
});
const replayedDecision = v.object({
  ...replayDecision.entries,
  fill: v.picklist(['filled', 'unfilled', 'unpriced', 'none']),
  fill_price: v.nullable(v.number()),
});
const replayTotals = v.object({
  signals: v.number(),
  allowed: v.number(),
  rejected: v.number(),
  rejected_by_rule: v.record(v.string(), v.number()),
  unpriced: v.number(),
  unfilled: v.number(),
  differs_from_original: v.number(),
  positions: v.array(v.object({ connector: v.string(), instrument: v.string(), quantity: v.number(), avg_price: v.number() })),
  peak_gross_exposure: v.number(),
  realized_pnl: v.number(),
  realized_pnl_by_day: v.record(v.string(), v.number()),
  daily_loss_tripped: v.nullable(v.object({ day: v.string(), at: time, signal_id: v.string(), connector: v.string(), realized_pnl_day: v.number() })),
  final_mode: v.picklist(MODES),
});
/** `POST /admin/replay`: the totals per policy and a row per signal (recorded and replayed decisions). */
export const replayResponse = v.object({
  window: v.object({ from: time, to: time, source: v.nullable(v.string()) }),
  start_mode: v.literal('enabled'),
  signals: v.number(),
  current: replayTotals,
  candidate: v.nullable(replayTotals),
  rows: v.array(
    v.object({
      signal_id: v.string(),
      received_at: time,
      source: v.string(),
      connector: v.string(),
      instrument: v.string(),
      action: v.string(),
      price: v.nullable(v.number()),
      original: v.nullable(replayDecision),
      current: replayedDecision,
      candidate: v.nullable(replayedDecision),
    }),
  ),
});
