/**
 * The order tracker (docs/execution.md#orders): follows every order sluice placed until it is
 * terminal, and books what the connector reports through the one store step that books fills
 * (`applyOrderUpdate`, where the order row is the arbiter: a report applied twice, here or at
 * another instance, books nothing twice). Sources, in order: the connector's stream; polling of
 * every open order by client_order_id every `order_poll_seconds` while the stream is down (always,
 * for a connector without one) and once after every reconnect; and, at start, a lookup of a
 * lane's open orders before anything else of that lane runs. A streamed report about an order
 * not recorded yet is kept and tried again until it is (another instance may be recording it).
 */
import type { Connector } from '../connectors/connector.js';
import { nextDelay } from '../domain/backoff.js';
import { isTerminalOrderStatus, type Order } from '../domain/types.js';
import { tradingDay } from '../guardrails/trading-time.js';
import type { OrderRecord, OrderUpdateOutcome } from '../store/store.js';
import type { ExecutorDeps } from './executor-deps.js';
import { guarded } from './place.js';

export type TrackerDeps = Pick<ExecutorDeps, 'store' | 'connectors' | 'policy' | 'execution' | 'logger' | 'metrics' | 'now' | 'onError' | 'random'>;

/** A connector's stream as status shows it. */
export interface StreamStatus {
  connector: string;
  connected: boolean;
  /** Why it is down, when it is. */
  reason: string | null;
  /** Since when it is in this state. */
  since: string;
}

/** How long a report about an order sluice has not recorded yet is kept (its placement may be committing). */
const ORPHAN_TTL_MS = 60_000;
/**
 * Such a report is tried again after this long, doubling: the order may be recorded by another
 * instance (whose `recorded` never reaches this one), so waiting for `recorded` alone would lose it.
 */
const ORPHAN_RETRY_MS = 250;
/** Bounded: a stream also carries orders that are not sluice's (placed by hand, bracket legs). */
const MAX_ORPHANS = 10_000;
/** Safety sweep of a streaming connector's open orders, in poll periods: a message lost while connected is found. */
const SWEEP_EVERY_POLLS = 12;

type Source = 'placement' | 'stream' | 'poll';

const laneKey = (connector: string, instrument: string): string => `${connector}\u0000${instrument}`;

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

export class OrderTracker {
  private readonly streams = new Map<string, { connected: boolean; reason: string | null; since: Date; everConnected: boolean }>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly orphans = new Map<string, Orphan>();
  private orphanTimer: NodeJS.Timeout | null = null;
  /** Lanes whose open orders were looked up since start. */
  private readonly checked = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private polls = 0;
  /** A poll round still running: the next tick is skipped rather than piled on it. */
  private ticking = false;
  private stopped = false;

  constructor(private readonly deps: TrackerDeps) {}

