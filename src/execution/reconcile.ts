/**
 * Position reconciliation (CONTRACT §5): the connector is the source of truth. `diffPositions`
 * is the pure comparison; `reconcileConnector` asks the connector and has the store adopt its
 * positions, but only while nothing of that connector is in flight (an order between the
 * broker's fill and our booking would look like drift).
 */
import type { Logger } from 'pino';
import type { Connector } from '../connectors/connector.js';
import type { Position } from '../domain/types.js';
import { roundQty } from '../guardrails/decide.js';
import type { PositionDrift, Store } from '../store/store.js';

/** Instruments whose quantity differs between the ledger and the connector (absent = 0). */
export function diffPositions(ledger: ReadonlyArray<{ instrument: string; quantity: number }>, reported: readonly Position[]): PositionDrift[] {
  const ours = new Map(ledger.map((p) => [p.instrument, roundQty(p.quantity)]));
  const theirs = new Map(reported.map((p) => [p.instrument, roundQty(p.quantity)]));
  const drift: PositionDrift[] = [];
  for (const instrument of new Set([...ours.keys(), ...theirs.keys()])) {
    const a = ours.get(instrument) ?? 0;
    const b = theirs.get(instrument) ?? 0;
    if (a !== b) drift.push({ instrument, ledger: a, connector: b });
  }
  return drift.sort((x, y) => x.instrument.localeCompare(y.instrument));
}

export type ReconcileOutcome = { kind: 'skipped'; reason: string } | { kind: 'checked'; drift: PositionDrift[] } | { kind: 'error'; reason: string };

export async function reconcileConnector(deps: { store: Store; logger: Logger; now: () => Date }, connector: Connector): Promise<ReconcileOutcome> {
  if (!connector.capabilities.positions) return { kind: 'skipped', reason: 'connector reports no positions' };
  if ((await deps.store.countExecuting(connector.name)) > 0) return { kind: 'skipped', reason: 'orders in flight' };
  let reported;
  try {
    reported = await connector.getPositions();
  } catch (err) {
    return { kind: 'error', reason: `getPositions threw: ${(err as Error).message}` };
  }
  if (!reported.ok) return { kind: 'error', reason: reported.reason };
  // Re-check: an order may have started while we asked.
  if ((await deps.store.countExecuting(connector.name)) > 0) return { kind: 'skipped', reason: 'orders in flight' };
  const drift = await deps.store.reconcilePositions(connector.name, reported.value, deps.now());
  if (drift.length > 0) deps.logger.warn({ connector: connector.name, drift }, 'position drift: adopted the connector positions');
  return { kind: 'checked', drift };
}
