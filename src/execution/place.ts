/**
 * The one retry loop every connector goes through (docs/execution.md#placing-orders). Transient failures
 * are retried with exponential backoff and full jitter, honouring a server's requested wait.
 * An ambiguous failure (the order may have landed) is resolved by asking the connector for
 * the order by client_order_id before anything is placed again: found → adopted. Because the
 * client_order_id is deterministic, a connector that can be asked never gets a second order.
 * Ambiguity is sticky (docs/execution.md#ambiguous-failures): until a lookup answers "not
 * found", a signal never ends failed; out of attempts, it keeps asking with backoff.
 */
import type { CallResult, Connector, OrderRequest } from '../connectors/connector.js';
import type { Order } from '../domain/types.js';
import { nextDelay } from '../domain/backoff.js';
import type { BreakerState } from '../domain/breaker.js';
import { startSpan, type TraceSpan } from '../telemetry/tracing.js';

export interface PlaceDeps {
  now: () => Date;
  backoff: { base_ms: number; cap_ms: number };
  maxAttempts: number;
  /** Number of the first attempt made here (attempts continue across a restart). */
  firstAttempt: number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  recordAttempt: (n: number, outcome: string, error: string | null) => Promise<void>;
  onError: (message: string) => void;
  /** The breaker's inputs: a transient failure, a success, and a permanent refusal (neither); each answers the state after it. */
  onTransientFailure: (reason: string) => Promise<BreakerState['state']>;
  onSuccess: () => Promise<BreakerState['state']>;
  onRefused: () => Promise<BreakerState['state']>;
  /** True once the executor stops: after a failure, what is unfinished is left for recovery. */
  stopping: () => boolean;
  /** The signal's stored traceparent (null: not traced): each attempt is a span under it. */
  trace: string | null;
}

/** One span per attempt (`connector.place`, `connector.lookup`, `connector.cancel`); null when not traced. */
function attemptSpan(deps: PlaceDeps, call: 'place' | 'lookup' | 'cancel', connector: Connector, n: number): TraceSpan | null {
  return deps.trace === null ? null : startSpan(`connector.${call}`, deps.trace, { 'sluice.connector': connector.name, 'sluice.attempt': n });
}

/** Ends an attempt's span: its outcome, the breaker after it, and the backoff before the next one as an event. */
function endAttempt(span: TraceSpan | null, outcome: string, breaker: BreakerState['state'], error?: string, backoffMs?: number): void {
  if (span === null) return;
  if (error !== undefined) span.fail(error);
  if (backoffMs !== undefined) span.event('retry.backoff', { 'sluice.backoff_ms': backoffMs });
  span.end({ 'sluice.attempt.outcome': outcome, 'sluice.breaker.state': breaker });
}

/**
 * A success carries its attempt unrecorded: the executor records it together with the outcome,
 * in one step (failed attempts are recorded as they happen). A failure is `interrupted` when the
 * executor stopped before the outcome was known: the signal stays executing and is recovered by
 * client_order_id later (the next start, or another instance once its lease lapses).
 */
export type PlaceOutcome =
  | { ok: true; order: Order; adopted: boolean; attempt: { n: number; outcome: 'ok' | 'adopted' } }
  | { ok: false; reason: string; interrupted: boolean };

export type CancelOutcome = { ok: true; cancelled: number } | { ok: false; reason: string; interrupted: boolean };

/** A connector that throws has a bug; treat it as ambiguous so that an order is never lost. */
export async function guarded<T>(call: () => Promise<CallResult<T>>): Promise<CallResult<T>> {
  try {
    return await call();
  } catch (err) {
    return { ok: false, retryable: true, ambiguous: true, reason: `connector threw: ${(err as Error).message}` };
  }
}

/**
 * Cancels the instrument's open orders with the same backoff for transient failures. A cancel
 * is idempotent, so there is no ambiguity to resolve: it is simply sent again.
 */
export async function cancelWithRetries(deps: PlaceDeps, connector: Connector, instrument: string): Promise<CancelOutcome> {
  let lastReason = 'no attempt made';
  const lastAttempt = deps.firstAttempt + deps.maxAttempts - 1;
  for (let n = deps.firstAttempt; n <= lastAttempt; n += 1) {
    const span = attemptSpan(deps, 'cancel', connector, n);
    const res = await guarded(() => connector.cancel(instrument));
    if (res.ok) {
      await deps.recordAttempt(n, 'ok', null);
      endAttempt(span, 'ok', await deps.onSuccess());
      return { ok: true, cancelled: res.value.cancelled };
    }
    lastReason = res.reason;
    deps.onError(res.reason);
    await deps.recordAttempt(n, res.retryable ? 'retryable' : 'permanent', res.reason);
    if (!res.retryable) {
      endAttempt(span, 'permanent', await deps.onRefused(), res.reason);
      return { ok: false, reason: res.reason, interrupted: false };
    }
    const breaker = await deps.onTransientFailure(res.reason);
    const delay = n < lastAttempt ? nextDelay(n - deps.firstAttempt + 1, deps.backoff, deps.random, res.retry_after_ms) : undefined;
    endAttempt(span, 'retryable', breaker, res.reason, delay);
    if (delay !== undefined) await deps.sleep(delay);
    if (deps.stopping()) return { ok: false, reason: `stopped after: ${res.reason}`, interrupted: true };
  }
  return { ok: false, reason: `gave up after ${deps.maxAttempts} attempts: ${lastReason}`, interrupted: false };
}

