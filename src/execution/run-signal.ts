/**
 * The per-signal pipeline: gate (decide + reserve, one store transaction) → place through the
 * one retry loop → finish (book the fill, release the reservation, switch to exit_only on a
 * daily-loss breach: one store transaction). Also the recovery of a signal found `executing`
 * after a crash or a takeover: the connector is asked by client_order_id before anything is
 * placed again.
 */
import type { Connector } from '../connectors/connector.js';
import { onFailure, onRefused, onSuccess, type BreakerState, type BreakerStep } from '../domain/breaker.js';
import { isFinalStatus, OPERATOR_SOURCE, type Decision } from '../domain/types.js';
import { tradingDay } from '../guardrails/trading-time.js';
import type { SignalRecord } from '../store/store.js';
import { lazyChild } from '../telemetry/logger.js';
import { gateAttributes, traced, traceIdOf } from '../telemetry/tracing.js';
import type { ExecutorDeps } from './executor-deps.js';
import { decideWithBreaker } from './gate.js';
import type { LaneOutcome } from './lanes.js';
import type { Leases } from './leases.js';
import type { OrderTracker } from './tracker.js';
import {
  errorSettlement,
  isUnusableFill,
  noOrderSettlement,
  orderRequest,
  settleCancel,
  settlePlacement,
  settlesOpenOrders,
  target,
  unknownConnectorDecision,
  type Settlement,
} from './outcome.js';
import { cancelWithRetries, placeWithRetries, type PlaceDeps, type PlaceOutcome } from './place.js';

/** The lane must wait and try again (see `gateAndRun`). */
const WAIT = Symbol('wait');

/** How many older signals a lane takes over in a row before it pauses (see `process`). */
const MAX_TAKEOVERS = 20;

export class SignalRunner {
  private readonly sleep: (ms: number) => Promise<void>;
  private stopped = false;
  private wakeSleepers: () => void = () => undefined;
  /** Settles when the runner stops: cuts every backoff short. */
  private readonly stopping = new Promise<void>((resolve) => {
    this.wakeSleepers = resolve;
  });

  constructor(
    private readonly deps: ExecutorDeps,
    private readonly leases: Pick<Leases, 'withLease' | 'isClaimed'>,
    private readonly tracker: Pick<OrderTracker, 'ensureChecked' | 'settleOpen' | 'recorded'>,
    /** Told about every record this runner saw final (the waiters). */
    private readonly onFinal: (record: SignalRecord) => void,
  ) {
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    this.sleep = (ms) => Promise.race([sleep(ms), this.stopping]);
  }

  /**
   * Stops retrying: a signal whose outcome is not known yet (a failed call, an order that cannot
   * be looked up) stays `executing` and is recovered at the next start or by another instance,
   * instead of holding up shutdown.
   */
  stop(): void {
    this.stopped = true;
    this.wakeSleepers();
  }

  /**
   * One signal. An older signal of the same lane goes first (arrival order per lane holds across
   * instances): one still `accepted` (queued at another instance, or orphaned) is executed here,
   * the gate's conditional update making sure only one instance runs it; one `executing` that
   * this instance claimed from a dead one is recovered here; one executing at a live instance
   * (or at a dead one not yet taken over) makes this one `blocked`: its lane pauses and tries
   * again later.
   */
  async process(signalId: string): Promise<LaneOutcome> {
    for (let takeovers = 0; ; takeovers += 1) {
      const record = await this.deps.store.getSignal(signalId);
      if (record === null) return 'done';
      if (record.status === 'executing') {
        // Only a signal this instance claimed; one executing elsewhere is not ours to touch.
        if (this.leases.isClaimed(signalId)) await this.leases.withLease(signalId, () => this.recoverExecuting(record));
        return 'done';
      }
      if (record.status !== 'accepted') {
        this.onFinal(record);
        return 'done';
      }
      const blockedBy = await this.gateAndRun(record);
      if (blockedBy === WAIT) return 'blocked';
      if (blockedBy === null) return 'done';
      if (takeovers >= MAX_TAKEOVERS) {
        await this.sleep(100);
        takeovers = 0;
      }
      const older = await this.deps.store.getSignal(blockedBy);
      if (older?.status === 'accepted') {
        if ((await this.gateAndRun(older)) === WAIT) return 'blocked';
      } else if (older?.status === 'executing') {
        if (!this.leases.isClaimed(older.signal_id)) return 'blocked';
        await this.leases.withLease(older.signal_id, () => this.recoverExecuting(older));
      } else if (older !== null && isFinalStatus(older.status)) {
        // Blocked by a signal that is final by now: it was the older one finishing meanwhile (any
        // signal just gates again), or, for an allowed close or target, the signal of an open
        // order of its lane: cancel the lane's open orders and wait until they are terminal,
        // then gate again. Only a close or target ever cancels here.
        const connector = this.deps.connectors.get(record.connector);
        if (connector !== undefined && settlesOpenOrders(record, connector) && !(await this.tracker.settleOpen(connector, record.instrument, this.sleep))) return 'blocked';
      }
    }
  }

