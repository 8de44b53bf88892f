/**
 * The mock broker (docs/execution.md#connectors): a simulated broker whose orders and positions are durable
 * (they live in the store, so they survive restarts). Market orders fill at the reference
 * price, limit orders at their limit price. Faults make it behave like a real broker on a bad
 * day: `latency_ms`, `failure_rate` (refused, nothing placed) and `timeout_rate` (the order
 * lands but the call times out: the ambiguous case sluice must resolve by client_order_id).
 */
import { randomUUID } from 'node:crypto';
import type { Order } from '../domain/types.js';
import type { MockBrokerStore } from '../store/store.js';
import { failure, notForwardable, success, type CallResult, type Connector, type OrderRequest } from './connector.js';
import type { ConnectorCapabilities } from '../domain/types.js';

export interface MockFaults {
  latency_ms: number;
  failure_rate: number;
  timeout_rate: number;
}

export interface MockConnector extends Connector {
  readonly type: 'mock';
  /** In test mode, the configured type this mock stands in for; null for a configured mock. */
  readonly standsInFor: string | null;
  setFaults(faults: Partial<MockFaults>): MockFaults;
}

/** A mock without faults (what stands in for a configured connector in test mode). */
export const NO_FAULTS: MockFaults = { latency_ms: 0, failure_rate: 0, timeout_rate: 0 };

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

export function createMockConnector(
  name: string,
  initial: MockFaults,
  deps: { store: MockBrokerStore; now: () => Date; random?: () => number; sleep?: (ms: number) => Promise<void>; standsInFor?: string },
): MockConnector {
  let faults: MockFaults = { ...initial };
  const random = deps.random ?? Math.random;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const delay = async () => {
    if (faults.latency_ms > 0) await sleep(faults.latency_ms);
  };

  function fillPrice(order: OrderRequest): number | null {
    switch (order.order_type) {
      case 'market':
        return order.reference_price ?? null;
      case 'limit':
      case 'stop_limit':
        return order.limit_price ?? null;
      case 'stop':
        return order.stop_price ?? order.reference_price ?? null;
    }
  }

  return {
    name,
    type: 'mock',
    standsInFor: deps.standsInFor ?? null,
    capabilities: MOCK_CAPABILITIES,
    setFaults(next) {
      faults = {
        latency_ms: next.latency_ms ?? faults.latency_ms,
        failure_rate: next.failure_rate ?? faults.failure_rate,
        timeout_rate: next.timeout_rate ?? faults.timeout_rate,
      };
      return { ...faults };
    },

    async place(order): Promise<CallResult<Order>> {
      if (order.forwarded === true) return notForwardable(name, order);
      await delay();
      if (faults.failure_rate > 0 && random() < faults.failure_rate) {
        return failure('mock: simulated failure (nothing placed)', { retryable: true, ambiguous: false, http_status: 503 });
      }
      const price = fillPrice(order);
      if (price === null) {
        return failure(`mock: a ${order.order_type} order needs a price to fill`, { retryable: false, ambiguous: false, http_status: 422 });
      }
      const { order: placed } = await deps.store.placeOrder(
        name,
        {
          client_order_id: order.client_order_id,
          order_id: `mock-${randomUUID()}`,
          instrument: order.instrument,
          side: order.side,
          quantity: order.quantity,
          order_type: order.order_type,
          limit_price: order.limit_price ?? null,
          status: 'filled',
          filled_quantity: order.quantity,
          fill_price: price,
        },
        deps.now(),
      );
      if (faults.timeout_rate > 0 && random() < faults.timeout_rate) {
        return failure('mock: simulated timeout after the order landed', { retryable: true, ambiguous: true });
      }
      return success(placed);
    },

    async cancel(instrument) {
      await delay();
      return success({ cancelled: await deps.store.cancelOpenOrders(name, instrument) });
    },

    async getOrder(clientOrderId) {
      return success(await deps.store.getOrder(name, clientOrderId));
    },

    async getPositions() {
      return success(await deps.store.getPositions(name));
    },
  };
}
