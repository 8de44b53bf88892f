/**
 * The `http` connector (docs/execution.md#the-http-connector): forwards each action as a JSON POST signed with
 * Standard Webhooks headers, so any receiver with a Standard Webhooks library can verify it. A 2xx
 * means the receiver took it. It is fire-and-forget (`order_updates: 'none'`): it reports no fills
 * and no positions, so `close` and `target` reach it as actions, never resolved against sluice's
 * ledger (see `forwardsAction`). The receiver cannot be asked about an order afterwards (no lookup), so
 * delivery is at least once: `webhook-id` is the client_order_id and stays the same on every
 * retry, which lets the receiver drop the duplicates an ambiguous failure can cause (docs/guarantees.md#idempotency-and-at-most-one-order).
 */
import { createHash } from 'node:crypto';
import type { ConnectorConfig } from '../config/schema.js';
import type { Order, Position, Side } from '../domain/types.js';
import { ORDER_TYPES } from '../domain/types.js';
import type { CallResult, Connector, OrderRequest } from './connector.js';
import type { ConnectorCapabilities } from '../domain/types.js';
import { failure, success } from './connector.js';
import { callJson } from './http-client.js';
import { decodeStandardWebhooksSecret, signStandardWebhooks } from '../lib/signing.js';


export type HttpConnectorConfig = Extract<ConnectorConfig, { type: 'http' }>;

export interface HttpConnectorDeps {
  now: () => Date;
  fetch?: typeof fetch;
}

export interface StandardWebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * Cancels sent within the same minute for the same instrument share one webhook-id (see
 * `cancelWebhookId`).
 */
const CANCEL_ID_BUCKET_MS = 60_000;

/**
 * Standard Webhooks signing: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` where the
 * key is the base64 part of `whsec_<base64>` (a secret without the prefix is read as base64 too,
 * as the reference libraries do). The timestamp is taken at each attempt: a retry must carry a
 * fresh one to pass the receiver's tolerance, while the id stays the same.
 */
