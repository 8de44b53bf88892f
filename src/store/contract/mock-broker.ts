/**
 * The mock broker's durable state (docs/execution.md#the-mock-connector): it behaves like a
 * broker, so it keeps its own books: its orders (with what drives their fills), its positions
 * and its last prices. Every change of an order after its placement is a conditional write, so
 * several instances running the mock's timers on one database never fill a part twice.
 */
import type { Order, OrderStatus, Position, TimeInForce } from '../../domain/types.js';
import type { Page } from './signals.js';

export interface MockOrderRecord extends Order {
  created_at: string;
}

/** An order as the mock keeps it: the order, and what drives its fills. */
export interface MockOrderState extends Order {
  /** A stop's trigger; a stop_limit's until it triggered (null after: it rests as a limit). */
  stop_price: number | null;
  time_in_force: TimeInForce;
  /** The price its parts fill at, once known; null while it rests waiting for a price. */
  price: number | null;
  /** When its next part fills (ms); null while it rests, and once it is done. */
  next_fill_at: number | null;
  /** A `day` order's end (ms); null: it does not expire. */
  expires_at: number | null;
}

/** What placeOrder takes: an order, and (for one that does not fill at once) what drives its fills. */
export type MockPlacement = Order & Partial<Pick<MockOrderState, 'stop_price' | 'time_in_force' | 'price' | 'next_fill_at' | 'expires_at'>>;

/** The row as a step read it: the step writes only if it is still so. */
export type MockOrderVersion = Pick<MockOrderState, 'client_order_id' | 'status' | 'filled_quantity' | 'next_fill_at' | 'stop_price'>;

/** What one step writes (mock plans decide it), and the part it fills, which moves the position. */
export interface MockOrderChange {
  status: OrderStatus;
  filled_quantity: number;
  fill_price: number | null;
  price: number | null;
  next_fill_at: number | null;
  stop_price: number | null;
  part: { quantity: number; price: number } | null;
}

export type MockOrderSelection =
  /** Open orders with a part or an end due at or before this time (ms). */
  | { due_by: number }
  /** Open orders of the instrument that rest waiting for a price. */
  | { resting: string };

export interface MockBrokerStore {
  /**
   * Places an order and, when it filled at once, moves the position, in one step. A known
   * client_order_id returns the existing order, `created: false`.
   */
  placeOrder(connector: string, order: MockPlacement, now: Date): Promise<{ created: boolean; order: Order }>;
  getOrder(connector: string, clientOrderId: string): Promise<Order | null>;
  /**
   * Newest first, `limit` per page; `cursor` is the `next_cursor` of the previous page (the
   * last order's creation time and id, so orders of the same millisecond are neither skipped
   * nor repeated).
   */
  listOrders(connector: string, limit: number, cursor?: string): Promise<Page<MockOrderRecord>>;
  /** Cancels the instrument's open orders (what filled stays filled); returns them as they are now. */
  cancelOpenOrders(connector: string, instrument: string, now: Date): Promise<Order[]>;
  getPositions(connector: string): Promise<Position[]>;
  /** Open orders with their fill state, oldest first. */
  openOrders(connector: string, which: MockOrderSelection): Promise<MockOrderState[]>;
  /** The earliest time (ms) a part or an end of an open order is due, or null when none is. */
  nextDueAt(connector: string): Promise<number | null>;
  /**
   * Writes `change` only if the row still is as `read` (status, filled quantity, next fill time,
   * stop price), moving the position by the part it fills in the same transaction. Returns the
   * order after the step, or null when someone else changed it first (nothing written).
   */
  updateOrder(connector: string, read: MockOrderVersion, change: MockOrderChange, now: Date): Promise<MockOrderState | null>;
  /** Stores the last prices (instrument → price), replacing earlier ones. */
  setPrices(connector: string, prices: Record<string, number>, now: Date): Promise<void>;
  getPrice(connector: string, instrument: string): Promise<number | null>;
}
