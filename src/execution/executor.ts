/**
 * The executor (docs/execution.md#pipeline): runs accepted signals in arrival order per (connector,
 * instrument) lane, lanes in parallel up to `execution.concurrency`. For each signal:
 * gate (decide + reserve, atomically in the store) → place through the one retry loop →
 * record. At start, signals left `executing` are reconciled by client_order_id before anything
 * else runs, then `accepted` ones resume.
 */
import type { Logger } from 'pino';
import type { ExecutionConfig, PolicyConfig } from '../config/schema.js';
import type { Connector, OrderRequest } from '../connectors/connector.js';
import type { Decision, Order, SignalStatus } from '../domain/types.js';
import { isFinalStatus, OPERATOR_SOURCE } from '../domain/types.js';
import { isStoreUnavailable } from '../store/errors.js';
import type { Metrics } from '../telemetry/metrics.js';
import { lazyChild } from '../telemetry/logger.js';
import { decideWithBreaker } from './gate.js';
import { tradingDay } from '../guardrails/trading-time.js';
import type { Attempt, ExecutionResult, Fill, SignalRecord, Store } from '../store/store.js';
import { onFailure, onSuccess, type BreakerState, type BreakerStep } from '../domain/breaker.js';
import { cancelWithRetries, placeWithRetries, type PlaceDeps, type PlaceOutcome } from './place.js';

export interface ExecutorDeps {
  store: Store;
  connectors: ReadonlyMap<string, Connector>;
  policy: PolicyConfig;
  execution: ExecutionConfig;
  logger: Logger;
  metrics: Metrics;
  now: () => Date;
  /** This instance's name in leases (unique among instances sharing a database). */
  owner: string;
  /** SQLite: one process owns the file, so at start every `executing` signal is an orphan. */
  singleInstance: boolean;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told about connector trouble, for `/admin/status` `recent_errors`. */
  onError?: (component: string, message: string, signalId: string | null) => void;
  /** Told when a store call failed (the database may be down). */
  onStoreFailure?: (err: unknown) => void;
}

type Waiter = (record: SignalRecord | null) => void;

/** How many older signals a lane takes over in a row before it waits (see `process`). */
const MAX_TAKEOVERS = 20;

