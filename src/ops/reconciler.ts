/**
 * The periodic connector check (docs/execution.md#position-reconciliation, docs/execution.md#connectors): every `reconcile_interval_seconds`, each
 * connector's positions are reconciled into the ledger (drift → degraded until a check finds
 * none) and a connector that says its account cannot trade (Alpaca `trading_blocked` /
 * `account_blocked`) opens its breaker.
 */
import type { Logger } from 'pino';
import type { Connector } from '../connectors/connector.js';
import { tripBreaker } from '../domain/breaker.js';
import { reconcileConnector } from '../execution/reconcile.js';
import type { Store } from '../store/store.js';
import type { DegradedState } from './degraded.js';
import type { RecentErrors } from '../telemetry/recent-errors.js';

export interface ReconcilerDeps {
  store: Store;
  connectors: ReadonlyMap<string, Connector>;
  logger: Logger;
  now: () => Date;
  degraded: DegradedState;
  recentErrors: RecentErrors;
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
