/**
 * Position reconciliation (docs/execution.md#position-reconciliation): the connector is the source of truth. `diffPositions`
 * is the pure comparison; `reconcileConnector` asks the connector and has the store adopt its
 * positions, but only while nothing of that connector is in flight (an order between the
 * broker's fill and our booking would look like drift).
 */
import type { Logger } from 'pino';
import type { Connector } from '../connectors/connector.js';
import type { PositionDrift } from '../domain/ledger.js';
import type { Store } from '../store/store.js';

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
