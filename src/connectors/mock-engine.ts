/**
 * What happens to the mock's orders after placement (docs/execution.md#the-mock-connector): parts
 * that fill on a schedule, resting orders that a price crosses, day orders that expire. The
 * store holds every order's state, so this only decides when to look: one timer per connector,
 * armed at the earliest due time the store reports (never one per order), unref'd, stopped by
 * `close`. Every step is a conditional write (store/plans/mock-broker.ts decides it), so any
 * number of instances may run this on one database: a step someone else took first writes
 * nothing, and only the instance whose write landed reports it to its listeners.
 */
import type { Order } from '../domain/types.js';
import type { MockBrokerStore, MockOrderChange, MockOrderState } from '../store/contract/mock-broker.js';
import { orderOf, planCross, planDue, versionOf, type MockFillSettings } from '../store/plans/mock-broker.js';
import type { OrderStreamListener } from './connector.js';

export interface MockEngineDeps {
  name: string;
  store: MockBrokerStore;
  now: () => Date;
  /** The fill settings in force (they can change at run time). */
  settings: () => MockFillSettings;
  /** A step or a listener failed: the caller logs it; the timer looks again a little later. */
  onError: (err: unknown, what: string) => void;
}

export interface MockEngine {
  subscribe(listener: OrderStreamListener): () => void;
  /** Runs every step due now, then arms the timer at the next due time (what creation and subscribe do). */
  resume(): Promise<void>;
  /** After a placement: arms the timer for the order's next part or end. */
  placed(order: Pick<MockOrderState, 'status' | 'next_fill_at' | 'expires_at'>): void;
  /** Stores the last prices and moves the resting orders they cross; returns those orders as they are now. */
  cross(prices: Record<string, number>): Promise<Order[]>;
  /** Reports changes made elsewhere (cancels) to the listeners. */
  report(orders: readonly Order[]): void;
  close(): Promise<void>;
}

/** How soon the timer looks again after a failed step, or a due step someone else holds. */
const RETRY_MS = 1000;
/** Failed passes back off, doubling up to this (a store that is gone for good is not hammered). */
const MAX_RETRY_MS = 60_000;
/** setTimeout's ceiling (about 24.8 days): a later time is reached in several waits. */
const MAX_WAIT_MS = 2_147_483_647;
/** Steps one order may take in one pass: parts (≤ 100) and an end; a bound, not a rule. */
const MAX_STEPS = 1000;

export function createMockEngine(deps: MockEngineDeps): MockEngine {
  const { name, store } = deps;
  const listeners = new Set<OrderStreamListener>();
  let timer: NodeJS.Timeout | undefined;
  let armedFor: number | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let closed = false;
  let failures = 0;

  function notify(order: Order): void {
    for (const listener of listeners) {
      try {
        listener.onUpdate(order);
      } catch (err) {
        deps.onError(err, 'order update listener');
      }
    }
  }

  function arm(at: number | null): void {
    if (closed || at === null) return;
    const now = deps.now().getTime();
    // Something due now that a pass could not take (another instance holds it): look again soon.
    const when = Math.max(at, now + (at <= now && running !== null ? RETRY_MS : 0));
    if (timer !== undefined && armedFor !== null && armedFor <= when) return;
    if (timer !== undefined) clearTimeout(timer);
    armedFor = when;
    timer = setTimeout(
      () => {
        timer = undefined;
        armedFor = null;
        void resume();
      },
      Math.min(MAX_WAIT_MS, Math.max(0, when - now)),
    );
    timer.unref();
  }

  /** Takes the order's steps, the first given or each as due, while its writes land; the order after, or null when none did. */
  async function advance(start: MockOrderState, first: MockOrderChange | null, now: number): Promise<MockOrderState | null> {
    let current = start;
    let moved = false;
    let change = first ?? planDue(current, deps.settings(), now);
    for (let steps = 0; change !== null && steps < MAX_STEPS; steps += 1) {
      const after = await store.updateOrder(name, versionOf(current), change, deps.now());
      // Someone else moved it first: theirs is the step, and the report.
      if (after === null) break;
      if (after.status !== current.status || after.filled_quantity !== current.filled_quantity) notify(orderOf(after));
      current = after;
      moved = true;
      change = planDue(current, deps.settings(), now);
    }
    return moved ? current : null;
  }

  async function pass(): Promise<void> {
    const now = deps.now().getTime();
    for (const order of await store.openOrders(name, { due_by: now })) {
      if (closed) return;
      await advance(order, null, now);
    }
    arm(await store.nextDueAt(name));
  }

  function resume(): Promise<void> {
    if (closed) return Promise.resolve();
    if (running !== null) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await pass();
          failures = 0;
        } catch (err) {
          deps.onError(err, 'mock fills');
          failures += 1;
          arm(deps.now().getTime() + Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** Math.min(failures - 1, 6)));
        }
      } while (again && !closed);
    })().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    subscribe(listener) {
      listeners.add(listener);
      // The mock's stream is in-process: always up. Told after subscribe returned, like a real stream.
      queueMicrotask(() => {
        if (listeners.has(listener)) listener.onState({ connected: true });
      });
      void resume();
      return () => {
        listeners.delete(listener);
      };
    },
    resume,
    placed(order) {
      if (order.status !== 'new' && order.status !== 'partially_filled') return;
      const times = [order.next_fill_at, order.expires_at].filter((x): x is number => x !== null);
      if (times.length > 0) arm(Math.min(...times));
    },
    async cross(prices) {
      const now = deps.now();
      await store.setPrices(name, prices, now);
      const moved: Order[] = [];
      for (const [instrument, last] of Object.entries(prices)) {
        for (const order of await store.openOrders(name, { resting: instrument })) {
          const change = planCross(order, last, deps.settings(), now.getTime());
          if (change === null) continue;
          const after = await advance(order, change, now.getTime());
          if (after !== null) moved.push(orderOf(after));
        }
      }
      arm(await store.nextDueAt(name));
      return moved;
    },
    report(orders) {
      for (const order of orders) notify(order);
    },
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running;
      listeners.clear();
    },
  };
}
