/** The mock broker's books: the order row it keeps, and how a filled order moves its position. */
import { applyFill, type LedgerEntry } from '../../domain/ledger.js';
import type { Order } from '../../domain/types.js';

export function mockOrderRow(connector: string, order: Order, now: Date) {
  return { connector, ...order, created_at: now.getTime() };
}

/** Whether the order moves the mock position (the dialect reads, and locks, it only then). */
export const mockOrderFills = (order: Order): order is Order & { fill_price: number } => order.filled_quantity > 0 && order.fill_price !== null;

/** The mock position after the order, or null when the order did not fill (nothing moves). */
export function planMockFill(current: LedgerEntry | null, order: Order): LedgerEntry | null {
  if (!mockOrderFills(order)) return null;
  const next = applyFill(current, { side: order.side, quantity: order.filled_quantity, price: order.fill_price });
  return { quantity: next.quantity, avg_price: next.avg_price };
}

export { OPEN_ORDER_STATUSES } from '../../domain/types.js';
