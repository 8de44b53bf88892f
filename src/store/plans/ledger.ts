/** Reconciling the ledger against a connector's reported positions (domain/ledger.ts diffPositions). */
import { diffPositions, type PositionDrift } from '../../domain/ledger.js';
import type { Position } from '../../domain/types.js';
import { positionsDrift, type TimedEvent } from './events.js';

export interface ReconcilePlan {
  drift: PositionDrift[];
  /** Positions adopted from the connector: the reported quantity and average price (0 when it reports none). */
  upserts: Array<{ instrument: string; quantity: number; avg_price: number; updated_at: number }>;
  event: TimedEvent | null;
}

export function planReconcile(connector: string, ledger: ReadonlyArray<{ instrument: string; quantity: number }>, reported: readonly Position[], now: Date): ReconcilePlan {
  const drift = diffPositions(ledger, reported);
  return {
    drift,
    upserts: drift.map((d) => ({
      instrument: d.instrument,
      quantity: d.connector,
      avg_price: reported.find((p) => p.instrument === d.instrument)?.avg_price ?? 0,
      updated_at: now.getTime(),
    })),
    event: positionsDrift(connector, drift, now),
  };
}