/**
 * `unresolved`: an earlier call (of a run that crashed, say) may have placed the order and no
 * lookup has answered since. `lookupFirst`: ask before the first placement.
 */
export async function placeWithRetries(
  deps: PlaceDeps,
  connector: Connector,
  request: OrderRequest,
  opts: { lookupFirst: boolean; unresolved: boolean },
): Promise<PlaceOutcome> {
  const canLookup = connector.capabilities.lookup;
  // Some call may have placed the order and no lookup has answered "not found" since.
  let unresolved = opts.unresolved;
  let mustLookup = (opts.lookupFirst || unresolved) && canLookup;
  let lastReason = 'no attempt made';
  const lastAttempt = deps.firstAttempt + deps.maxAttempts - 1;

  for (let n = deps.firstAttempt; n <= lastAttempt; n += 1) {
    const span = attemptSpan(deps, 'place', connector, n);
    if (mustLookup) {
      const found = await guarded(() => connector.getOrder(request.client_order_id));
      span?.event('order.lookup', { 'sluice.lookup.result': !found.ok ? 'failed' : found.value === null ? 'not_found' : 'found' });
      if (found.ok && found.value !== null) {
        endAttempt(span, 'adopted', await deps.onSuccess());
        return { ok: true, order: found.value, adopted: true, attempt: { n, outcome: 'adopted' } };
      }
      if (found.ok) unresolved = false;
      // Not found (or the lookup failed): placing again with the same client_order_id is safe,
      // since the connector refuses or returns a duplicate id.
    }
    const res = await guarded(() => connector.place(request));
    if (res.ok) {
      endAttempt(span, 'ok', await deps.onSuccess());
      return { ok: true, order: res.value, adopted: false, attempt: { n, outcome: 'ok' } };
    }
    lastReason = res.reason;
    deps.onError(res.reason);
    const outcome = res.retryable ? (res.ambiguous ? 'ambiguous' : 'retryable') : 'permanent';
    await deps.recordAttempt(n, outcome, res.reason);
    if (!res.retryable) {
      endAttempt(span, outcome, await deps.onRefused(), res.reason);
      // Refused after an earlier call may have landed (its order may be why): only a lookup can tell.
      if (unresolved && canLookup) return resolveByLookup(deps, connector, request, n + 1, res.reason);
      return { ok: false, reason: res.reason, interrupted: false };
    }
    const breaker = await deps.onTransientFailure(res.reason);
    if (res.ambiguous) unresolved = true;
    mustLookup = unresolved && canLookup;
    const delay = n < lastAttempt ? nextDelay(n - deps.firstAttempt + 1, deps.backoff, deps.random, res.retry_after_ms) : undefined;
    endAttempt(span, outcome, breaker, res.reason, delay);
    if (delay !== undefined) await deps.sleep(delay);
    if (deps.stopping()) return { ok: false, reason: `stopped after: ${res.reason}`, interrupted: true };
  }
  const gaveUp = `gave up after ${deps.maxAttempts} attempts: ${lastReason}`;
  // Out of attempts while the order may exist: it fails only once the connector says it does not.
  if (unresolved && canLookup) return resolveByLookup(deps, connector, request, lastAttempt + 1, gaveUp);
  return { ok: false, reason: gaveUp, interrupted: false };
}

/**
 * Asks for the order until the connector answers: found → adopted; not found → failed with
 * `failure`. Each unanswered lookup is an attempt (`lookup_failed`), followed by the backoff
 * (never longer than `cap_ms`, or a server's requested wait); the signal stays executing
 * meanwhile. Stopping leaves it executing, for the next start or another instance.
 */
async function resolveByLookup(deps: PlaceDeps, connector: Connector, request: OrderRequest, firstN: number, failure: string): Promise<PlaceOutcome> {
  for (let n = firstN; ; n += 1) {
    const span = attemptSpan(deps, 'lookup', connector, n);
    const found = await guarded(() => connector.getOrder(request.client_order_id));
    if (found.ok) {
      if (found.value === null) {
        span?.end({ 'sluice.attempt.outcome': 'not_found' });
        return { ok: false, reason: `${failure} (the order was not found at the connector)`, interrupted: false };
      }
      endAttempt(span, 'adopted', await deps.onSuccess());
      return { ok: true, order: found.value, adopted: true, attempt: { n, outcome: 'adopted' } };
    }
    deps.onError(`order lookup failed: ${found.reason}`);
    await deps.recordAttempt(n, 'lookup_failed', found.reason);
    const delay = nextDelay(n - firstN + 1, deps.backoff, deps.random, found.retry_after_ms);
    span?.event('retry.backoff', { 'sluice.backoff_ms': delay });
    span?.fail(found.reason);
    span?.end({ 'sluice.attempt.outcome': 'lookup_failed' });
    await deps.sleep(delay);
    if (deps.stopping()) return { ok: false, reason: `stopped while the order could not be looked up: ${failure}`, interrupted: true };
  }
}