export class Executor {
  private readonly lanes = new Map<string, string[]>();
  private readonly waitingLanes: string[] = [];
  private readonly queued = new Set<string>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Executing signals this instance holds a lease on (renewed while they run). */
  private readonly held = new Set<string>();
  /** Executing signals this instance claimed from a dead owner (or at start): reconcile these. */
  private readonly claimed = new Set<string>();
  private running = 0;
  private stopping = false;
  /** Nothing runs until `start()` has reconciled what a previous run left executing. */
  private started = false;
  private readonly idle = new Set<() => void>();
  private sweeper: NodeJS.Timeout | null = null;
  /** Consecutive store failures per signal, for the retry delay. */
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly deps: ExecutorDeps) {}

  private get leaseMs(): number {
    return this.deps.execution.lease_seconds * 1000;
  }

  /**
   * Reconciles `executing` signals left by a dead run (all of them with SQLite; those whose
   * lease expired with PostgreSQL), runs `beforeResume` (position reconciliation), then resumes
   * `accepted` ones, oldest first, and starts the lease keeper.
   */
  async start(beforeResume?: () => Promise<void>): Promise<void> {
    const { store, now } = this.deps;
    for (;;) {
      // SQLite: no other process can hold a lease, so every executing signal is an orphan.
      const horizon = this.deps.singleInstance ? new Date(8.64e15) : now();
      const orphans = await store.claimExpired(this.deps.owner, horizon, new Date(now().getTime() + this.leaseMs), 100);
      if (orphans.length === 0) break;
      for (const record of orphans) {
        this.held.add(record.signal_id);
        try {
          await this.reconcile(record);
        } finally {
          this.held.delete(record.signal_id);
        }
      }
    }
    await beforeResume?.();
    await this.resumeAccepted(new Date(8.64e15));
    this.started = true;
    this.pump();
    const every = Math.max(250, Math.floor(this.leaseMs / 3));
    const tick = () => {
      if (this.stopping) return;
      this.sweeper = setTimeout(() => {
        void this.sweep().finally(() => {
          if (!this.stopping) tick();
        });
      }, every);
      this.sweeper.unref();
    };
    tick();
  }

  /** Queues `accepted` signals received before `before` (all at start; orphans later). */
  private async resumeAccepted(before: Date): Promise<void> {
    const seen = new Set<string>();
    for (;;) {
      const accepted = (await this.deps.store.listStaleAccepted(before, 1000)).filter((r) => !seen.has(r.signal_id));
      if (accepted.length === 0) break;
      for (const record of accepted) {
        seen.add(record.signal_id);
        this.submit(record);
      }
      if (accepted.length < 1000) break;
    }
  }

  /**
   * The lease keeper: renews the leases this instance holds, takes over executing signals whose
   * owner stopped renewing (reconciled by client_order_id first), and queues accepted signals
   * that waited longer than a lease (their instance died before executing them).
   */
  private async sweep(): Promise<void> {
    const { store, now, logger } = this.deps;
    try {
      const until = new Date(now().getTime() + this.leaseMs);
      await store.renewLeases(this.deps.owner, [...this.held], until);
      const expired = await store.claimExpired(this.deps.owner, now(), until, 50);
      for (const record of expired) {
        logger.warn({ signal_id: record.signal_id }, 'took over an executing signal whose lease expired');
        this.claimed.add(record.signal_id);
        this.queued.delete(record.signal_id);
        this.submit(record);
      }
      await this.resumeAccepted(new Date(now().getTime() - this.leaseMs));
    } catch (err) {
      logger.error({ err }, 'lease keeper failed; retrying at the next tick');
    }
  }

  /** Queues a signal in its lane (accepted ones, and executing ones this instance claimed). */
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
    if (this.stopping) return Promise.resolve(null);
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

  /** Stops taking work; resolves when in-flight signals finished or the deadline passed. */
  async stop(deadlineMs: number): Promise<boolean> {
    this.stopping = true;
    if (this.sweeper !== null) clearTimeout(this.sweeper);
    for (const timer of this.retryTimers) clearTimeout(timer);
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
        this.failures.delete(signalId);
      } catch (err) {
        // A store failure (the database may be down): the signal keeps its durable state and is
        // tried again here with backoff; if it was executing, the retry reconciles it first.
        this.deps.logger.error({ err, signal_id: signalId }, 'executor could not process signal; retrying');
        this.deps.onError?.('executor', (err as Error).message, signalId);
        // A database error that is not about a bad value means an outage; anything else (a bug,
        // a connector's broken answer) is retried without flagging the database.
        if (isStoreUnavailable(err)) this.deps.onStoreFailure?.(err);
        this.retryLater(lane, signalId);
      } finally {
        this.queued.delete(signalId);
        this.claimed.delete(signalId);
      }
    }
    if (queue.length === 0 || this.stopping) this.lanes.delete(lane);
    else this.waitingLanes.push(lane);
  }

  /**
   * One signal. An older signal of the same lane that is still `accepted` (queued at another
   * instance, or orphaned) is executed first, here: arrival order per lane holds across
   * instances, and the gate's conditional update makes sure only one instance runs it.
   */
  private async process(signalId: string): Promise<void> {
    for (let takeovers = 0; ; takeovers += 1) {
      const record = await this.deps.store.getSignal(signalId);
      if (record === null) return;
      if (record.status === 'executing') {
        // Only a signal this instance claimed; one executing elsewhere is not ours to touch.
        if (this.claimed.has(signalId)) await this.withLease(record.signal_id, () => this.reconcile(record));
        return;
      }
      if (record.status !== 'accepted') return this.notify(record);
      const blockedBy = await this.gateAndRun(record);
      if (blockedBy === null) return;
      if (takeovers >= MAX_TAKEOVERS) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        takeovers = 0;
      }
      const older = await this.deps.store.getSignal(blockedBy);
      if (older !== null && older.status === 'accepted') await this.gateAndRun(older);
    }
  }

  private retryLater(lane: string, signalId: string): void {
    const n = (this.failures.get(signalId) ?? 0) + 1;
    this.failures.set(signalId, n);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.stopping || this.queued.has(signalId)) return;
      this.claimed.add(signalId);
      this.queued.add(signalId);
      const queue = this.lanes.get(lane);
      if (queue !== undefined) {
        queue.unshift(signalId);
        return;
      }
      this.lanes.set(lane, [signalId]);
      this.waitingLanes.push(lane);
      this.pump();
    }, Math.min(30_000, 250 * 2 ** Math.min(n, 7)));
    timer.unref();
    this.retryTimers.add(timer);
  }

  private async withLease(signalId: string, fn: () => Promise<void>): Promise<void> {
    this.held.add(signalId);
    try {
      await fn();
    } finally {
      this.held.delete(signalId);
    }
  }

  /** Gates and, when allowed, executes; returns the id of an older signal that must go first, or null. */
  private async gateAndRun(record: SignalRecord): Promise<string | null> {
    const { store, policy, now } = this.deps;
    const connector = this.deps.connectors.get(record.connector) ?? null;
    const at = now();
    const gated = await store.gateSignal({
      signal_id: record.signal_id,
      connector: record.connector,
      instrument: record.instrument,
      now: at,
      owner: this.deps.owner,
      lease_until: new Date(at.getTime() + this.leaseMs),
      trading_day: tradingDay(at, policy.trading_day_tz),
      order_rate_cap: policy.max_orders_per_minute,
      decide: (state, breaker) =>
        connector === null
          ? { decision: unknownConnector(record.connector), breaker: null }
          : decideWithBreaker(record.signal, state, breaker, connector.capabilities, policy, this.deps.execution.breaker, at, { operator: record.source === OPERATOR_SOURCE }),
    });
    if (gated.kind === 'blocked') return gated.by;
    if (gated.kind === 'skipped') return null;
    const log = lazyChild(this.deps.logger, { signal_id: record.signal_id, request_id: record.request_id });
    this.deps.metrics.signals.inc({ status: gated.kind });
    if (gated.kind === 'rejected') {
      for (const failure of gated.decision.failures) this.deps.metrics.rejections.inc({ rule: failure.rule });
      this.observeFinal(gated.record);
      log.info({ failures: gated.decision.failures }, 'signal rejected by guardrails');
      this.notify(gated.record);
      return null;
    }
    const { decision } = gated;
    if (connector === null) return null; // unreachable: an unknown connector is always rejected
    log.info({ side: decision.side, quantity: decision.quantity, exit: decision.exit }, 'signal executing');
    // Untouched since it was received: it has no attempts yet (an operator's retry touches it).
    const fresh = record.updated_at === record.received_at;
    await this.withLease(record.signal_id, () => this.execute(gated.record, connector, decision, fresh));
    return null;
  }

  private async execute(record: SignalRecord, connector: Connector, decision: Decision, fresh: boolean): Promise<void> {
    // Attempts continue their numbering after a retry or a crash; a fresh signal has none.
    const previous = fresh ? 0 : (await this.deps.store.listAttempts(record.signal_id)).length;
    if (record.signal.action === 'cancel') {
      const res = await cancelWithRetries(this.placeDeps(record, previous + 1), connector, record.instrument);
      const result: ExecutionResult = res.ok
        ? { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'canceled', filled_quantity: 0, fill_price: null }
        : { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'error', filled_quantity: 0, fill_price: null, error: res.reason };
      return this.finish(record, res.ok ? 'executed' : 'failed', result, null);
    }
    const request = orderRequest(record, decision);
    if (request === null) {
      // close when flat, target already reached: nothing to order, and that is the outcome.
      const result: ExecutionResult = { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'no_op', filled_quantity: 0, fill_price: null };
      return this.finish(record, 'executed', result, null);
    }
    // After earlier attempts (an operator's retry, a crash) the order is looked up first: one of
    // them may have landed.
    const outcome = await placeWithRetries(this.placeDeps(record, previous + 1), connector, request, { lookupFirst: previous > 0 });
    return this.settle(record, connector, outcome);
  }

  /** A signal found `executing` (after a crash, or a lease takeover): ask the connector first. */
  private async reconcile(record: SignalRecord): Promise<void> {
    const connector = this.deps.connectors.get(record.connector);
    if (connector === undefined) {
      // The configuration lost the connector this order went to: nobody can be asked about it.
      const error = `connector "${record.connector}" is not configured any more; the order cannot be reconciled`;
      this.deps.logger.error({ signal_id: record.signal_id }, error);
      const result: ExecutionResult = { connector: record.connector, client_order_id: record.client_order_id, order_id: null, status: 'error', filled_quantity: 0, fill_price: null, error };
      return this.finish(record, 'failed', result, null);
    }
    const log = lazyChild(this.deps.logger, { signal_id: record.signal_id, request_id: record.request_id });
    if (record.signal.action === 'cancel' && record.decision !== null) {
      // A cancel is safe to repeat: send it again and finish with its real outcome.
      log.warn('reconciling an executing cancel: sending it again');
      return this.execute(record, connector, record.decision, false);
    }
    const request = record.decision === null ? null : orderRequest(record, record.decision);
    if (request === null) {
      // Nothing was to be ordered (close when flat, target reached): finishing it is harmless.
      log.warn('reconciling an executing signal that placed no order');
      const result: ExecutionResult = { connector: connector.name, client_order_id: record.client_order_id, order_id: null, status: 'no_op', filled_quantity: 0, fill_price: null };
      return this.finish(record, 'executed', result, null);
    }
    log.warn({ client_order_id: record.client_order_id }, 'reconciling an executing signal by client_order_id');
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
      // A connector's numbers are an edge like any other: only a sane fill is booked.
      const sane = Number.isFinite(order.filled_quantity) && order.filled_quantity > 0 && order.fill_price !== null && Number.isFinite(order.fill_price) && order.fill_price > 0;
      if (!sane && order.filled_quantity !== 0) this.deps.logger.error({ signal_id: record.signal_id, order }, 'connector reported an unusable fill; not booked');
      const fill: Fill | null = sane && order.fill_price !== null ? { side: order.side, quantity: order.filled_quantity, price: order.fill_price } : null;
      const failed = order.status === 'rejected' || order.status === 'canceled' || order.status === 'expired';
      this.deps.metrics.connectorCalls.inc({ connector: record.connector, outcome: outcome.attempt.outcome });
      const attempt: Attempt = { n: outcome.attempt.n, at: this.deps.now().toISOString(), outcome: outcome.attempt.outcome, error: null };
      return this.finish(record, failed && fill === null ? 'failed' : 'executed', result, fill, attempt);
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

  private async finish(record: SignalRecord, status: 'executed' | 'failed', result: ExecutionResult, fill: Fill | null, attempt?: Attempt): Promise<void> {
    const { store, policy, now, logger } = this.deps;
    const at = now();
    const day = tradingDay(at, policy.trading_day_tz);
    const finished = await store.finishSignal({ signal_id: record.signal_id, status, result, fill, now: at, trading_day: day, max_daily_loss: policy.max_daily_loss, ...(attempt === undefined ? {} : { attempt }) });
    logger.info({ signal_id: record.signal_id, request_id: record.request_id, status, result }, `signal ${status}`);
    this.deps.metrics.signals.inc({ status });
    this.observeFinal(finished.record);
    if (finished.mode_changed !== null) {
      logger.warn({ realized_pnl_today: finished.realized_pnl_today, limit: policy.max_daily_loss }, 'daily loss limit breached: switched to exit_only');
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

}

/** The decision for a signal whose connector is not configured (the config changed since). */
function unknownConnector(name: string): Decision {
  return {
    allowed: false,
    failures: [{ rule: 'connector_capability', code: 'connector_unknown', limit: 'a configured connector', actual: name, message: `connector "${name}" is not configured` }],
    quantity: null,
    side: null,
    exit: false,
    trimmed: false,
    reserved_notional: 0,
    reference_price: null,
  };
}

/** The order a decision places, or null when it places none (cancel, no-op). */
export function orderRequest(record: SignalRecord, decision: Decision): OrderRequest | null {
  if (decision.side === null || decision.quantity === null) return null;
  const { signal } = record;
  const request: OrderRequest = {
    client_order_id: record.client_order_id,
    signal_id: record.signal_id,
    instrument: record.instrument,
    side: decision.side,
    quantity: decision.quantity,
    order_type: signal.order_type,
    time_in_force: signal.time_in_force,
    signal,
  };
  if (signal.limit_price !== undefined) request.limit_price = signal.limit_price;
  if (signal.stop_price !== undefined) request.stop_price = signal.stop_price;
  if (signal.take_profit !== undefined) request.take_profit = signal.take_profit;
  if (signal.stop_loss !== undefined) request.stop_loss = signal.stop_loss;
  const reference = decision.reference_price ?? signal.price;
  if (reference !== undefined && reference !== null) request.reference_price = reference;
  return request;
}
