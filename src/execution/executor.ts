/**
 * The executor (CONTRACT §5): runs accepted signals in arrival order per (connector,
 * instrument) lane, lanes in parallel up to `execution.concurrency`. For each signal:
 * gate (decide + reserve, atomically in the store) → place through the one retry loop →
 * record. At start, signals left `executing` are reconciled by client_order_id before anything
 * else runs, then `accepted` ones resume.
 */
import type { Logger } from 'pino';
import type { ExecutionConfig, PolicyConfig } from '../config/schema.js';
import type { Connector, OrderRequest } from '../connectors/connector.js';
import type { Order, SignalStatus } from '../domain/types.js';
import { isFinalStatus } from '../domain/types.js';
import { OPERATOR_SOURCE } from '../ops/flatten.js';
import type { Metrics } from '../ops/metrics.js';
import { gateSignal } from './gate.js';
import { tradingDay } from '../guardrails/trading-time.js';
import type { ExecutionResult, Fill, SignalRecord, Store } from '../store/store.js';
import { onFailure, onSuccess, type BreakerState, type BreakerStep } from './breaker.js';
import { placeWithRetries, type PlaceDeps, type PlaceOutcome } from './place.js';

export interface ExecutorDeps {
  store: Store;
  connectors: ReadonlyMap<string, Connector>;
  policy: PolicyConfig;
  execution: ExecutionConfig;
  logger: Logger;
  metrics: Metrics;
  now: () => Date;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told about connector trouble, for `/admin/status` `recent_errors`. */
  onError?: (component: string, message: string, signalId: string | null) => void;
}

type Waiter = (record: SignalRecord | null) => void;

export class Executor {
  private readonly lanes = new Map<string, string[]>();
  private readonly waitingLanes: string[] = [];
  private readonly queued = new Set<string>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private running = 0;
  private stopping = false;
  /** Nothing runs until `start()` has reconciled what a previous run left executing. */
  private started = false;
  private readonly idle = new Set<() => void>();

  constructor(private readonly deps: ExecutorDeps) {}

  /**
   * Reconciles `executing` signals, runs `beforeResume` (position reconciliation), then resumes
   * `accepted` ones, oldest first.
   */
  async start(beforeResume?: () => Promise<void>): Promise<void> {
    const { store } = this.deps;
    for (;;) {
      const executing = await store.listSignalsByStatus('executing', 500);
      if (executing.length === 0) break;
      for (const record of executing) await this.reconcile(record);
    }
    await beforeResume?.();
    const seen = new Set<string>();
    for (;;) {
      const accepted = (await store.listSignalsByStatus('accepted', 1000)).filter((r) => !seen.has(r.signal_id));
      if (accepted.length === 0) break;
      for (const record of accepted) {
        seen.add(record.signal_id);
        this.submit(record);
      }
      if (accepted.length < 1000) break;
    }
    this.started = true;
    this.pump();
  }

  /** Queues a newly accepted signal in its lane. */
  submit(record: SignalRecord): void {
    if (this.stopping || this.queued.has(record.signal_id)) return;
    this.queued.add(record.signal_id);
    const lane = `${record.connector}\u0000${record.instrument}`;
    const queue = this.lanes.get(lane);
    if (queue !== undefined) {
      queue.push(record.signal_id);
      return;
    }
    this.lanes.set(lane, [record.signal_id]);
    this.waitingLanes.push(lane);
    this.pump();
  }

  /** Resolves with the final record, or null when `ms` passes first. */
  waitForFinal(signalId: string, ms: number): Promise<SignalRecord | null> {
    return new Promise((resolve) => {
      const set = this.waiters.get(signalId) ?? new Set<Waiter>();
      this.waiters.set(signalId, set);
      const timer = setTimeout(() => {
        set.delete(done);
        if (set.size === 0) this.waiters.delete(signalId);
        resolve(null);
      }, ms);
      const done: Waiter = (record) => {
        clearTimeout(timer);
        resolve(record);
      };
      set.add(done);
    });
  }

  /** Signals being worked on right now (for status and shutdown). */
  get inFlight(): number {
    return this.running;
  }

