/**
 * The mock broker (docs/execution.md#the-mock-connector): a simulated broker whose orders,
 * positions and last prices are durable (they live in the store, so they survive restarts).
 * By default every order fills at once: market orders at the reference price, limit orders at
 * their limit price. `fill_delay_ms` and `partial_fills` make it fill later and in parts,
 * `resting_orders` makes limit and stop orders wait for a price (`setPrices`) that crosses them;
 * what happens after placement runs in mock-engine.ts and is pushed to `subscribe`rs. Faults make
 * it behave like a real broker on a bad day: `latency_ms`, `failure_rate` (refused, nothing
 * placed) and `timeout_rate` (the order lands but the call times out: the ambiguous case sluice
 * must resolve by client_order_id).
 */
import { randomUUID } from 'node:crypto';
import type { ConnectorCapabilities, Order } from '../domain/types.js';
import type { MockBrokerStore } from '../store/contract/mock-broker.js';
import { IMMEDIATE_FILLS, planPlacement, restsUntilCrossed, type MockFillSettings } from '../store/plans/mock-broker.js';
import { failure, notForwardable, success, type CallResult, type Connector, type OrderStreamListener } from './connector.js';
import { createMockEngine } from './mock-engine.js';

export interface MockFaults {
  latency_ms: number;
  failure_rate: number;
  timeout_rate: number;
}

/** Everything that can be set on a mock, in its config or at run time (the faults route). */
export type MockSettings = MockFaults & MockFillSettings;

export interface MockConnector extends Connector {
  readonly type: 'mock';
  /** In test mode, the configured type this mock stands in for; null for a configured mock. */
  readonly standsInFor: string | null;
  setFaults(settings: Partial<MockSettings>): MockSettings;
  /** Stores the last prices (instrument → price) and fills what they cross; returns the orders moved, as now. */
  setPrices(prices: Record<string, number>): Promise<Order[]>;
  /** Runs every step due now (parts, expiries) and arms the timer: what creation and subscribe do. */
  resume(): Promise<void>;
  subscribe(listener: OrderStreamListener): () => void;
  close(): Promise<void>;
}

/** A mock without faults that fills at once (what stands in for a configured connector in test mode). */
export const NO_FAULTS: MockSettings = { latency_ms: 0, failure_rate: 0, timeout_rate: 0, ...IMMEDIATE_FILLS };

export function isMockConnector(connector: Connector): connector is MockConnector {
  return connector.type === 'mock' && 'setFaults' in connector;
}

export const MOCK_CAPABILITIES: ConnectorCapabilities = {
  order_types: ['market', 'limit', 'stop', 'stop_limit'],
  brackets: false,
  fractional: true,
  short: true,
  lookup: true,
  positions: true,
  order_updates: 'stream',
};

export interface MockDeps {
  store: MockBrokerStore;
  now: () => Date;
  /** `policy.trading_day_tz`: a `day` order that is still open expires at the end of its day there. */
  tradingDayTz: string;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  standsInFor?: string;
  /** A failure after placement (the database, a listener): logged, and the step is tried again later. */
  onError?: (err: unknown, what: string) => void;
}

export function createMockConnector(name: string, initial: MockSettings, deps: MockDeps): MockConnector {
  let settings: MockSettings = {
    latency_ms: initial.latency_ms,
    failure_rate: initial.failure_rate,
    timeout_rate: initial.timeout_rate,
    fill_delay_ms: initial.fill_delay_ms,
    partial_fills: initial.partial_fills,
    resting_orders: initial.resting_orders,
  };
  const random = deps.random ?? Math.random;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const delay = async () => {
    if (settings.latency_ms > 0) await sleep(settings.latency_ms);
  };
  const onError = deps.onError ?? (() => undefined);
  const engine = createMockEngine({ name, store: deps.store, now: deps.now, settings: () => settings, onError });
  // Resumes what came due while no instance ran (parts, day ends).
  void engine.resume();

  return {
    name,
    type: 'mock',
    standsInFor: deps.standsInFor ?? null,
    capabilities: MOCK_CAPABILITIES,
    setFaults(next) {
      settings = {
        latency_ms: next.latency_ms ?? settings.latency_ms,
        failure_rate: next.failure_rate ?? settings.failure_rate,
        timeout_rate: next.timeout_rate ?? settings.timeout_rate,
        fill_delay_ms: next.fill_delay_ms ?? settings.fill_delay_ms,
        partial_fills: next.partial_fills ?? settings.partial_fills,
        resting_orders: next.resting_orders ?? settings.resting_orders,
      };
      void engine.resume();
      return { ...settings };
    },

    async place(order): Promise<CallResult<Order>> {
      if (order.forwarded === true) return notForwardable(name, order);
      await delay();
      if (settings.failure_rate > 0 && random() < settings.failure_rate) {
        return failure('mock: simulated failure (nothing placed)', { retryable: true, ambiguous: false, http_status: 503 });
      }
      const now = deps.now();
      const input = {
        client_order_id: order.client_order_id,
        order_id: `mock-${randomUUID()}`,
        instrument: order.instrument,
        side: order.side,
        quantity: order.quantity,
        order_type: order.order_type,
        limit_price: order.limit_price ?? null,
        stop_price: order.stop_price ?? null,
        time_in_force: order.time_in_force,
        reference_price: order.reference_price ?? null,
      };
      // Only an order that may rest looks at the last price (the default path reads nothing more).
      const last = restsUntilCrossed(input, settings) ? await deps.store.getPrice(name, order.instrument) : null;
      const planned = planPlacement(input, settings, last, now, deps.tradingDayTz);
      if (!planned.ok) return failure(`mock: ${planned.reason}`, { retryable: false, ambiguous: false, http_status: 422 });
      const { created, order: placed } = await deps.store.placeOrder(name, planned.order, now);
      if (created) {
        engine.placed({ status: placed.status, next_fill_at: planned.order.next_fill_at ?? null, expires_at: planned.order.expires_at ?? null });
        // A market order fills at the reference price, which becomes the last price resting orders are judged by.
        if (settings.resting_orders && order.order_type === 'market' && input.reference_price !== null) {
          await engine.cross({ [order.instrument]: input.reference_price }).catch((err: unknown) => onError(err, 'mock last price'));
        }
      }
      if (settings.timeout_rate > 0 && random() < settings.timeout_rate) {
        return failure('mock: simulated timeout after the order landed', { retryable: true, ambiguous: true });
      }
      return success(placed);
    },

    async cancel(instrument) {
      await delay();
      const cancelled = await deps.store.cancelOpenOrders(name, instrument, deps.now());
      engine.report(cancelled);
      return success({ cancelled: cancelled.length });
    },

    async getOrder(clientOrderId) {
      return success(await deps.store.getOrder(name, clientOrderId));
    },

    async getPositions() {
      return success(await deps.store.getPositions(name));
    },

    setPrices: (prices) => engine.cross(prices),
    resume: () => engine.resume(),
    subscribe: (listener) => engine.subscribe(listener),
    close: () => engine.close(),
  };
}
