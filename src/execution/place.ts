/**
 * The one retry loop every connector goes through (docs/execution.md#placing-orders). Transient failures
 * are retried with exponential backoff and full jitter, honouring a server's requested wait.
 * An ambiguous failure (the order may have landed) is resolved by asking the connector for
 * the order by client_order_id before anything is placed again: found → adopted. Because the
 * client_order_id is deterministic, a connector that can be asked never gets a second order.
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
  /** The breaker's inputs: a transient failure, or any answer from a working connector. */
  onTransientFailure: (reason: string) => Promise<void>;
  onAnswer: () => Promise<void>;
}

/**
 * A success carries its attempt unrecorded: the executor records it together with the outcome,
 * in one step (failed attempts are recorded as they happen).
 */
export type PlaceOutcome = { ok: true; order: Order; adopted: boolean; attempt: { n: number; outcome: 'ok' | 'adopted' } } | { ok: false; reason: string };

export type CancelOutcome = { ok: true; cancelled: number } | { ok: false; reason: string };

/** A connector that throws has a bug; treat it as ambiguous so that an order is never lost. */
async function guarded<T>(call: () => Promise<CallResult<T>>): Promise<CallResult<T>> {
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
      await deps.onAnswer();
      return { ok: true, cancelled: res.value.cancelled };
    }
    lastReason = res.reason;
    deps.onError(res.reason);
    await deps.recordAttempt(n, res.retryable ? 'retryable' : 'permanent', res.reason);
    if (!res.retryable) {
      await deps.onAnswer();
      return { ok: false, reason: res.reason };
    }
    await deps.onTransientFailure(res.reason);
    if (n < lastAttempt) await deps.sleep(nextDelay(n - deps.firstAttempt + 1, deps.backoff, deps.random, res.retry_after_ms));
  }
  return { ok: false, reason: `gave up after ${deps.maxAttempts} attempts: ${lastReason}` };
}

export async function placeWithRetries(
  deps: PlaceDeps,
  connector: Connector,
  request: OrderRequest,
  opts: { lookupFirst: boolean },
): Promise<PlaceOutcome> {
  const canLookup = connector.capabilities.lookup;
  let mustLookup = opts.lookupFirst && canLookup;
  let lastReason = 'no attempt made';
  const lastAttempt = deps.firstAttempt + deps.maxAttempts - 1;

  for (let n = deps.firstAttempt; n <= lastAttempt; n += 1) {
    if (mustLookup) {
      const found = await guarded(() => connector.getOrder(request.client_order_id));
      if (found.ok && found.value !== null) {
        await deps.onAnswer();
        return { ok: true, order: found.value, adopted: true, attempt: { n, outcome: 'adopted' } };
      }
      // Not found (or the lookup failed): placing again with the same client_order_id is safe,
      // since the connector refuses or returns a duplicate id.
    }
    const res = await guarded(() => connector.place(request));
    if (res.ok) {
      await deps.onAnswer();
      return { ok: true, order: res.value, adopted: false, attempt: { n, outcome: 'ok' } };
    }
    lastReason = res.reason;
    deps.onError(res.reason);
    await deps.recordAttempt(n, res.retryable ? (res.ambiguous ? 'ambiguous' : 'retryable') : 'permanent', res.reason);
    if (!res.retryable) {
      // A permanent refusal is still an answer from a working connector.
      await deps.onAnswer();
      return { ok: false, reason: res.reason };
    }
    await deps.onTransientFailure(res.reason);
    mustLookup = res.ambiguous && canLookup;
    if (n < lastAttempt) await deps.sleep(nextDelay(n - deps.firstAttempt + 1, deps.backoff, deps.random, res.retry_after_ms));
  }
  // Out of attempts. If the last failure was ambiguous the order may exist: one last look.
  if (mustLookup) {
    const found = await guarded(() => connector.getOrder(request.client_order_id));
    if (found.ok && found.value !== null) {
      return { ok: true, order: found.value, adopted: true, attempt: { n: lastAttempt + 1, outcome: 'adopted' } };
    }
  }
  return { ok: false, reason: `gave up after ${deps.maxAttempts} attempts: ${lastReason}` };
}
