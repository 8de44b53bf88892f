/** Wire shapes of stored records (docs/http-api.md#operator-api): one function per shape, typed by the documented schema. */
import type * as v from 'valibot';
import type { OrderRecord, SignalRecord } from '../store/store.js';
import { traceIdOf } from '../telemetry/tracing.js';
import type { orderView as orderViewSchema, signalView as signalViewSchema } from './schemas.js';

export function signalView(r: SignalRecord): v.InferOutput<typeof signalViewSchema> {
  return {
    signal_id: r.signal_id,
    source: r.source,
    idempotency_key: r.idempotency_key,
    status: r.status,
    connector: r.connector,
    instrument: r.instrument,
    received_at: r.received_at,
    updated_at: r.updated_at,
    signal: { ...r.signal },
    decision:
      r.decision === null
        ? null
        : {
            allowed: r.decision.allowed,
            failures: r.decision.failures,
            quantity: r.decision.quantity,
            side: r.decision.side,
            exit: r.decision.exit,
            trimmed: r.decision.trimmed,
            // Absent from every decision but a forwarded close or target (and from those stored before).
            forwarded: r.decision.forwarded === true,
          },
    result: r.result,
    trace_id: traceIdOf(r.trace_parent),
  };
}

export function orderView(r: OrderRecord): v.InferOutput<typeof orderViewSchema> {
  return {
    client_order_id: r.client_order_id,
    connector: r.connector,
    signal_id: r.signal_id,
    instrument: r.instrument,
    order_id: r.order_id,
    side: r.side,
    quantity: r.quantity,
    order_type: r.order_type,
    limit_price: r.limit_price,
    stop_price: r.stop_price,
    status: r.status,
    filled_quantity: r.filled_quantity,
    avg_fill_price: r.avg_fill_price,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}