  /** Subscribes to every streaming connector and starts polling. */
  start(): void {
    for (const connector of this.deps.connectors.values()) {
      if (connector.capabilities.order_updates !== 'stream' || connector.subscribe === undefined) continue;
      this.streams.set(connector.name, { connected: false, reason: 'connecting', since: this.deps.now(), everConnected: false });
      this.unsubscribe.push(
        connector.subscribe({
          onUpdate: (order) => void this.apply(connector.name, order, 'stream').catch((err: unknown) => this.failed(connector.name, err)),
          onState: (state) => this.streamState(connector, state.connected, state.reason ?? null),
        }),
      );
    }
    const period = this.deps.execution.order_poll_seconds * 1000;
    this.timer = setInterval(() => void this.tick(false), period);
    this.timer.unref();
    // Fills may have happened while sluice was down: every open order is asked about once.
    void this.tick(true);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.orphanTimer !== null) clearTimeout(this.orphanTimer);
    for (const stop of this.unsubscribe.splice(0)) stop();
  }

  streamStatus(): StreamStatus[] {
    return [...this.streams].map(([connector, s]) => ({ connector, connected: s.connected, reason: s.reason, since: s.since.toISOString() }));
  }

  /** Books what a connector reports about an order; a report about an order not recorded yet is kept a while. */
  async apply(connectorName: string, order: Order, source: Source): Promise<OrderUpdateOutcome> {
    const outcome = await this.book(connectorName, order);
    if (outcome.record === null) {
      if (source === 'stream') this.park(connectorName, order);
      return outcome;
    }
    this.observe(outcome.record, outcome, source);
    return outcome;
  }

  private book(connectorName: string, order: Order): Promise<OrderUpdateOutcome> {
    const at = this.deps.now();
    const { policy } = this.deps;
    return this.deps.store.applyOrderUpdate({
      connector: connectorName,
      order,
      now: at,
      trading_day: tradingDay(at, policy.trading_day_tz),
      max_daily_loss: policy.max_daily_loss,
    });
  }

  /** Keeps a report about an order not recorded yet (the newest one per order) and tries it again soon. */
  private park(connector: string, order: Order): void {
    const held = this.orphans.get(order.client_order_id);
    if (held !== undefined && isBehind(order, held.order)) return;
    if (held === undefined && this.orphans.size >= MAX_ORPHANS) return;
    const now = this.deps.now().getTime();
    this.orphans.set(order.client_order_id, { connector, order, until: now + ORPHAN_TTL_MS, retryAt: now + ORPHAN_RETRY_MS, delay: ORPHAN_RETRY_MS });
    this.armOrphans();
  }

  private armOrphans(): void {
    if (this.orphanTimer !== null || this.stopped || this.orphans.size === 0) return;
    this.orphanTimer = setTimeout(() => {
      void this.retryOrphans().finally(() => {
        this.orphanTimer = null;
        this.armOrphans();
      });
    }, ORPHAN_RETRY_MS);
    this.orphanTimer.unref();
  }

  /** Applies the kept reports that are due; one whose order is still unknown waits twice as long, until it expires. */
  private async retryOrphans(): Promise<void> {
    const now = this.deps.now().getTime();
    for (const [id, orphan] of [...this.orphans]) {
      if (this.stopped) return;
      if (orphan.until < now) {
        this.orphans.delete(id);
        continue;
      }
      if (orphan.retryAt > now) continue;
      orphan.delay *= 2;
      orphan.retryAt = now + orphan.delay;
      try {
        const outcome = await this.book(orphan.connector, orphan.order);
        if (outcome.record === null) continue;
        // A newer report parked meanwhile stays, and is applied in its turn.
        if (this.orphans.get(id) === orphan) this.orphans.delete(id);
        this.observe(outcome.record, outcome, 'stream');
      } catch (err) {
        this.failed(orphan.connector, err);
      }
    }
  }

  /** The executor recorded an order: a report that arrived before it is applied now. */
  async recorded(order: OrderRecord): Promise<void> {
    const orphan = this.orphans.get(order.client_order_id);
    if (orphan === undefined) return;
    this.orphans.delete(order.client_order_id);
    await this.apply(orphan.connector, orphan.order, 'stream');
  }

  /**
   * Before anything of a lane runs for the first time since start, its open orders are looked
   * up (fills may have happened while sluice was down). False when a lookup could not be
   * answered: the lane waits and asks again.
   */
  async ensureChecked(connector: Connector, instrument: string): Promise<boolean> {
    const key = laneKey(connector.name, instrument);
    if (this.checked.has(key) || connector.capabilities.order_updates === 'none') return true;
    const answered = await this.pollOrders(connector, await this.deps.store.openOrders(connector.name, instrument));
    if (answered) this.checked.add(key);
    return answered;
  }

  /**
   * `close` and `target` first cancel the lane's open orders and wait until each is terminal
   * (canceled, or filled meanwhile): then the settled position is the whole truth. Returns false
   * when stopped first (the signal stays accepted and runs again later).
   */
  async settleOpen(connector: Connector, instrument: string, sleep: (ms: number) => Promise<void>): Promise<boolean> {
    for (let round = 1; !this.stopped; round += 1) {
      const open = await this.deps.store.openOrders(connector.name, instrument);
      if (open.length === 0) return true;
      if (round === 1 || round % 10 === 0) {
        const cancelled = await guarded(() => connector.cancel(instrument));
        if (!cancelled.ok) this.deps.logger.warn({ connector: connector.name, instrument, reason: cancelled.reason }, 'cancelling open orders before a close failed; retrying');
      }
      await this.pollOrders(connector, open);
      if ((await this.deps.store.openOrders(connector.name, instrument)).length === 0) return true;
      await sleep(nextDelay(round, { base_ms: 100, cap_ms: 2_000 }, this.deps.random ?? Math.random));
    }
    return false;
  }

  /** One poll round: connectors that must be asked now (no stream, or the stream is down), and a periodic sweep of the rest. */
  private async tick(everything: boolean): Promise<void> {
    if (this.stopped || this.ticking) return;
    this.ticking = true;
    try {
      await this.pollRound(everything || (this.polls += 1) % SWEEP_EVERY_POLLS === 0);
    } finally {
      this.ticking = false;
    }
  }

  private async pollRound(sweep: boolean): Promise<void> {
    const now = this.deps.now().getTime();
    for (const [id, orphan] of this.orphans) if (orphan.until < now) this.orphans.delete(id);
    for (const connector of this.deps.connectors.values()) {
      const updates = connector.capabilities.order_updates;
      if (updates === 'none') continue;
      const streaming = this.streams.get(connector.name)?.connected === true;
      if (streaming && !sweep) continue;
      await this.pollConnector(connector);
    }
  }

  private async pollConnector(connector: Connector): Promise<boolean> {
    try {
      const open = await this.deps.store.openOrders(connector.name);
      const answered = await this.pollOrders(connector, open);
      if (answered) for (const order of open) this.checked.add(laneKey(connector.name, order.instrument));
      return answered;
    } catch (err) {
      this.failed(connector.name, err);
      return false;
    }
  }

  /** Asks the connector for each order; true when every lookup was answered. */
  private async pollOrders(connector: Connector, orders: readonly OrderRecord[]): Promise<boolean> {
    let answered = true;
    for (const order of orders) {
      if (this.stopped) return false;
      const found = await guarded(() => connector.getOrder(order.client_order_id));
      if (!found.ok) {
        answered = false;
        this.deps.onError?.(`connector:${connector.name}`, `order lookup failed: ${found.reason}`, order.signal_id);
        continue;
      }
      if (found.value === null) {
        // The broker does not know an order it took: nothing to book; an operator should look.
        this.deps.logger.error({ connector: connector.name, client_order_id: order.client_order_id, signal_id: order.signal_id }, 'an open order is unknown to its connector');
        continue;
      }
      await this.apply(connector.name, found.value, 'poll');
    }
    return answered;
  }

  private streamState(connector: Connector, connected: boolean, reason: string | null): void {
    const current = this.streams.get(connector.name);
    if (current !== undefined && current.connected === connected) return;
    const everConnected = (current?.everConnected ?? false) || connected;
    this.streams.set(connector.name, { connected, reason: connected ? null : reason, since: this.deps.now(), everConnected });
    if (!connected) {
      this.deps.logger.warn({ connector: connector.name, reason }, 'order stream down: polling open orders');
      return;
    }
    if (current?.everConnected === true) this.deps.metrics.streamReconnects.inc({ connector: connector.name });
    this.deps.logger.info({ connector: connector.name }, 'order stream connected');
    // What happened while it was down was not streamed: ask once.
    if (!this.stopped) void this.pollConnector(connector);
  }

  private observe(record: OrderRecord, outcome: OrderUpdateOutcome, source: Source): void {
    const { logger, metrics } = this.deps;
    const fields = { signal_id: record.signal_id, connector: record.connector, client_order_id: record.client_order_id, status: record.status, filled_quantity: record.filled_quantity, source };
    // Said even when nothing else changed: what sluice holds is short of what the broker filled.
    if (outcome.unusable_fill) logger.error(fields, 'connector reported an unusable fill; not booked');
    if (!outcome.changed) return;
    metrics.orderUpdates.inc({ connector: record.connector, status: record.status });
    if (outcome.fill !== null) {
      metrics.fills.inc({ connector: record.connector });
      logger.info({ ...fields, fill: outcome.fill }, 'fill booked');
    } else logger.info(fields, `order ${record.status}`);
    if (outcome.mode_changed !== null) logger.warn({ signal_id: record.signal_id, limit: this.deps.policy.max_daily_loss }, 'daily loss limit breached: switched to exit_only');
    if (record.status === 'rejected' || record.status === 'expired') logger.warn(fields, `order ${record.status}`);
  }

  private failed(connector: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.deps.logger.error({ err, connector }, 'order update could not be booked; the next poll asks again');
    this.deps.onError?.('orders', message, null);
  }
}
