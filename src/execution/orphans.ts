/**
 * Reports about orders sluice has not recorded yet (docs/execution.md#where-order-updates-come-from):
 * a stream can beat the placement's answer, or report an order another instance is still
 * recording. The newest report per order is kept for a minute and tried again (250 ms, doubling),
 * and at once when this instance records the order; then the tracker observes what it booked.
 */
import { isTerminalOrderStatus, type Order } from '../domain/types.js';
import type { OrderRecord, OrderUpdateOutcome } from '../store/store.js';

/** How long a report about an order sluice has not recorded yet is kept (its placement may be committing). */
const ORPHAN_TTL_MS = 60_000;
/**
 * Such a report is tried again after this long, doubling: the order may be recorded by another
 * instance (whose `recorded` never reaches this one), so waiting for `recorded` alone would lose it.
 */
const ORPHAN_RETRY_MS = 250;
/** Bounded: a stream also carries orders that are not sluice's (placed by hand, bracket legs). */
const MAX_ORPHANS = 10_000;

interface Orphan {
  connector: string;
  order: Order;
  until: number;
  retryAt: number;
  delay: number;
}

/** Reports are cumulative: one behind the report held (less filled, or open after terminal) adds nothing. */
const isBehind = (order: Order, held: Order): boolean =>
  order.filled_quantity < held.filled_quantity || (order.filled_quantity === held.filled_quantity && isTerminalOrderStatus(held.status) && !isTerminalOrderStatus(order.status));

export interface OrphanDeps {
  now: () => Date;
  /** Books a report (the store step); `record: null` while the order is still unknown. */
  book: (connector: string, order: Order) => Promise<OrderUpdateOutcome>;
  /** What a report booked, once it was booked. */
  booked: (record: OrderRecord, outcome: OrderUpdateOutcome) => void;
  failed: (connector: string, err: unknown) => void;
}

export class OrphanReports {
  private readonly held = new Map<string, Orphan>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly deps: OrphanDeps) {}

  /** Keeps a report about an order not recorded yet (the newest one per order) and tries it again soon. */
  park(connector: string, order: Order): void {
    const held = this.held.get(order.client_order_id);
    if (held !== undefined && isBehind(order, held.order)) return;
    if (held === undefined && this.held.size >= MAX_ORPHANS) return;
    const now = this.deps.now().getTime();
    this.held.set(order.client_order_id, { connector, order, until: now + ORPHAN_TTL_MS, retryAt: now + ORPHAN_RETRY_MS, delay: ORPHAN_RETRY_MS });
    this.arm();
  }

  /** The order was recorded here: what was kept for it is applied now (and kept on a failure, for the retries). */
  async recorded(order: OrderRecord): Promise<void> {
    const orphan = this.held.get(order.client_order_id);
    if (orphan === undefined) return;
    await this.tryOne(order.client_order_id, orphan);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.held.clear();
  }

  private arm(): void {
    if (this.timer !== null || this.stopped || this.held.size === 0) return;
    this.timer = setTimeout(() => {
      void this.retryDue().finally(() => {
        this.timer = null;
        this.arm();
      });
    }, ORPHAN_RETRY_MS);
    this.timer.unref();
  }

  /** Applies the kept reports that are due; one whose order is still unknown waits twice as long, until it expires. */
  private async retryDue(): Promise<void> {
    const now = this.deps.now().getTime();
    for (const [id, orphan] of [...this.held]) {
      if (this.stopped) return;
      if (orphan.until < now) {
        this.held.delete(id);
        continue;
      }
      if (orphan.retryAt > now) continue;
      orphan.delay *= 2;
      orphan.retryAt = now + orphan.delay;
      await this.tryOne(id, orphan);
    }
  }

  private async tryOne(id: string, orphan: Orphan): Promise<void> {
    try {
      const outcome = await this.deps.book(orphan.connector, orphan.order);
      if (outcome.record === null) return;
      // A newer report parked meanwhile stays, and is applied in its turn.
      if (this.held.get(id) === orphan) this.held.delete(id);
      this.deps.booked(outcome.record, outcome);
    } catch (err) {
      this.deps.failed(orphan.connector, err);
    }
  }
}
