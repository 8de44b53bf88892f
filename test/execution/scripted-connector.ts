/**
 * The executor tests' connector: scripted per `place` call (ok, transient failure, ambiguous
 * timeout, permanent refusal, throw), with its own order book that a test may move on (the broker
 * filling or ending an open order), lookups that can be made to fail, a `cancel` that ends the
 * instrument's open orders (or not yet), and optionally an order stream the test drives.
 */
import { failure, notForwardable, success, type CallResult, type Connector, type OrderRequest, type OrderStreamListener, type PlacedOrderRequest } from '../../src/connectors/connector.js';
import { MOCK_CAPABILITIES } from '../../src/connectors/mock.js';
import { isTerminalOrderStatus, type ConnectorCapabilities, type Order, type OrderStatus, type OrderUpdates, type Position } from '../../src/domain/types.js';

/** How the connector answers one `place` call. */
export type Step =
  /** Placed; filled at the reference price unless told otherwise. */
  | { kind: 'ok'; status?: OrderStatus; filled?: number; price?: number | null }
  /** 503: nothing placed, worth trying again. */
  | { kind: 'transient' }
  /** A timeout after sending: `landed` says whether the broker took the order anyway. */
  | { kind: 'ambiguous'; landed: boolean }
  /** A 4xx other than 429: the broker's final word. */
  | { kind: 'permanent'; reason: string }
  /** A connector bug. */
  | { kind: 'throws'; message: string };

export interface Call {
  op: 'place' | 'getOrder' | 'cancel';
  /** client_order_id for place and getOrder, the instrument for cancel. */
  key: string;
}

/** The mock broker's, but its positions are not asked for: nothing here reconciles them. */
const CAPABILITIES: ConnectorCapabilities = { ...MOCK_CAPABILITIES, positions: false };

/** How the scripted connector reports on its orders. */
export interface ConnectorSetup {
  /** `stream` (the default, as the mock broker) with `stream: true` gets a `subscribe` the test drives. */
  orderUpdates?: OrderUpdates;
  stream?: boolean;
}

export class ScriptedConnector implements Connector {
  readonly type = 'scripted';
  readonly capabilities: ConnectorCapabilities;
  /** Present with `stream: true`: the tracker subscribes, the test pushes (`push`, `streamState`). */
  readonly subscribe?: (listener: OrderStreamListener) => () => void;
  /** The tracker's listener while it is subscribed. */
  listener: OrderStreamListener | null = null;
  /** Whether `cancel` ends the instrument's open orders at once (false: they stay open until the test ends them). */
  cancelTakesEffect = true;
  /** How long each lookup takes (a slow broker), and how many run at once (now, and at most). */
  lookupDelayMs = 0;
  lookupsInFlight = 0;
  maxLookupsInFlight = 0;
  readonly calls: Call[] = [];
  /** The broker's book, by client_order_id. */
  readonly orders = new Map<string, Order>();
  /** Instruments of the place calls now in flight, one entry per call. */
  readonly inFlight: string[] = [];
  maxInFlight = 0;
  /** How many of the next lookups fail as a refused connection would (nothing answered). */
  lookupsDown = 0;
  /** Runs when a place call starts (after it is counted in flight). */
  onPlace: ((request: OrderRequest) => void) | null = null;
  private readonly steps: Step[] = [];
  private held: Promise<void> | null = null;
  /** The instrument whose place calls wait, or null for every call. */
  private heldInstrument: string | null = null;
  private releaseHeld: () => void = () => undefined;
  private counter = 0;

  constructor(
    readonly name: string,
    setup: ConnectorSetup = {},
  ) {
    this.capabilities = { ...CAPABILITIES, ...(setup.orderUpdates === undefined ? {} : { order_updates: setup.orderUpdates }) };
    if (setup.stream === true) {
      this.subscribe = (listener) => {
        this.listener = listener;
        return () => {
          if (this.listener === listener) this.listener = null;
        };
      };
    }
  }

  /** The stream delivers what the broker's book now says about this order. */
  push(clientOrderId: string): void {
    known(this.listener, 'a subscribed tracker').onUpdate(known(this.orders.get(clientOrderId), `the order ${clientOrderId}`));
  }

  streamState(connected: boolean, reason?: string): void {
    known(this.listener, 'a subscribed tracker').onState(reason === undefined ? { connected } : { connected, reason });
  }

  /** The broker moves an order on (fills, ends it): what later lookups and `push` report. */
  update(clientOrderId: string, change: Partial<Pick<Order, 'status' | 'filled_quantity' | 'fill_price'>>): Order {
    const next = { ...known(this.orders.get(clientOrderId), `the order ${clientOrderId}`), ...change };
    this.orders.set(clientOrderId, next);
    return next;
  }

