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
  /** The breaker's inputs: a transient failure, a success, and a permanent refusal (neither). */
  onTransientFailure: (reason: string) => Promise<void>;
  onSuccess: () => Promise<void>;
  onRefused: () => Promise<void>;
  /** True once the executor stops: after a failure, what is unfinished is left for recovery. */
  stopping: () => boolean;
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
    const res = await guarded(() => connector.cancel(instrument));
    if (res.ok) {
      await deps.recordAttempt(n, 'ok', null);
      await deps.onSuccess();
      return { ok: true, cancelled: res.value.cancelled };
    }
    lastReason = res.reason;
    deps.onError(res.reason);
    await deps.recordAttempt(n, res.retryable ? 'retryable' : 'permanent', res.reason);
    if (!res.retryable) {
      await deps.onRefused();
      return { ok: false, reason: res.reason, interrupted: false };
    }
    await deps.onTransientFailure(res.reason);
    if (n < lastAttempt) await deps.sleep(nextDelay(n - deps.firstAttempt + 1, deps.backoff, deps.random, res.retry_after_ms));
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
    if (mustLookup) {
      const found = await guarded(() => connector.getOrder(request.client_order_id));
      if (found.ok && found.value !== null) {
        await deps.onSuccess();
        return { ok: true, order: found.value, adopted: true, attempt: { n, outcome: 'adopted' } };
      }
      if (found.ok) unresolved = false;
      // Not found (or the lookup failed): placing again with the same client_order_id is safe,
      // since the connector refuses or returns a duplicate id.
    }
    const res = await guarded(() => connector.place(request));
    if (res.ok) {
      await deps.onSuccess();
      return { ok: true, order: res.value, adopted: false, attempt: { n, outcome: 'ok' } };
    }
    lastReason = res.reason;
    deps.onError(res.reason);
    await deps.recordAttempt(n, res.retryable ? (res.ambiguous ? 'ambiguous' : 'retryable') : 'permanent', res.reason);
    if (!res.retryable) {
      await deps.onRefused();
      // Refused after an earlier call may have landed (its order may be why): only a lookup can tell.
      if (unresolved && canLookup) return resolveByLookup(deps, connector, request, n + 1, res.reason);
      return { ok: false, reason: res.reason, interrupted: false };
    }
    await deps.onTransientFailure(res.reason);
    if (res.ambiguous) unresolved = true;
    mustLookup = unresolved && canLookup;
    if (n < lastAttempt) await deps.sleep(nextDelay(n - deps.firstAttempt + 1, deps.backoff, deps.random, res.retry_after_ms));
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
    const found = await guarded(() => connector.getOrder(request.client_order_id));
    if (found.ok) {
      if (found.value === null) return { ok: false, reason: `${failure} (the order was not found at the connector)`, interrupted: false };
      await deps.onSuccess();
      return { ok: true, order: found.value, adopted: true, attempt: { n, outcome: 'adopted' } };
    }
    deps.onError(`order lookup failed: ${found.reason}`);
    await deps.recordAttempt(n, 'lookup_failed', found.reason);
    await deps.sleep(nextDelay(n - firstN + 1, deps.backoff, deps.random, found.retry_after_ms));
    if (deps.stopping()) return { ok: false, reason: `stopped while the order could not be looked up: ${failure}`, interrupted: true };
  }
}