  /**
   * Recovery of a signal found `executing` (after a crash, or a lease takeover): whatever was
   * sent may have landed, so the connector is asked by client_order_id before placing again.
   */
  async recoverExecuting(record: SignalRecord): Promise<void> {
    const connector = this.deps.connectors.get(record.connector);
    if (connector === undefined) {
      // The configuration lost the connector this order went to: nobody can be asked about it.
      const error = `connector "${record.connector}" is not configured any more; the order cannot be looked up`;
      this.deps.logger.error({ signal_id: record.signal_id }, error);
      return this.finish(record, errorSettlement({ connector: record.connector, client_order_id: record.client_order_id }, error));
    }
    const log = lazyChild(this.deps.logger, { signal_id: record.signal_id, request_id: record.request_id, trace_id: traceIdOf(record.trace_parent) ?? undefined });
    if (record.signal.action === 'cancel' && record.decision !== null) {
      // A cancel is safe to repeat: send it again and finish with its real outcome.
      log.warn('recovering an executing cancel: sending it again');
      return this.execute(record, connector, record.decision, false);
    }
    const request = record.decision === null ? null : orderRequest(record, record.decision);
    if (request === null) {
      // Nothing was to be ordered (close when flat, target reached): finishing it is harmless.
      log.warn('recovering an executing signal that placed no order');
      return this.finish(record, noOrderSettlement(target(record, connector)));
    }
    log.warn({ client_order_id: record.client_order_id }, 'recovering an executing signal: looking its order up by client_order_id');
    const previous = await this.deps.store.listAttempts(record.signal_id);
    // Whatever was sent before the crash may have landed: ambiguous until a lookup answers.
    const outcome = await placeWithRetries(this.placeDeps(record, previous.length + 1), connector, request, { lookupFirst: true, unresolved: true });
    return this.settle(record, connector, outcome);
  }

  /**
   * Gates and, when allowed, executes; returns the id of an older signal that must go first,
   * WAIT when the lane must wait (its open orders could not be looked up yet), or null.
   */
  private async gateAndRun(record: SignalRecord): Promise<string | typeof WAIT | null> {
    const { store, policy, now, execution } = this.deps;
    const connector = this.deps.connectors.get(record.connector) ?? null;
    // Its lane's open orders were looked up since start (fills may have happened while sluice was
    // down); not yet (a lookup unanswered, or stopping): wait. A close or target is held by the
    // gate itself while an order of its lane is open (docs/execution.md#close-and-target-with-open-orders).
    if (connector !== null && !(await this.tracker.ensureChecked(connector, record.instrument))) return WAIT;
    const at = now();
    const gated = await traced('gate', record.trace_parent, () => store.gateSignal({
      signal_id: record.signal_id,
      connector: record.connector,
      instrument: record.instrument,
      now: at,
      owner: this.deps.owner,
      lease_until: new Date(at.getTime() + execution.lease_seconds * 1000),
      trading_day: tradingDay(at, policy.trading_day_tz),
      order_rate_cap: policy.max_orders_per_minute,
      settle_open_orders: connector !== null && settlesOpenOrders(record, connector),
      decide: (state, breaker) =>
        connector === null
          ? { decision: unknownConnectorDecision(record.connector), breaker: null }
          : decideWithBreaker(record.signal, state, breaker, connector.capabilities, policy, execution.breaker, at, { operator: record.source === OPERATOR_SOURCE, signalId: record.signal_id }),
    }), (g) => gateAttributes(g.kind, g.kind === 'executing' || g.kind === 'rejected' ? g.decision : null));
    if (gated.kind === 'blocked') return gated.by;
    if (gated.kind === 'skipped') return null;
    const log = lazyChild(this.deps.logger, { signal_id: record.signal_id, request_id: record.request_id, trace_id: traceIdOf(record.trace_parent) ?? undefined });
    this.deps.metrics.signals.inc({ status: gated.kind });
    if (gated.kind === 'rejected') {
      for (const failure of gated.decision.failures) this.deps.metrics.rejections.inc({ rule: failure.rule });
      this.observeFinal(gated.record);
      log.info({ failures: gated.decision.failures }, 'signal rejected by guardrails');
      this.onFinal(gated.record);
      return null;
    }
    const { decision } = gated;
    if (connector === null) return null; // unreachable: an unknown connector is always rejected
    // At debug: the outcome's line (info) carries the decision too; two lines per signal by default.
    log.debug({ side: decision.side, quantity: decision.quantity, exit: decision.exit }, 'signal executing');
    // Untouched since it was received: it has no attempts yet (an operator's retry touches it).
    const fresh = record.updated_at === record.received_at;
    await this.leases.withLease(record.signal_id, () => this.execute(gated.record, connector, decision, fresh));
    return null;
  }

