/**
 * Position reconciliation (docs/execution.md#position-reconciliation, docs/execution.md#connectors):
 * the connector is the source of truth. At start and every `reconcile_interval_seconds`, each
 * connector's positions are adopted into the ledger (drift → degraded until a check finds none),
 * and a connector that says its account cannot trade (Alpaca `trading_blocked` /
 * `account_blocked`) opens its breaker. "Reconcile" in sluice means this and nothing else.
 */
import type { Logger } from 'pino';
import type { Connector } from '../connectors/connector.js';
import { tripBreaker } from '../domain/breaker.js';
import type { PositionDrift } from '../domain/ledger.js';
import type { ReconcileSkip, Store } from '../store/store.js';
import type { RecentErrors } from '../telemetry/recent-errors.js';
import type { DegradedState } from './degraded.js';

export interface ReconcilerDeps {
  store: Pick<Store, 'updateBreaker' | 'positionVersions' | 'reconcilePositions'>;
  connectors: ReadonlyMap<string, Connector>;
  logger: Logger;
  now: () => Date;
  degraded: Pick<DegradedState, 'enter' | 'exit'>;
  recentErrors: Pick<RecentErrors, 'add'>;
}

export type ReconcileOutcome =
  | { kind: 'skipped'; reason: string }
  | { kind: 'checked'; drift: PositionDrift[]; skipped: ReconcileSkip[] }
  | { kind: 'error'; reason: string };

/**
 * Asks one connector for its positions and has the store adopt them, instrument by instrument:
 * an instrument with an order in flight (between the broker's fill and our booking it would look
 * like drift), or whose position was booked while the connector was asked (its snapshot may
 * predate the fill), waits for the next pass; the others are checked whatever else is in flight.
 */
export async function reconcileConnector(deps: Pick<ReconcilerDeps, 'store' | 'logger' | 'now'>, connector: Connector): Promise<ReconcileOutcome> {
  if (!connector.capabilities.positions) return { kind: 'skipped', reason: 'connector reports no positions' };
  const seen = await deps.store.positionVersions(connector.name);
  let reported;
  try {
    reported = await connector.getPositions();
  } catch (err) {
    return { kind: 'error', reason: `getPositions threw: ${(err as Error).message}` };
  }
  if (!reported.ok) return { kind: 'error', reason: reported.reason };
  const { drift, skipped } = await deps.store.reconcilePositions(connector.name, reported.value, deps.now(), seen);
  if (drift.length > 0) deps.logger.warn({ connector: connector.name, drift }, 'position drift: adopted the connector positions');
  if (skipped.length > 0) deps.logger.info({ connector: connector.name, skipped }, 'position check: instruments in flight or booked meanwhile wait for the next pass');
  return { kind: 'checked', drift, skipped };
}

/** One pass over every connector. Never throws: a failing connector is reported and skipped. */
export async function checkConnectors(deps: ReconcilerDeps): Promise<void> {
  for (const connector of deps.connectors.values()) {
    const component = `positions:${connector.name}`;
    try {
      if (connector.tradingBlocked !== undefined) {
        const blocked = await connector.tradingBlocked();
        if (blocked.ok && blocked.value !== null) {
          await deps.store.updateBreaker(connector.name, (s) => tripBreaker(s, deps.now()), deps.now(), blocked.value);
        }
      }
      const outcome = await reconcileConnector(deps, connector);
      if (outcome.kind === 'checked') {
        if (outcome.drift.length > 0) {
          const summary = outcome.drift.map((d) => `${d.instrument} ledger ${d.ledger} vs connector ${d.connector}`).join('; ');
          deps.degraded.enter(component, `position drift adopted from the connector: ${summary}`, deps.now());
        } else {
          deps.degraded.exit(component);
        }
      } else if (outcome.kind === 'error') {
        deps.recentErrors.add({ at: deps.now().toISOString(), component: `connector:${connector.name}`, message: `reconcile: ${outcome.reason}`, signal_id: null });
      }
    } catch (err) {
      deps.logger.error({ err, connector: connector.name }, 'connector check failed');
      deps.recentErrors.add({ at: deps.now().toISOString(), component: `connector:${connector.name}`, message: (err as Error).message, signal_id: null });
    }
  }
}

/** Runs `checkConnectors` every interval until stopped; runs never overlap. */
export function startReconciler(deps: ReconcilerDeps, intervalSeconds: number): { stop: () => void } {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const loop = () => {
    timer = setTimeout(() => {
      void checkConnectors(deps).finally(() => {
        if (!stopped) loop();
      });
    }, intervalSeconds * 1000);
    timer.unref();
  };
  loop();
  return {
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
