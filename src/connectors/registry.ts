/**
 * Config → connector instances: the one place that knows every connector type. In test mode
 * every configured connector is replaced by a mock of the same name, so nothing (orders,
 * retries, recovery, flatten, cancels, position checks) reaches a real broker; the real ones are
 * still built, so that their configuration is checked, and closed at once, never called.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { ConnectorConfig } from '../config/schema.js';
import type { Store } from '../store/store.js';
import { createAlpacaConnector } from './alpaca.js';
import { success, type Connector } from './connector.js';
import type { ConnectorCapabilities } from '../domain/types.js';
import { createHttpConnector } from './http.js';
import { createMockConnector, NO_FAULTS } from './mock.js';

export interface ConnectorDeps {
  store: Store;
  logger: Logger;
  now: () => Date;
}

/** What a user module's default export is called with. */
export interface ModuleConnectorContext {
  name: string;
  logger: Logger;
  now: () => Date;
}

export type ModuleConnectorFactory = (options: Record<string, unknown>, ctx: ModuleConnectorContext) => Connector | Promise<Connector>;

export class ConnectorSetupError extends Error {
  override name = 'ConnectorSetupError';
}

export async function createConnectors(configs: Record<string, ConnectorConfig>, deps: ConnectorDeps, opts: { testMode: boolean } = { testMode: false }): Promise<Map<string, Connector>> {
  const out = new Map<string, Connector>();
  for (const [name, config] of Object.entries(configs)) {
    const connector = await createConnector(name, config, deps);
    if (!opts.testMode || config.type === 'mock') {
      out.set(name, connector);
      continue;
    }
    await connector.close?.();
    out.set(name, createMockConnector(name, NO_FAULTS, { store: deps.store.mock, now: deps.now, standsInFor: config.type }));
  }
  return out;
}

async function createConnector(name: string, config: ConnectorConfig, deps: ConnectorDeps): Promise<Connector> {
  switch (config.type) {
    case 'mock':
      return createMockConnector(name, config, { store: deps.store.mock, now: deps.now });
    case 'alpaca': {
      const alpaca = createAlpacaConnector(name, config, { now: deps.now });
      return {
        ...alpaca,
        async tradingBlocked() {
          const account = await alpaca.getAccount();
          if (!account.ok) return account;
          const { trading_blocked, account_blocked } = account.value;
          return success(account_blocked ? 'alpaca account_blocked' : trading_blocked ? 'alpaca trading_blocked' : null);
        },
      };
    }
    case 'http':
      return createHttpConnector(name, config, { now: deps.now });
    case 'module':
      return loadModuleConnector(name, config.path, config.options, deps);
  }
}

async function loadModuleConnector(name: string, path: string, options: Record<string, unknown>, deps: ConnectorDeps): Promise<Connector> {
  const url = pathToFileURL(isAbsolute(path) ? path : resolve(process.cwd(), path)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    throw new ConnectorSetupError(`connectors.${name}.path: expected an importable ES module, got ${JSON.stringify(path)} (${(err as Error).message})`);
  }
  if (typeof mod.default !== 'function') {
    throw new ConnectorSetupError(`connectors.${name}.path: expected a module whose default export is a connector factory function`);
  }
  const factory = mod.default as ModuleConnectorFactory;
  const connector = await factory(options, { name, logger: deps.logger.child({ connector: name }), now: deps.now });
  for (const method of ['place', 'cancel', 'getOrder', 'getPositions'] as const) {
    if (typeof connector?.[method] !== 'function') {
      throw new ConnectorSetupError(`connectors.${name}: the module's connector has no ${method}() method`);
    }
  }
  if (connector.capabilities === undefined) throw new ConnectorSetupError(`connectors.${name}: the module's connector declares no capabilities`);
  // Delegation, not spreading: a class instance keeps its methods (close() included) and `this`.
  const tradingBlocked = connector.tradingBlocked;
  const close = connector.close;
  return {
    name,
    type: 'module',
    // A module written before `positions` existed reports its positions by default.
    capabilities: { ...connector.capabilities, positions: (connector.capabilities as Partial<ConnectorCapabilities>).positions ?? true },
    place: (order) => connector.place(order),
    cancel: (instrument) => connector.cancel(instrument),
    getOrder: (id) => connector.getOrder(id),
    getPositions: () => connector.getPositions(),
    ...(tradingBlocked === undefined ? {} : { tradingBlocked: () => tradingBlocked.call(connector) }),
    ...(close === undefined ? {} : { close: () => close.call(connector) }),
  };
}