  private async execute(record: SignalRecord, connector: Connector, decision: Decision, fresh: boolean): Promise<void> {
    // Attempts continue their numbering after a retry or a crash; a fresh signal has none.
    const previous = fresh ? 0 : (await this.deps.store.listAttempts(record.signal_id)).length;
    if (record.signal.action === 'cancel') {
      const outcome = await cancelWithRetries(this.placeDeps(record, previous + 1), connector, record.instrument);
      if (!outcome.ok && outcome.interrupted) return this.leaveExecuting(record, outcome.reason);
      return this.finish(record, settleCancel(target(record, connector), outcome));
    }
    const request = orderRequest(record, decision);
    // close when flat, target already reached: nothing to order, and that is the outcome.
    if (request === null) return this.finish(record, noOrderSettlement(target(record, connector)));
    // After earlier attempts (an operator's retry, a crash) the order is looked up first: one of
    // them may have landed.
    const outcome = await placeWithRetries(this.placeDeps(record, previous + 1), connector, request, { lookupFirst: previous > 0, unresolved: false });
    return this.settle(record, connector, outcome);
  }

  private settle(record: SignalRecord, connector: Connector, outcome: PlaceOutcome): Promise<void> {
    if (!outcome.ok && outcome.interrupted) return this.leaveExecuting(record, outcome.reason);
    if (outcome.ok) {
      if (isUnusableFill(outcome.order)) this.deps.logger.error({ signal_id: record.signal_id, order: outcome.order }, 'connector reported an unusable fill; not booked');
      this.deps.metrics.connectorCalls.inc({ connector: record.connector, outcome: outcome.attempt.outcome });
    }
    return this.finish(record, settlePlacement(target(record, connector), outcome, this.deps.now()));
  }

  /** Stopped before the outcome was known: it stays executing and is recovered by client_order_id later. */
  private async leaveExecuting(record: SignalRecord, reason: string): Promise<void> {
    this.deps.logger.warn({ signal_id: record.signal_id, reason }, 'executor stopping: signal left executing for recovery');
  }

  /** executing → executed | failed in one store step, which also applies the daily-loss switch. */
  private async finish(record: SignalRecord, settlement: Settlement): Promise<void> {
    const { store, policy, now, logger } = this.deps;
    const at = now();
    const finished = await store.finishSignal({
      signal_id: record.signal_id,
      ...settlement,
      // A fire-and-forget connector's orders are not followed: nothing will report on them.
      track_order: this.deps.connectors.get(record.connector)?.capabilities.order_updates !== 'none',
      now: at,
      trading_day: tradingDay(at, policy.trading_day_tz),
      max_daily_loss: policy.max_daily_loss,
    });
    const { status, result } = settlement;
    const decided = record.decision;
    logger.info(
      { signal_id: record.signal_id, request_id: record.request_id, trace_id: traceIdOf(record.trace_parent) ?? undefined, status, side: decided?.side, quantity: decided?.quantity, result },
      `signal ${status}`,
    );
    this.deps.metrics.signals.inc({ status });
    this.observeFinal(finished.record);
    if (finished.mode_changed !== null) {
      logger.warn({ realized_pnl_today: finished.realized_pnl_today, limit: policy.max_daily_loss }, 'daily loss limit breached: switched to exit_only');
    }
    this.onFinal(finished.record);
    if (finished.order !== null) await this.tracker.recorded(finished.order);
  }

  private placeDeps(record: SignalRecord, firstAttempt: number): PlaceDeps {
    const { store, execution, now } = this.deps;
    return {
      now,
      backoff: execution.backoff,
      maxAttempts: execution.max_attempts,
      random: this.deps.random ?? Math.random,
      sleep: this.sleep,
      firstAttempt,
      recordAttempt: (n: number, outcome: string, error: string | null) => {
        this.deps.metrics.connectorCalls.inc({ connector: record.connector, outcome });
        return store.recordAttempt(record.signal_id, { n, at: now().toISOString(), outcome, error });
      },
      onError: (message: string) => this.deps.onError?.(`connector:${record.connector}`, message, record.signal_id),
      onTransientFailure: (reason: string) =>
        this.reportBreaker(record.connector, (s) => onFailure(s, now(), execution.breaker), `transient failure: ${reason}`),
      onSuccess: () => this.reportBreaker(record.connector, (s) => onSuccess(s, now(), record.signal_id), 'connector answered'),
      onRefused: () => this.reportBreaker(record.connector, (s) => onRefused(s, now(), record.signal_id), 'connector refused'),
      stopping: () => this.stopped,
      trace: record.trace_parent,
    };
  }

  /** Applies a breaker step to the stored breaker state, which every instance shares; answers the state after it. */
  private async reportBreaker(connector: string, step: (s: BreakerState) => BreakerStep, reason: string): Promise<BreakerState['state']> {
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
    return next.state;
  }

  private observeFinal(record: SignalRecord): void {
    this.deps.metrics.executionSeconds.observe({ status: record.status }, Math.max(0, (Date.parse(record.updated_at) - Date.parse(record.received_at)) / 1000));
  }
}