  /** Stops taking work; resolves when in-flight signals finished or the deadline passed. */
  async stop(deadlineMs: number): Promise<boolean> {
    this.stopping = true;
    this.waitingLanes.length = 0;
    // Callers waiting for an outcome get their 202 now rather than at their own timeout.
    for (const [id, set] of this.waiters) {
      this.waiters.delete(id);
      for (const waiter of set) waiter(null);
    }
    if (this.running === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idle.delete(onIdle);
        resolve(false);
      }, deadlineMs);
      const onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idle.add(onIdle);
    });
  }

  private pump(): void {
    while (this.started && !this.stopping && this.running < this.deps.execution.concurrency && this.waitingLanes.length > 0) {
      const lane = this.waitingLanes.shift();
      if (lane === undefined) break;
      this.running += 1;
      void this.drainLane(lane).finally(() => {
        this.running -= 1;
        if (this.running === 0) for (const fn of this.idle) fn();
        this.pump();
      });
    }
  }

  private async drainLane(lane: string): Promise<void> {
    const queue = this.lanes.get(lane);
    if (queue === undefined) return;
    while (!this.stopping) {
      const signalId = queue.shift();
      if (signalId === undefined) break;
      try {
        await this.process(signalId);
      } catch (err) {
        // A store failure: the signal stays in its durable state and is picked up at the next start.
        this.deps.logger.error({ err, signal_id: signalId }, 'executor could not process signal');
        this.deps.onError?.('executor', (err as Error).message, signalId);
      } finally {
        this.queued.delete(signalId);
      }
    }
    if (queue.length === 0 || this.stopping) this.lanes.delete(lane);
    else this.waitingLanes.push(lane);
  }

  private async process(signalId: string): Promise<void> {
    const { store, policy, now } = this.deps;
    const record = await store.getSignal(signalId);
    if (record === null) return;
    if (record.status === 'executing') return this.reconcile(record);
    if (record.status !== 'accepted') return this.notify(record);

    const connector = this.connectorFor(record);
    const at = now();
    const gated = await store.gateSignal({
      signal_id: record.signal_id,
      connector: record.connector,
      instrument: record.instrument,
      now: at,
      trading_day: tradingDay(at, policy.trading_day_tz),
      decide: (state, breaker) =>
        gateSignal(record.signal, state, breaker, connector.capabilities, policy, this.deps.execution.breaker, at, { operator: record.source === OPERATOR_SOURCE }),
    });
    const log = this.deps.logger.child({ signal_id: record.signal_id, request_id: record.request_id });
    if (gated.kind === 'skipped') return;
    this.deps.metrics.signals.inc({ status: gated.kind });
    if (gated.kind === 'rejected') {
      for (const failure of gated.decision.failures) this.deps.metrics.rejections.inc({ rule: failure.rule });
      this.observeFinal(gated.record);
      log.info({ failures: gated.decision.failures }, 'signal rejected by guardrails');
      return this.notify(gated.record);
    }
    const { decision } = gated;
    log.info({ side: decision.side, quantity: decision.quantity, exit: decision.exit }, 'signal executing');

    if (record.signal.action === 'cancel') {
      const res = await connector.cancel(record.instrument);
      const result: ExecutionResult = res.ok
        ? { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'canceled', filled_quantity: 0, fill_price: null }
        : { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'error', filled_quantity: 0, fill_price: null, error: res.reason };
      return this.finish(record, res.ok ? 'executed' : 'failed', result, null);
    }
    if (decision.side === null || decision.quantity === null) {
      // close when flat, target already reached: nothing to order, and that is the outcome.
      const result: ExecutionResult = { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'no_op', filled_quantity: 0, fill_price: null };
      return this.finish(record, 'executed', result, null);
    }
    const request: OrderRequest = {
      client_order_id: record.client_order_id,
      signal_id: record.signal_id,
      instrument: record.instrument,
      side: decision.side,
      quantity: decision.quantity,
      order_type: record.signal.order_type,
      time_in_force: record.signal.time_in_force,
      signal: record.signal,
    };
    if (record.signal.limit_price !== undefined) request.limit_price = record.signal.limit_price;
    if (record.signal.stop_price !== undefined) request.stop_price = record.signal.stop_price;
    if (record.signal.take_profit !== undefined) request.take_profit = record.signal.take_profit;
    if (record.signal.stop_loss !== undefined) request.stop_loss = record.signal.stop_loss;
    const reference = decision.reference_price ?? record.signal.price;
    if (reference !== undefined && reference !== null) request.reference_price = reference;

    // Attempts continue their numbering after an operator's retry of a failed signal.
    const previous = await this.deps.store.listAttempts(record.signal_id);
    const outcome = await placeWithRetries(this.placeDeps(record, previous.length + 1), connector, request, { lookupFirst: previous.length > 0 });
    return this.settle(record, connector, outcome);
  }

  /** A signal found `executing` (after a crash, or a lease takeover): ask the connector first. */
  private async reconcile(record: SignalRecord): Promise<void> {
    const connector = this.connectorFor(record);
    const decision = record.decision;
    const log = this.deps.logger.child({ signal_id: record.signal_id, request_id: record.request_id });
    if (decision === null || decision.side === null || decision.quantity === null || record.signal.action === 'cancel') {
      // Nothing was to be ordered (cancel, no-op): finishing it again is harmless.
      log.warn('reconciling an executing signal that placed no order');
      const result: ExecutionResult = { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'no_op', filled_quantity: 0, fill_price: null };
      return this.finish(record, 'executed', result, null);
    }
    log.warn({ client_order_id: record.client_order_id }, 'reconciling an executing signal by client_order_id');
    const request: OrderRequest = {
      client_order_id: record.client_order_id,
      signal_id: record.signal_id,
      instrument: record.instrument,
      side: decision.side,
      quantity: decision.quantity,
      order_type: record.signal.order_type,
      time_in_force: record.signal.time_in_force,
      signal: record.signal,
    };
    if (record.signal.limit_price !== undefined) request.limit_price = record.signal.limit_price;
    if (record.signal.stop_price !== undefined) request.stop_price = record.signal.stop_price;
    if (decision.reference_price !== null) request.reference_price = decision.reference_price;
    const previous = await this.deps.store.listAttempts(record.signal_id);
    const outcome = await placeWithRetries(this.placeDeps(record, previous.length + 1), connector, request, { lookupFirst: true });
    return this.settle(record, connector, outcome);
  }

  private placeDeps(record: SignalRecord, firstAttempt: number): PlaceDeps {
    const { store, execution, now } = this.deps;
    return {
      now,
      backoff: execution.backoff,
      maxAttempts: execution.max_attempts,
      random: this.deps.random ?? Math.random,
      sleep: this.deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
      firstAttempt,
      recordAttempt: (n: number, outcome: string, error: string | null) => {
        this.deps.metrics.connectorCalls.inc({ connector: record.connector, outcome });
        return store.recordAttempt(record.signal_id, { n, at: now().toISOString(), outcome, error });
      },
      onError: (message: string) => this.deps.onError?.(`connector:${record.connector}`, message, record.signal_id),
      onTransientFailure: (reason: string) =>
        this.reportBreaker(record.connector, (s) => onFailure(s, now(), execution.breaker), `transient failure: ${reason}`),
      onAnswer: () => this.reportBreaker(record.connector, (s) => onSuccess(s, now()), 'connector answered'),
    };
  }

  /** Applies a breaker step to the stored, shared breaker state. */
  private async reportBreaker(connector: string, step: (s: BreakerState) => BreakerStep, reason: string): Promise<void> {
    const seen: { transition: BreakerStep['transition'] } = { transition: null };
    const next = await this.deps.store.updateBreaker(
      connector,
      (s) => {
        const result = step(s);
        seen.transition = result.transition;
        return result;
      },
      this.deps.now(),
      reason,
    );
    if (seen.transition !== null) this.deps.logger.warn({ connector, breaker: next, reason }, `breaker ${seen.transition}`);
  }

  private async settle(record: SignalRecord, connector: Connector, outcome: PlaceOutcome): Promise<void> {
    if (outcome.ok) {
      const order: Order = outcome.order;
      const result: ExecutionResult = {
        connector: connector.name,
        client_order_id: record.client_order_id,
        order_id: order.order_id,
        status: order.status,
        filled_quantity: order.filled_quantity,
        fill_price: order.fill_price,
      };
      const fill: Fill | null =
        order.filled_quantity > 0 && order.fill_price !== null ? { side: order.side, quantity: order.filled_quantity, price: order.fill_price } : null;
      const failed = order.status === 'rejected' || order.status === 'canceled' || order.status === 'expired';
      return this.finish(record, failed && fill === null ? 'failed' : 'executed', result, fill);
    }
    const result: ExecutionResult = {
      connector: connector.name,
      client_order_id: record.client_order_id,
      order_id: null,
      status: 'error',
      filled_quantity: 0,
      fill_price: null,
      error: outcome.reason,
    };
    return this.finish(record, 'failed', result, null);
  }

  private async finish(record: SignalRecord, status: 'executed' | 'failed', result: ExecutionResult, fill: Fill | null): Promise<void> {
    const { store, policy, now, logger } = this.deps;
    const at = now();
    const day = tradingDay(at, policy.trading_day_tz);
    const finished = await store.finishSignal({ signal_id: record.signal_id, status, result, fill, now: at, trading_day: day });
    logger.info({ signal_id: record.signal_id, request_id: record.request_id, status, result }, `signal ${status}`);
    this.deps.metrics.signals.inc({ status });
    this.observeFinal(finished.record);
    if (policy.max_daily_loss !== null && finished.realized_pnl_today <= -policy.max_daily_loss) {
      const mode = await store.getMode();
      if (mode.mode === 'enabled') {
        logger.warn({ realized_pnl_today: finished.realized_pnl_today, limit: policy.max_daily_loss }, 'daily loss limit breached: switching to exit_only');
        await store.setMode('exit_only', 'daily_loss', 'guardrails', at);
      }
    }
    this.notify(finished.record);
  }

  private observeFinal(record: SignalRecord): void {
    this.deps.metrics.executionSeconds.observe({ status: record.status }, Math.max(0, (Date.parse(record.updated_at) - Date.parse(record.received_at)) / 1000));
  }

  private notify(record: SignalRecord): void {
    const status: SignalStatus = record.status;
    if (!isFinalStatus(status)) return;
    const set = this.waiters.get(record.signal_id);
    if (set === undefined) return;
    this.waiters.delete(record.signal_id);
    for (const waiter of set) waiter(record);
  }

  private connectorFor(record: SignalRecord): Connector {
    const connector = this.deps.connectors.get(record.connector);
    if (connector === undefined) throw new Error(`signal ${record.signal_id} names connector "${record.connector}", which is not configured`);
    return connector;
  }
}
