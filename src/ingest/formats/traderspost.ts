/**
 * The `traderspost` format (docs/http-api.md#signal-body): maps a TradersPost-style signal (camelCase fields,
 * `action` buy/sell/exit/cancel/add with a `sentiment`) to a native-shaped object. Pure and
 * unvalidated on purpose: the native schema validates the result. Values are copied as sent,
 * native fields present in the body win over derived ones, and fields this format does not
 * know stay at the top level for the native schema to file under `meta.unknown_fields`.
 */

/** A TradersPost signal to send to `…/webhooks/<source>`, as the README quotes it. */
export const TRADERSPOST_EXAMPLE = `{
  "ticker": "AAPL",
  "action": "buy",
  "sentiment": "bullish",
  "quantity": 10,
  "orderType": "limit",
  "limitPrice": 150.10,
  "timeInForce": "day",
  "takeProfit": { "limitPrice": 160 },
  "stopLoss": { "stopPrice": 145 },
  "price": 150.25,
  "time": "2026-11-22T10:30:00Z",
  "signalId": "momentum-2026-11-22T10:30:00Z-AAPL",
  "extras": { "strategy_version": "1.4" }
}`;

/** Fields of the signal that this format consumes (the rest pass through untouched). */
const FORMAT_FIELDS = new Set([
  'ticker',
  'action',
  'sentiment',
  'orderType',
  'limitPrice',
  'stopPrice',
  'takeProfit',
  'stopLoss',
  'timeInForce',
  'time',
  'signalId',
  'extras',
]);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const lower = (v: unknown): unknown => (typeof v === 'string' ? v.trim().toLowerCase() : v);

/** Renames the camelCase keys of a bracket leg; other keys (percent, amount…) pass through for the schema to judge. */
function leg(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'limitPrice') out.limit_price = v;
    else if (key === 'stopPrice') out.stop_price = v;
    else out[key] = v;
  }
  return out;
}

/**
 * The native action, and whether a quantity still applies:
 * cancel → cancel; sentiment flat → close of the whole position (TradersPost documents that
 * flat "always exits the full quantity", so the quantity is dropped); exit → close (a quantity
 * makes it partial); add → buy when bullish/long, sell when bearish/short (without a sentiment
 * it stays `add` and the schema refuses it); buy/sell as they are.
 */
function mapAction(action: unknown, sentiment: unknown): { action: unknown; keepQuantity: boolean } {
  if (action === 'cancel') return { action: 'cancel', keepQuantity: true };
  if (sentiment === 'flat') return { action: 'close', keepQuantity: false };
  if (action === 'exit') return { action: 'close', keepQuantity: true };
  if (action === 'add') {
    if (sentiment === 'bullish' || sentiment === 'long') return { action: 'buy', keepQuantity: true };
    if (sentiment === 'bearish' || sentiment === 'short') return { action: 'sell', keepQuantity: true };
  }
  return { action, keepQuantity: true };
}

export function fromTradersPost(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!FORMAT_FIELDS.has(key)) out[key] = value;
  const setIfAbsent = (key: string, value: unknown): void => {
    if (value !== undefined && !(key in out)) out[key] = value;
  };

  const sentiment = lower(body.sentiment);
  const mapped = mapAction(lower(body.action), sentiment);
  if (mapped.action !== undefined) out.action = mapped.action;
  if (!mapped.keepQuantity) delete out.quantity;

  setIfAbsent('instrument', body.ticker);
  setIfAbsent('order_type', body.orderType);
  setIfAbsent('limit_price', body.limitPrice);
  setIfAbsent('stop_price', body.stopPrice);
  setIfAbsent('take_profit', leg(body.takeProfit));
  setIfAbsent('stop_loss', leg(body.stopLoss));
  setIfAbsent('time_in_force', body.timeInForce);
  setIfAbsent('timestamp', body.time);
  setIfAbsent('id', body.signalId);

  // extras → meta; TradersPost's own action and sentiment are kept beside them for the audit
  // trail, since the native action alone no longer says "add" or "flat".
  const traderspost: Record<string, unknown> = {};
  if (body.action !== undefined) traderspost.action = body.action;
  if (body.sentiment !== undefined) traderspost.sentiment = body.sentiment;
  const extras = body.extras === undefined ? {} : isPlainObject(body.extras) ? body.extras : { extras: body.extras };
  const additions = Object.keys(traderspost).length > 0 ? { ...extras, traderspost } : extras;
  if (Object.keys(additions).length > 0) {
    if (out.meta === undefined) out.meta = additions;
    // A meta that is not an object is left for the native schema to refuse.
    else if (isPlainObject(out.meta)) out.meta = { ...out.meta, ...additions };
  }
  return out;
}
