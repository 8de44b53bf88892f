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
import { failure, success, type CallResult, type Connector, type OrderStreamListener } from './connector.js';
import type { ConnectorCapabilities, Order, OrderUpdates, Position } from '../domain/types.js';
import { createHttpConnector } from './http.js';
import { createMockConnector, MOCK_CAPABILITIES, NO_FAULTS, type MockDeps } from './mock.js';

export interface ConnectorDeps {
  store: Store;
  logger: Logger;
  now: () => Date;
  /** `policy.trading_day_tz`: where the mock's `day` orders end. */
  tradingDayTz: string;
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
    out.set(name, createMockConnector(name, NO_FAULTS, { ...mockDeps(name, deps), standsInFor: config.type }));
  }
  return out;
}

function mockDeps(name: string, deps: ConnectorDeps): MockDeps {
  const logger = deps.logger.child({ connector: name });
  return {
    store: deps.store.mock,
    now: deps.now,
    tradingDayTz: deps.tradingDayTz,
    onError: (err, what) => logger.warn({ err }, `${what} failed; the mock tries again`),
  };
}

async function createConnector(name: string, config: ConnectorConfig, deps: ConnectorDeps): Promise<Connector> {
  return config.type === 'mock' ? createMockConnector(name, config, mockDeps(name, deps)) : createBrokerConnector(name, config, deps);
}