  lookupsOf(clientOrderId: string): number {
    return this.calls.filter((c) => c.op === 'getOrder' && c.key === clientOrderId).length;
  }

  /** Answers for the next place calls, in order; once they are used up, place fills. */
  script(...steps: Step[]): void {
    this.steps.push(...steps);
  }

  /** Keeps every place call (or only those of `instrument`) waiting until `release`. */
  hold(instrument: string | null = null): void {
    this.heldInstrument = instrument;
    this.held = new Promise((resolve) => {
      this.releaseHeld = resolve;
    });
  }

  release(): void {
    this.held = null;
    this.releaseHeld();
  }

  placedFor(clientOrderId: string): Call[] {
    return this.calls.filter((c) => c.op === 'place' && c.key === clientOrderId);
  }

  async place(request: OrderRequest): Promise<CallResult<Order>> {
    // A broker: a forwarded close or target is for fire-and-forget connectors only.
    if (request.forwarded === true) return notForwardable(this.name, request);
    this.calls.push({ op: 'place', key: request.client_order_id });
    this.inFlight.push(request.instrument);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.length);
    try {
      this.onPlace?.(request);
      if (this.held !== null && (this.heldInstrument === null || this.heldInstrument === request.instrument)) await this.held;
      // A few turns of the event loop, so that concurrent lanes interleave.
      for (let i = 0; i < request.quantity % 4; i += 1) await new Promise((resolve) => setImmediate(resolve));
      const step = this.steps.shift() ?? { kind: 'ok' };
      switch (step.kind) {
        case 'ok':
          return success(this.book(request, step.status ?? 'filled', step.filled, step.price));
        case 'transient':
          return failure('503 service unavailable', { retryable: true, ambiguous: false, http_status: 503 });
        case 'ambiguous':
          if (step.landed) this.book(request, 'filled');
          return failure('timed out after sending', { retryable: true, ambiguous: true });
        case 'permanent':
          return failure(step.reason, { retryable: false, ambiguous: false, http_status: 403 });
        case 'throws':
          throw new Error(step.message);
      }
    } finally {
      this.inFlight.splice(this.inFlight.indexOf(request.instrument), 1);
    }
  }

  async getOrder(clientOrderId: string): Promise<CallResult<Order | null>> {
    this.calls.push({ op: 'getOrder', key: clientOrderId });
    this.lookupsInFlight += 1;
    this.maxLookupsInFlight = Math.max(this.maxLookupsInFlight, this.lookupsInFlight);
    try {
      if (this.lookupDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.lookupDelayMs));
      if (this.lookupsDown > 0) {
        this.lookupsDown -= 1;
        return failure('connection refused', { retryable: true, ambiguous: false });
      }
      return success(this.orders.get(clientOrderId) ?? null);
    } finally {
      this.lookupsInFlight -= 1;
    }
  }

  async cancel(instrument: string): Promise<CallResult<{ cancelled: number }>> {
    this.calls.push({ op: 'cancel', key: instrument });
    if (!this.cancelTakesEffect) return success({ cancelled: 0 });
    // What filled before the cancel stays filled.
    const open = [...this.orders.values()].filter((o) => o.instrument === instrument && !isTerminalOrderStatus(o.status));
    for (const order of open) this.orders.set(order.client_order_id, { ...order, status: 'canceled' });
    return success({ cancelled: open.length });
  }

  async getPositions(): Promise<CallResult<Position[]>> {
    return success([]);
  }

  /** A broker keeps one order per client_order_id: a repeat gets the existing one back. */
  book(request: Pick<PlacedOrderRequest, 'client_order_id' | 'instrument' | 'side' | 'quantity' | 'reference_price'>, status: OrderStatus, filled?: number, price?: number | null): Order {
    const existing = this.orders.get(request.client_order_id);
    if (existing !== undefined) return existing;
    this.counter += 1;
    const filledQuantity = filled ?? (status === 'filled' ? request.quantity : 0);
    const order: Order = {
      client_order_id: request.client_order_id,
      order_id: `${this.name}-${this.counter}`,
      instrument: request.instrument,
      side: request.side,
      quantity: request.quantity,
      order_type: 'market',
      limit_price: null,
      status,
      filled_quantity: filledQuantity,
      fill_price: price === undefined ? (filledQuantity > 0 ? (request.reference_price ?? null) : null) : price,
    };
    this.orders.set(request.client_order_id, order);
    return order;
  }
}

function known<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`expected ${what}, got ${String(value)}`);
  return value;
}
