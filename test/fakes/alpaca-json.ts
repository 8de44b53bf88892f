/**
 * What the fake Alpaca answers besides orders: the business rules of POST /v2/orders that the
 * OpenAPI schema cannot express (the connector must never break them), and the position and
 * account objects, shaped as the document's response schemas want them.
 */
import { DECIMAL, isJson, type Json } from './alpaca-spec.js';

/** Alpaca's business rules that the schema cannot express; the connector must never break them. */
export function orderRuleProblem(b: Json): string | undefined {
  const type = b['type'];
  const orderClass = b['order_class'] ?? 'simple';
  if (typeof b['symbol'] !== 'string' || b['symbol'] === '') return 'symbol is required';
  if (typeof b['side'] !== 'string') return 'side is required';
  const hasQty = b['qty'] !== undefined;
  if (hasQty === (b['notional'] !== undefined)) return 'exactly one of qty and notional is required';
  for (const k of ['qty', 'notional', 'limit_price', 'stop_price']) {
    const v = b[k];
    if (v !== undefined && (typeof v !== 'string' || !DECIMAL.test(v))) return `${k} must be a decimal string`;
  }
  if (hasQty && !(Number(b['qty']) > 0)) return 'qty must be > 0';
  const needsLimit = type === 'limit' || type === 'stop_limit';
  const needsStop = type === 'stop' || type === 'stop_limit';
  if (needsLimit !== (b['limit_price'] !== undefined)) return needsLimit ? 'limit_price is required' : `limit_price is not allowed for ${String(type)}`;
  if (needsStop !== (b['stop_price'] !== undefined)) return needsStop ? 'stop_price is required' : `stop_price is not allowed for ${String(type)}`;
  const tp = b['take_profit'];
  const sl = b['stop_loss'];
  if (tp !== undefined && !(isJson(tp) && typeof tp['limit_price'] === 'string')) return 'take_profit.limit_price is required';
  if (sl !== undefined && !(isJson(sl) && typeof sl['stop_price'] === 'string')) return 'stop_loss.stop_price is required';
  if (orderClass === 'bracket' && (tp === undefined || sl === undefined)) return 'bracket orders require take_profit and stop_loss';
  if (orderClass === 'oto' && (tp === undefined) === (sl === undefined)) return 'oto orders require exactly one of take_profit and stop_loss';
  if ((orderClass === 'simple' || orderClass === '') && (tp !== undefined || sl !== undefined)) return 'take_profit/stop_loss need order_class bracket or oto';
  return undefined;
}

export function positionJson(symbol: string, p: { qty: number; avg: number }, price: number, assetId: string): Json {
  const qty = p.qty;
  const marketValue = qty * price;
  const costBasis = qty * p.avg;
  const pl = marketValue - costBasis;
  return {
    asset_id: assetId,
    symbol,
    exchange: 'NASDAQ',
    asset_class: 'us_equity',
    asset_marginable: true,
    // Alpaca signs qty for shorts and says so in `side` as well.
    qty: String(qty),
    qty_available: String(qty),
    side: qty < 0 ? 'short' : 'long',
    avg_entry_price: String(p.avg),
    market_value: String(marketValue),
    cost_basis: String(costBasis),
    unrealized_pl: String(pl),
    unrealized_plpc: String(costBasis === 0 ? 0 : pl / Math.abs(costBasis)),
    unrealized_intraday_pl: String(pl),
    unrealized_intraday_plpc: String(costBasis === 0 ? 0 : pl / Math.abs(costBasis)),
    current_price: String(price),
    lastday_price: String(price),
    change_today: '0',
  };
}

export function accountJson(accountId: string, blocked: boolean): Json {
  return {
    id: accountId,
    account_number: 'PA000FAKE0001',
    status: 'ACTIVE',
    crypto_status: 'ACTIVE',
    currency: 'USD',
    cash: '100000',
    buying_power: '200000',
    equity: '100000',
    portfolio_value: '100000',
    pattern_day_trader: false,
    shorting_enabled: true,
    multiplier: '2',
    trading_blocked: blocked,
    account_blocked: blocked,
    transfers_blocked: blocked,
    trade_suspended_by_user: false,
    created_at: '2026-01-01T00:00:00Z',
  };
}