export function signStandardWebhook(secret: string, msgId: string, at: Date, body: string): StandardWebhookHeaders {
  // The same signing the verifier checks (one implementation of the scheme).
  const key = decodeStandardWebhooksSecret(secret);
  if (key === null) throw new Error('signing_secret: expected a standard-webhooks secret "whsec_<base64 key>"');
  const timestamp = Math.floor(at.getTime() / 1000);
  return { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': signStandardWebhooks(key, msgId, timestamp, Buffer.from(body)) };
}

/**
 * The webhook-id of a cancel: `cancel_` + the first 32 hex chars of
 * sha256(connector name, instrument, unix minute). `cancel(instrument)` carries no idempotency
 * key, so the id is derived from what it has: retries within the same minute collapse at a
 * deduplicating receiver, and a later, separate cancel of the instrument is not mistaken for a
 * duplicate. A cancel is idempotent (it cancels whatever is open), so a retry that falls into the
 * next minute and is delivered twice does no harm.
 */
export function cancelWebhookId(connectorName: string, instrument: string, now: Date): string {
  const minute = Math.floor(now.getTime() / CANCEL_ID_BUCKET_MS);
  const digest = createHash('sha256').update(`${connectorName}\n${instrument}\n${minute}`).digest('hex');
  return `cancel_${digest.slice(0, 32)}`;
}

export function createHttpConnector(name: string, config: HttpConnectorConfig, deps: HttpConnectorDeps): Connector {
  // A secret that cannot sign stops the start, naming the key (never the secret).
  if (decodeStandardWebhooksSecret(config.signing_secret) === null) {
    throw new Error(`connectors.${name}.signing_secret: expected a standard-webhooks secret "whsec_<base64 key>"`);
  }
  // The receiver forwards the order wherever it wants: sluice cannot know its limits, so it
  // declares everything and lets the receiver refuse with a 4xx.
  const capabilities: ConnectorCapabilities = {
    order_types: [...ORDER_TYPES],
    brackets: true,
    fractional: true,
    short: true,
    lookup: false,
    positions: false,
    order_updates: 'none',
  };

  async function post(msgId: string, payload: unknown): Promise<CallResult<{ body: unknown }>> {
    const body = JSON.stringify(payload);
    const signed = signStandardWebhook(config.signing_secret, msgId, deps.now(), body);
    const result = await callJson({
      method: 'POST',
      url: config.url,
      headers: { 'content-type': 'application/json', 'user-agent': 'sluice', ...signed },
      body,
      timeout_ms: config.timeout_ms,
      fetch: deps.fetch,
      now: deps.now,
      redact: [config.signing_secret],
    });
    return result.ok ? success({ body: result.value.body }) : result;
  }

  return {
    name,
    type: 'http',
    capabilities,

    async place(order: OrderRequest): Promise<CallResult<Order>> {
      const result = await post(order.client_order_id, orderBody(order));
      if (!result.ok) return result;
      return success({
        client_order_id: order.client_order_id,
        order_id: receiverOrderId(result.value.body) ?? order.client_order_id,
        instrument: order.instrument,
        ...sideAndQuantity(order),
        order_type: order.order_type,
        limit_price: order.limit_price ?? null,
        // A 2xx says the receiver took the order, nothing about fills (order_updates: none).
        status: 'new',
        filled_quantity: 0,
        fill_price: null,
      });
    },

    async cancel(instrument: string): Promise<CallResult<{ cancelled: number }>> {
      const result = await post(cancelWebhookId(name, instrument, deps.now()), { type: 'cancel', instrument });
      if (!result.ok) return result;
      // The receiver may say how many it cancelled; otherwise sluice cannot know and reports 0.
      return success({ cancelled: cancelledCount(result.value.body) });
    },

    async getOrder(): Promise<CallResult<Order | null>> {
      return failure('lookup unsupported', { retryable: false, ambiguous: false });
    },

    /** The http connector holds no positions: the receiver is the system of record for them. */
    async getPositions(): Promise<CallResult<Position[]>> {
      return success([]);
    },
  };
}

/**
 * The JSON body of an order (docs/execution.md#the-http-connector). Every field is present, null
 * when it does not apply, so the receiver sees one shape per kind: a buy or sell as it always was
 * plus `action`; a forwarded close or target with `side: null` (the receiver resolves it against
 * the positions it holds), `quantity` a partial close's (null: the whole position) and
 * `target_position` the signed position to reach (null for a close).
 */
export function orderBody(order: OrderRequest): Record<string, unknown> {
  const head = { type: 'order', action: order.action, client_order_id: order.client_order_id, signal_id: order.signal_id, instrument: order.instrument };
  const resolved =
    order.forwarded === true
      ? { side: null, quantity: order.action === 'close' ? (order.quantity ?? null) : null, target_position: order.action === 'target' ? order.target_position : null }
      : { side: order.side, quantity: order.quantity };
  return {
    ...head,
    ...resolved,
    order_type: order.order_type,
    // Explicit nulls: the receiver sees every field, whatever the order type.
    limit_price: order.limit_price ?? null,
    stop_price: order.stop_price ?? null,
    time_in_force: order.time_in_force,
    take_profit: order.take_profit ?? null,
    stop_loss: order.stop_loss ?? null,
    reference_price: order.reference_price ?? null,
    signal: order.signal,
  };
}

/**
 * The side and quantity the recorded answer names. An Order must name both and a forwarded close
 * or target has neither, so its answer names a quantity of 0 with nothing filled, and a
 * placeholder side ('buy' for a target above zero, else 'sell'). Nothing of it is booked or
 * followed (no fill; order_updates none), and the signal's stored result carries neither.
 */
function sideAndQuantity(order: OrderRequest): { side: Side; quantity: number } {
  if (order.forwarded !== true) return { side: order.side, quantity: order.quantity };
  return { side: order.action === 'target' && order.target_position > 0 ? 'buy' : 'sell', quantity: 0 };
}

function receiverOrderId(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  for (const key of ['order_id', 'id']) {
    const v = b[key];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  return undefined;
}

function cancelledCount(body: unknown): number {
  if (typeof body !== 'object' || body === null) return 0;
  const v = (body as Record<string, unknown>)['cancelled'];
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0;
}
