/**
 * Shared pieces of the acceptance tests of orders followed to their end (docs/execution.md#orders),
 * read over HTTP only, so the same helpers serve an in-process server, a child process of the
 * built CLI and several instances on one PostgreSQL database: the mock's orders and the
 * positions they add up to, sluice's positions and reserved exposure, the `order.*` events and
 * the fills they booked, and the one end-state check every test shares.
 */
import { expect } from 'vitest';
import { e2eConfig, readJson, sleep } from '../helpers/connectors.js';
import { adminFetch, eventually } from '../helpers/server.js';

/** The mock connector config with the given fill settings, limits off unless `policy` sets them. */
export function mockConfig(mock: Record<string, unknown>, opts: { policy?: Record<string, unknown>; execution?: Record<string, unknown> } = {}): Record<string, unknown> {
  return e2eConfig({
    connector: 'mock',
    connectors: { mock: { type: 'mock', ...mock } },
    // No periodic position check unless a test is about it: drift is asserted, never repaired.
    execution: { reconcile_interval_seconds: 3600, ...opts.execution },
    ...(opts.policy === undefined ? {} : { policy: opts.policy }),
  });
}

export interface MockOrder {
  client_order_id: string;
  instrument: string;
  side: 'buy' | 'sell';
  quantity: number;
  order_type: string;
  status: string;
  filled_quantity: number;
  fill_price: number | null;
}

const OPEN = new Set(['new', 'partially_filled']);
export const isOpen = (status: string): boolean => OPEN.has(status);

/** Every order of the mock broker (`GET /admin/connectors/mock/orders`, all pages). */
export async function mockBook(url: string, name = 'mock'): Promise<MockOrder[]> {
  const out: MockOrder[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const page: { items: MockOrder[]; next_cursor: string | null } = await readJson(await adminFetch(url, `/connectors/${name}/orders?limit=500${query}`));
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return out;
}

/** Rounded like the ledger (9 decimals), so sums of parts compare exactly. */
export const round9 = (n: number): number => Math.round(n * 1e9) / 1e9;

/** The positions the mock's fills add up to, per instrument, zeros left out. */
export function positionsOfOrders(orders: readonly MockOrder[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of orders) out[o.instrument] = round9((out[o.instrument] ?? 0) + (o.side === 'buy' ? o.filled_quantity : -o.filled_quantity));
  return withoutZeros(out);
}

function withoutZeros(p: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(p).filter(([, q]) => q !== 0));
}

export interface LedgerView {
  positions: Record<string, number>;
  gross_exposure: number;
  reserved_exposure: number;
  realized_pnl_today: number;
}

/** sluice's book of one connector (`GET /admin/positions`), zeros left out. */
export async function ledgerOf(url: string, connector = 'mock'): Promise<LedgerView> {
  const body = await readJson<{ connectors: Record<string, { positions: Array<{ instrument: string; quantity: number }>; gross_exposure: number; reserved_exposure: number; realized_pnl_today: number }> }>(
    await adminFetch(url, '/positions'),
  );
  const c = body.connectors[connector];
  if (c === undefined) throw new Error(`no connector ${connector} in GET /admin/positions`);
  return { ...c, positions: withoutZeros(Object.fromEntries(c.positions.map((p) => [p.instrument, p.quantity]))) };
}

export interface EventItem {
  seq: number;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
}

/** The whole event log (`GET /admin/events`, every page). */
export async function allEvents(url: string): Promise<EventItem[]> {
  const out: EventItem[] = [];
  for (let after = 0; ; ) {
    const page = await readJson<{ items: EventItem[]; next_after: number }>(await adminFetch(url, `/events?after=${after}&limit=1000`));
    if (page.items.length === 0) return out;
    out.push(...page.items);
    after = page.next_after;
  }
}

export interface BookedOrder {
  signal_id: string | null;
  instrument: string;
  side: string;
  quantity: number;
  /** Every fill an `order.*` event booked, in order. */
  fills: number[];
  /** The last `order.*` event's status and cumulative filled quantity. */
  status: string;
  filled_quantity: number;
}

