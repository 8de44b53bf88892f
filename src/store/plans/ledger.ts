/**
 * Reconciling the ledger against a connector's reported positions (domain/ledger.ts
 * diffPositions), per instrument: an instrument with an order in flight, or whose position was
 * written since its version was read before the connector was asked (a fill booked meanwhile,
 * which the connector's snapshot may predate), is left alone; every other drift is adopted.
 * Also the version rule every position write follows.
 */
import { diffPositions, type PositionDrift } from '../../domain/ledger.js';
import type { Position } from '../../domain/types.js';
import type { PositionVersions, ReconcileResult, ReconcileSkip } from '../contract/ledger.js';
import { positionsDrift, type TimedEvent } from './events.js';

/**
 * A position's version is its `updated_at`, and every write moves it forward, even within one
 * millisecond or with a clock that stepped back: "changed since read" is then an inequality.
 */
export function nextPositionVersion(current: number | null | undefined, now: Date): number {
  return current === null || current === undefined ? now.getTime() : Math.max(now.getTime(), current + 1);
}

/** A ledger row as reconciliation reads it under the connector's lock. */
export interface LedgerRow {
  instrument: string;
  quantity: number;
  updated_at: number;
}

export interface ReconcileWrite {
  instrument: string;
  /** The version read before the connector was asked; null: there was no row. The write is conditional on it. */
  expected: number | null;
  values: { quantity: number; avg_price: number; updated_at: number };
}

export interface ReconcilePlan {
  /** Drift to adopt, one conditional write each (in the same order). */
  adopt: Array<{ drift: PositionDrift; write: ReconcileWrite }>;
  skipped: ReconcileSkip[];
}

/**
 * `ledger` and `inFlight` (instruments with an order decided and not yet terminal: a reservation) are read under the lock;
 * `seen` is what `positionVersions` returned before the connector was asked.
 */
export function planReconcile(
  ledger: readonly LedgerRow[],
  reported: readonly Position[],
  now: Date,
  seen: PositionVersions,
  inFlight: ReadonlySet<string>,
): ReconcilePlan {
  const versions = new Map(ledger.map((r) => [r.instrument, r.updated_at]));
  const plan: ReconcilePlan = { adopt: [], skipped: [] };
  for (const drift of diffPositions(ledger, reported)) {
    const { instrument } = drift;
    const current = versions.get(instrument);
    const expected = seen[instrument];
    if (inFlight.has(instrument)) plan.skipped.push({ instrument, reason: 'in_flight' });
    else if (current !== expected) plan.skipped.push({ instrument, reason: 'changed' });
    else {
      const values = { quantity: drift.connector, avg_price: reported.find((p) => p.instrument === instrument)?.avg_price ?? 0, updated_at: nextPositionVersion(current, now) };
      plan.adopt.push({ drift, write: { instrument, expected: expected ?? null, values } });
    }
  }
  return plan;
}

/**
 * What the conditional writes made of the plan: `written[i]` says whether `plan.adopt[i]` was
 * written; one that was not found its version moved (a fill booked meanwhile) and is skipped.
 * The `positions.drift` event lists only what was adopted (null when nothing was).
 */
export function settleReconcile(connector: string, plan: ReconcilePlan, written: readonly boolean[], now: Date): { result: ReconcileResult; event: TimedEvent | null } {
  const drift: PositionDrift[] = [];
  const skipped = [...plan.skipped];
  plan.adopt.forEach(({ drift: d }, i) => {
    if (written[i] === true) drift.push(d);
    else skipped.push({ instrument: d.instrument, reason: 'changed' });
  });
  return { result: { drift, skipped }, event: positionsDrift(connector, drift, now) };
}
