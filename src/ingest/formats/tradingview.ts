/**
 * The `tradingview` format (docs/http-api.md#signal-body): maps the JSON of a TradingView strategy alert, its
 * placeholders rendered, to a native-shaped object. Pure and unvalidated on purpose: the native
 * schema validates the result, so there is one set of rules and one set of error messages.
 * Values are copied as sent (TradingView renders numbers as strings; the native schema accepts
 * decimal strings), native fields present in the alert win over derived ones, and any field
 * this format does not know stays at the top level for the native schema to file under
 * `meta.unknown_fields`.
 */

/**
 * The alert message to paste into TradingView's "Message" box (webhook URL
 * `…/webhooks/<source>`). `sizing` is optional: "order" (default) trades each order's
 * contracts, "target" brings the position to `{{strategy.position_size}}`.
 */
export const TRADINGVIEW_EXAMPLE_ALERT = `{
  "passphrase": "YOUR_PASSPHRASE",
  "ticker": "{{ticker}}",
  "action": "{{strategy.order.action}}",
  "contracts": "{{strategy.order.contracts}}",
  "position_size": "{{strategy.position_size}}",
  "market_position": "{{strategy.market_position}}",
  "price": "{{close}}",
  "time": "{{timenow}}",
  "order_id": "{{strategy.order.id}}",
  "strategy": "momentum_v1",
  "sizing": "order"
}`;

/** Fields of the alert that this format consumes (the rest pass through untouched). */
const FORMAT_FIELDS = new Set(['ticker', 'contracts', 'position_size', 'market_position', 'time', 'order_id', 'sizing']);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '';

const lower = (v: unknown): unknown => (typeof v === 'string' ? v.trim().toLowerCase() : v);

/** A short position as a signed target: TradingView renders position_size signed, but guard an unsigned one. */
function signedTarget(size: unknown, marketPosition: unknown): unknown {
  if (marketPosition !== 'short') return size;
  if (typeof size === 'number') return size > 0 ? -size : size;
  if (typeof size === 'string') {
    const s = size.trim();
    return /^\+?\d*\.?\d+$/.test(s) && Number(s) !== 0 ? `-${s.replace(/^\+/, '')}` : s;
  }
  return size;
}

/**
 * Rules, in order:
 * - `ticker` → `instrument`; `contracts` → `quantity`; `time` (`{{timenow}}`) → `timestamp`;
 *   `action` is lower-cased; `price` (`{{close}}`) is already the native name.
 * - `order_id` → `id` as `<order_id>-<ticker>-<time>`: a Pine order id is a name ("Long") that
 *   every later fill of that order reuses, so on its own it would turn each later alert into an
 *   idempotency-key reuse (422). Ticker and time make it unique per alert and still identical
 *   when TradingView sends the same alert twice.
 * - `sizing: "target"` → `action: target`, `target_position` = `position_size` (signed;
 *   negative when short), `quantity` not derived.
 * - `market_position: "flat"` → `action: close` with no derived quantity (flatten whatever is
 *   held); it wins over `sizing`, since a target of 0 is the same thing.
 * - `market_position` and `position_size`, when not otherwise used, are kept in `meta.tradingview`.
 */
export function fromTradingView(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!FORMAT_FIELDS.has(key)) out[key] = value;
  const setIfAbsent = (key: string, value: unknown): void => {
    if (value !== undefined && !(key in out)) out[key] = value;
  };

  const marketPosition = lower(body.market_position);
  const sizing = lower(body.sizing);
  if (typeof out.action === 'string') out.action = out.action.trim().toLowerCase();

  setIfAbsent('instrument', body.ticker);
  setIfAbsent('timestamp', body.time);
  if (present(body.order_id)) {
    setIfAbsent('id', [body.order_id, body.ticker, body.time].filter(present).map(String).join('-'));
  }

  const tradingview: Record<string, unknown> = {};
  if (body.market_position !== undefined) tradingview.market_position = body.market_position;
  if (marketPosition === 'flat') {
    out.action = 'close';
    if (body.position_size !== undefined) tradingview.position_size = body.position_size;
  } else if (sizing === 'target') {
    out.action = 'target';
    setIfAbsent('target_position', signedTarget(body.position_size, marketPosition));
  } else {
    setIfAbsent('quantity', body.contracts);
    if (body.position_size !== undefined) tradingview.position_size = body.position_size;
  }

  if (Object.keys(tradingview).length > 0) {
    if (out.meta === undefined) out.meta = { tradingview };
    // A meta that is not an object is left for the native schema to refuse.
    else if (isPlainObject(out.meta)) out.meta = { ...out.meta, tradingview };
  }
  return out;
}