/** What the `order.*` events say per client_order_id. */
export function bookedOrders(events: readonly EventItem[]): Map<string, BookedOrder> {
  const out = new Map<string, BookedOrder>();
  for (const e of events) {
    if (!e.type.startsWith('order.')) continue;
    const d = e.data as { client_order_id: string; instrument: string; side: string; quantity: number; filled_quantity: number; fill: { quantity: number } | null };
    const entry = out.get(d.client_order_id) ?? { signal_id: e.signal_id, instrument: d.instrument, side: d.side, quantity: d.quantity, fills: [], status: '', filled_quantity: 0 };
    if (d.fill !== null) entry.fills.push(d.fill.quantity);
    entry.status = e.type.slice('order.'.length);
    entry.filled_quantity = d.filled_quantity;
    out.set(d.client_order_id, entry);
  }
  return out;
}

export const sum = (xs: readonly number[]): number => round9(xs.reduce((a, b) => a + b, 0));

/** Waits until neither the mock nor sluice's event log has an open order left; on a timeout, says what was still open. */
export async function settled(url: string, ms = 20_000): Promise<{ orders: MockOrder[]; booked: Map<string, BookedOrder> }> {
  let last = '';
  try {
    return await eventually(async () => {
      const orders = await mockBook(url);
      // The event log is read once the mock is done (it is the larger read); polls are spaced so
      // that reading does not slow down the work it waits for.
      if (orders.some((o) => isOpen(o.status))) {
        last = `${orders.filter((o) => isOpen(o.status)).length} orders open at the mock`;
        await sleep(100);
        return undefined;
      }
      const booked = bookedOrders(await allEvents(url));
      const open = orders.filter((o) => isOpen(o.status)).map((o) => `mock ${o.client_order_id} ${o.status} ${o.filled_quantity}/${o.quantity}`);
      const openBooked = [...booked].filter(([, b]) => isOpen(b.status)).map(([id, b]) => `sluice ${id} ${b.status} ${b.filled_quantity}/${b.quantity}`);
      // sluice has booked every order the mock holds, as far as the mock filled it.
      const behind = orders.filter((o) => booked.get(o.client_order_id)?.filled_quantity !== o.filled_quantity).map((o) => `behind ${o.client_order_id} mock ${o.filled_quantity} sluice ${booked.get(o.client_order_id)?.filled_quantity}`);
      last = [...open, ...openBooked, ...behind].slice(0, 20).join('; ');
      if (last === '') return { orders, booked };
      await sleep(100);
      return undefined;
    }, ms, 'every order terminal at the mock and booked by sluice');
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${last}`);
  }
}

/**
 * The end state every test shares: no order open at the mock or in sluice's event log; each
 * mock order booked by sluice, its fills booked once (the `order.*` events' fills sum to what
 * the mock filled, the events' last status is the mock's); sluice's positions equal the mock's,
 * both from its orders and its own book; nothing reserved. Returns the orders for the test's own checks.
 */
export async function expectSettledAndBookedOnce(url: string, mockPositions?: () => Promise<Record<string, number>>): Promise<{ orders: MockOrder[]; booked: Map<string, BookedOrder> }> {
  const { orders, booked } = await settled(url);
  for (const o of orders) {
    const b = booked.get(o.client_order_id);
    expect(b, `order ${o.client_order_id} is in sluice's event log`).toBeDefined();
    expect({ id: o.client_order_id, status: b?.status, booked: sum(b?.fills ?? []) }).toEqual({ id: o.client_order_id, status: o.status, booked: o.filled_quantity });
  }
  // sluice followed no order the mock does not have.
  expect([...booked.keys()].filter((id) => !orders.some((o) => o.client_order_id === id))).toEqual([]);
  const ledger = await ledgerOf(url);
  expect(ledger.positions).toEqual(positionsOfOrders(orders));
  if (mockPositions !== undefined) expect(ledger.positions).toEqual(withoutZeros(await mockPositions()));
  expect(ledger.reserved_exposure).toBe(0);
  return { orders, booked };
}
