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
import type { Order } from '../domain/types.js';
import { tradingDay } from '../guardrails/trading-time.js';
import type { OrderRecord, OrderUpdateOutcome } from '../store/store.js';
import type { ExecutorDeps } from './executor-deps.js';
import { OrphanReports } from './orphans.js';
import { guarded } from './place.js';
import { traceLinked, tracingActive } from '../telemetry/tracing.js';

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

/** An open order the broker keeps not knowing is ended after this many lookups over at least this long. */
const UNKNOWN_LOOKUPS = 3;
const UNKNOWN_MS = 30_000;
/** Safety sweep of a streaming connector's open orders, in poll periods: a message lost while connected is found. */
const SWEEP_EVERY_POLLS = 12;

type Source = 'placement' | 'stream' | 'poll';

const laneKey = (connector: string, instrument: string): string => `${connector}\u0000${instrument}`;

export class OrderTracker {
  private readonly streams = new Map<string, { connected: boolean; reason: string | null; since: Date; everConnected: boolean }>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly orphans: OrphanReports;
  /** Lanes whose open orders were looked up since start. */
  private readonly checked = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** Connectors being polled now, and those asked to be polled again once that poll ends. */
  private readonly polling = new Map<string, Promise<boolean>>();
  private readonly pollAgain = new Set<string>();
  /** Open orders the broker said it does not know: since when, how many times. */
  private readonly missing = new Map<string, { since: number; times: number }>();
  private polls = 0;
  /** A poll round still running: the next tick is skipped rather than piled on it. */
  private ticking = false;
  private stopped = false;

  constructor(private readonly deps: TrackerDeps) {
    this.orphans = new OrphanReports({
      now: deps.now,
      book: (connector, order) => this.book(connector, order),
      booked: (record, outcome) => this.observe(record, outcome, 'stream'),
      failed: (connector, err) => this.failed(connector, err),
    });
  }

  /** The executor recorded an order: a report that arrived before it is applied now. */
  recorded(order: OrderRecord): Promise<void> {
    return this.orphans.recorded(order);
  }

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
    this.orphans.stop();
    for (const stop of this.unsubscribe.splice(0)) stop();
  }

  streamStatus(): StreamStatus[] {
    return [...this.streams].map(([connector, s]) => ({ connector, connected: s.connected, reason: s.reason, since: s.since.toISOString() }));
  }

  /** Books what a connector reports about an order; a report about an order not recorded yet is kept a while. */
  async apply(connectorName: string, order: Order, source: Source): Promise<OrderUpdateOutcome> {
    const outcome = await this.book(connectorName, order);
    if (outcome.record === null) {
      if (source === 'stream') this.orphans.park(connectorName, order);
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
    for (const connector of this.deps.connectors.values()) {
      const updates = connector.capabilities.order_updates;
      if (updates === 'none') continue;
      const streaming = this.streams.get(connector.name)?.connected === true;
      if (streaming && !sweep) continue;
      await this.pollConnector(connector);
    }
  }

  /** One poll of a connector at a time: a call while one runs (a flapping stream) asks for one more after it. */
  private pollConnector(connector: Connector): Promise<boolean> {
    const running = this.polling.get(connector.name);
    if (running !== undefined) {
      this.pollAgain.add(connector.name);
      return running;
    }
    const run = this.pollConnectorOnce(connector).finally(() => {
      this.polling.delete(connector.name);
      if (this.pollAgain.delete(connector.name) && !this.stopped) void this.pollConnector(connector);
    });
    this.polling.set(connector.name, run);
    return run;
  }

  private async pollConnectorOnce(connector: Connector): Promise<boolean> {
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
        await this.unknownAtBroker(connector, order);
        continue;
      }
      this.missing.delete(order.client_order_id);
      await this.apply(connector.name, found.value, 'poll');
    }
    return answered;
  }

  /**
   * The broker answers, and does not know an order it took (an account reset, other keys): it
   * will never fill more. Said at each lookup; after UNKNOWN_LOOKUPS answers over UNKNOWN_MS it is
   * ended as `expired` (alerted), what filled staying booked, so that it stops holding its
   * reservation and its lane (a close would otherwise wait for it for ever).
   */
  private async unknownAtBroker(connector: Connector, order: OrderRecord): Promise<void> {
    const now = this.deps.now().getTime();
    const seen = this.missing.get(order.client_order_id) ?? { since: now, times: 0 };
    seen.times += 1;
    this.missing.set(order.client_order_id, seen);
    this.deps.logger.error({ connector: connector.name, client_order_id: order.client_order_id, signal_id: order.signal_id, times: seen.times }, 'an open order is unknown to its connector');
    if (seen.times < UNKNOWN_LOOKUPS || now - seen.since < UNKNOWN_MS) return;
    this.missing.delete(order.client_order_id);
    const { client_order_id, instrument, side, quantity, order_type, limit_price, filled_quantity, avg_fill_price } = order;
    const ended: Order = { client_order_id, order_id: order.order_id ?? '', instrument, side, quantity, order_type, limit_price, status: 'expired', filled_quantity, fill_price: avg_fill_price };
    await this.apply(connector.name, ended, 'poll');
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
      if (tracingActive()) {
        const { quantity, price } = outcome.fill;
        const attributes = { 'sluice.signal_id': record.signal_id, 'sluice.connector': record.connector, 'sluice.client_order_id': record.client_order_id, 'sluice.order.status': record.status, 'sluice.fill.quantity': quantity, 'sluice.fill.price': price, 'sluice.fill.source': source };
        traceLinked('order.fill', async () => (await this.deps.store.getSignal(record.signal_id))?.trace_parent ?? null, attributes);
      }
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
