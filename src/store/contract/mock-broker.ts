/** The mock broker's durable state: it behaves like a broker, so it keeps its own books. */
import type { Order, Position } from '../../domain/types.js';
import type { Page } from './signals.js';

export interface MockOrderRecord extends Order {
  created_at: string;
}

export interface MockBrokerStore {
  /** Places and fills in one step. A known client_order_id returns the existing order, `created: false`. */
  placeOrder(connector: string, order: Order, now: Date): Promise<{ created: boolean; order: Order }>;
  getOrder(connector: string, clientOrderId: string): Promise<Order | null>;
  /**
   * Newest first, `limit` per page; `cursor` is the `next_cursor` of the previous page (the
   * last order's creation time and id, so orders of the same millisecond are neither skipped
   * nor repeated).
   */
  listOrders(connector: string, limit: number, cursor?: string): Promise<Page<MockOrderRecord>>;
  cancelOpenOrders(connector: string, instrument: string): Promise<number>;
  getPositions(connector: string): Promise<Position[]>;
}