/** Every type but the mock: built without the store, and without calling the broker. */
async function createBrokerConnector(name: string, config: Exclude<ConnectorConfig, { type: 'mock' }>, deps: Omit<ConnectorDeps, 'store'>): Promise<Connector> {
  switch (config.type) {
    case 'alpaca': {
      // Loaded only when configured: its stream client (ws) is not needed by anyone else.
      const { createAlpacaConnector } = await import('./alpaca.js');
      const alpaca = createAlpacaConnector(name, config, { now: deps.now, logger: deps.logger });
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

/**
 * Each configured connector's capabilities, for a replay: nothing is placed, asked or stored. A
 * mock (and, in test mode, every connector, as live) has the mock's; the others are built as at
 * start (a module's factory runs), read and closed at once.
 */
export async function connectorCapabilities(configs: Record<string, ConnectorConfig>, deps: Omit<ConnectorDeps, 'store'>, opts: { testMode: boolean }): Promise<Map<string, ConnectorCapabilities>> {
  const out = new Map<string, ConnectorCapabilities>();
  for (const [name, config] of Object.entries(configs)) {
    if (config.type === 'mock' || opts.testMode) {
      out.set(name, MOCK_CAPABILITIES);
      continue;
    }
    const connector = await createBrokerConnector(name, config, deps);
    out.set(name, connector.capabilities);
    await connector.close?.();
  }
  return out;
}

async function loadModuleConnector(name: string, path: string, options: Record<string, unknown>, deps: Omit<ConnectorDeps, 'store'>): Promise<Connector> {
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
  const connector = (await factory(options, { name, logger: deps.logger.child({ connector: name }), now: deps.now })) as Partial<Connector> | undefined;
  if (connector === undefined || connector === null || typeof connector !== 'object') {
    throw new ConnectorSetupError(`connectors.${name}: the module's factory returned no connector object`);
  }
  for (const method of ['place', 'cancel', 'getOrder'] as const) {
    if (typeof connector[method] !== 'function') {
      throw new ConnectorSetupError(`connectors.${name}: the module's connector has no ${method}() method`);
    }
  }
  if (connector.capabilities === undefined) throw new ConnectorSetupError(`connectors.${name}: the module's connector declares no capabilities`);
  const getPositions = typeof connector.getPositions === 'function' ? connector.getPositions : undefined;
  const declared = (connector.capabilities as Partial<ConnectorCapabilities>).positions;
  if (declared === true && getPositions === undefined) {
    throw new ConnectorSetupError(`connectors.${name}: the module's connector declares capabilities.positions: true but has no getPositions() method`);
  }
  // Reported positions are adopted as the truth, so only a module that can report them is asked:
  // one without getPositions() keeps sluice's own book (an empty answer would mean "flat").
  const positions = declared ?? getPositions !== undefined;
  const { place, cancel, getOrder } = connector as Connector;
  const subscribe = typeof connector.subscribe === 'function' ? connector.subscribe : undefined;
  // A module without a declaration: it streams when it has subscribe(), else it is asked.
  const orderUpdates: OrderUpdates = (connector.capabilities as Partial<ConnectorCapabilities>).order_updates ?? (subscribe !== undefined ? 'stream' : connector.capabilities.lookup ? 'poll' : 'none');
  if (orderUpdates === 'stream' && subscribe === undefined) {
    throw new ConnectorSetupError(`connectors.${name}: the module's connector declares capabilities.order_updates: "stream" but has no subscribe() method`);
  }
  // Delegation, not spreading: a class instance keeps its methods (close() included) and `this`.
  const tradingBlocked = connector.tradingBlocked;
  const close = connector.close;
  return {
    name,
    type: 'module',
    // A module written before `positions` existed reports its positions when it has getPositions().
    capabilities: { ...connector.capabilities, positions, order_updates: orderUpdates },
    place: async (order) => withNewStatus(await place.call(connector, order)),
    cancel: (instrument) => cancel.call(connector, instrument),
    getOrder: async (id) => {
      const found = await getOrder.call(connector, id);
      return found.ok && found.value !== null ? withNewStatus(found as CallResult<Order>) : found;
    },
    ...(subscribe === undefined
      ? {}
      : {
          subscribe: (listener: OrderStreamListener) =>
            subscribe.call(connector, { onUpdate: (order) => listener.onUpdate(normalizedStatus(order)), onState: (state) => listener.onState(state) }),
        }),
    getPositions: async () => {
      if (getPositions === undefined) return failure('this module connector reports no positions', { retryable: false, ambiguous: false });
      return checkedPositions(await getPositions.call(connector));
    },
    ...(tradingBlocked === undefined ? {} : { tradingBlocked: () => tradingBlocked.call(connector) }),
    ...(close === undefined ? {} : { close: () => close.call(connector) }),
  };
}

/**
 * A module's getPositions() answer, checked: anything but `{ ok: true, value: [{ instrument,
 * quantity }, …] }` (nothing returned, a bare array, no value) is a failure, never "no positions"
 * (which the reconciler would adopt as a flat account, wiping the book).
 */
export function checkedPositions(answer: unknown): CallResult<Position[]> {
  const a = answer as { ok?: unknown; value?: unknown; reason?: unknown } | null | undefined;
  if (a === null || typeof a !== 'object' || (a.ok !== true && a.ok !== false)) {
    return failure('getPositions() returned no { ok, value } result', { retryable: false, ambiguous: false });
  }
  if (a.ok === false) return answer as CallResult<Position[]>;
  if (!Array.isArray(a.value)) return failure('getPositions() returned { ok: true } without a list of positions', { retryable: false, ambiguous: false });
  for (const p of a.value as unknown[]) {
    const q = p as { instrument?: unknown; quantity?: unknown; avg_price?: unknown } | null;
    const finite = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
    if (q === null || typeof q !== 'object' || typeof q.instrument !== 'string' || !finite(q.quantity) || !finite(q.avg_price)) {
      return failure('getPositions() returned a position without { instrument: string, quantity: number, avg_price: number }', { retryable: false, ambiguous: false });
    }
  }
  return { ok: true, value: a.value as Position[] };
}

/** A module written before `new` existed may answer `accepted` (or a broker's `pending_new`): both are `new`. */
function normalizedStatus(order: Order): Order {
  const status = order.status as string;
  return status === 'accepted' || status === 'pending_new' ? { ...order, status: 'new' } : order;
}

function withNewStatus(result: CallResult<Order>): CallResult<Order> {
  return result.ok ? { ok: true, value: normalizedStatus(result.value) } : result;
}
