/** Builders of the order contract tests: a placement answered by the connector, and a later report of it. */
import type { Order, Side } from '../../../src/domain/types.js';
import type { FinishInput, FinishOutcome, OrderUpdateInput, SignalRecord, Store } from '../../../src/store/store.js';
import { DAY, allow, at, recordExecuting, result } from './helpers.js';

export interface Placement {
  rec: SignalRecord;
  /** The order as the connector answered the placement. */
  placed: Order;
  outcome: FinishOutcome;
}

/**
 * Gates a signal (a buy reserves quantity × price, a sell is an exit reserving no notional) and
 * finishes it with the connector's answer: `new`, nothing filled, unless `answer` says otherwise.
 */
export async function placeOpen(
  store: Store,
  o: { instrument: string; quantity: number; price: number; side?: Side; connector?: string },
  answer: Partial<Order> = {},
  finish: Partial<FinishInput> = {},
): Promise<Placement> {
  const side = o.side ?? 'buy';
  const exit = side === 'sell';
  const rec = await recordExecuting(
    store,
    { instrument: o.instrument, ...(o.connector === undefined ? {} : { connector: o.connector }), signal: { action: side, quantity: o.quantity, price: o.price, order_type: 'limit', limit_price: o.price } },
    allow({ side, quantity: o.quantity, exit, reserved_notional: exit ? 0 : o.quantity * o.price, reference_price: o.price }),
  );
  const placed: Order = {
    client_order_id: rec.client_order_id,
    order_id: `ord-${rec.client_order_id}`,
    instrument: o.instrument,
    side,
    quantity: o.quantity,
    order_type: 'limit',
    limit_price: o.price,
    status: 'new',
    filled_quantity: 0,
    fill_price: null,
    ...answer,
  };
  const outcome = await store.finishSignal({
    signal_id: rec.signal_id,
    status: 'executed',
    result: result(rec, null, { status: placed.status, filled_quantity: placed.filled_quantity, fill_price: placed.fill_price }),
    order: placed,
    track_order: true,
    now: at(1),
    trading_day: DAY,
    max_daily_loss: null,
    ...finish,
  });
  return { rec, placed, outcome };
}

/** What the connector reports about `placed` later (cumulative figures), at T0 + `seconds`. */
export function reportOf(placed: Order, o: Partial<Order>, seconds: number, maxDailyLoss: number | null = null, connector = 'mock'): OrderUpdateInput {
  return { connector, order: { ...placed, ...o }, now: at(seconds), trading_day: DAY, max_daily_loss: maxDailyLoss };
}
