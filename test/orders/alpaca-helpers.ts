/**
 * Shared parts of the acceptance tests of orders followed to their end against the fake Alpaca
 * (docs/execution.md#orders): the config, the event log read over HTTP (so the same checks serve
 * an in-process server, a child process and PostgreSQL instances), and the end state every test
 * asserts: the broker and sluice hold the same positions, nothing is open on either side, and
 * each fill the broker made is booked exactly once.
 */
import { expect } from 'vitest';
import { TERMINAL_ORDER_STATUSES, type OrderStatus } from '../../src/domain/types.js';
import type { AlpacaOrderJson, FakeAlpaca } from '../fakes/alpaca-server.js';
import { e2eConfig, readJson } from '../helpers/connectors.js';
import { adminFetch, eventually } from '../helpers/server.js';

/** The symbol of the warm-up order: never traded, excluded from every comparison. */
export const WARM = 'WARM';

/**
 * A config with the `default` source routed to an `alpaca` connector at the fake. The periodic
 * position check is off (3600 s): it adopts the broker's positions, which would hide a fill
 * booked twice or missed; tests that want it say so.
 */
export function alpacaOrdersConfig(fake: FakeAlpaca, execution: Record<string, unknown> = {}): Record<string, unknown> {
  return e2eConfig({
    connector: 'alpaca',
    // A 127.0.0.1 URL is not an alpaca.markets host, so `live: false` accepts it.
    connectors: { alpaca: { type: 'alpaca', base_url: fake.url, key_id: fake.key_id, secret_key: fake.secret_key, live: false, timeout_ms: 2000 } },
    execution: { breaker: { failure_threshold: 100, half_open_after_seconds: null }, reconcile_interval_seconds: 3600, ...execution },
  });
}

/** POST /v2/orders straight to the fake, as another client of the same account would. */
export async function placeAtFake(fake: FakeAlpaca, body: Record<string, unknown>): Promise<AlpacaOrderJson> {
  const res = await fetch(`${fake.url}/v2/orders`, {
    method: 'POST',
    headers: { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as AlpacaOrderJson;
}

/**
 * The fake compiles each JSON schema on first use, inside the request; one resting limit order
 * (no position) and its lookup compile the validators sluice's calls need before a test counts.
 */
export async function warmUp(fake: FakeAlpaca): Promise<void> {
  const order = await placeAtFake(fake, { symbol: WARM, qty: '1', side: 'buy', type: 'limit', limit_price: '1', time_in_force: 'day', client_order_id: `warm-up-${Date.now()}` });
  const res = await fetch(`${fake.url}/v2/orders:by_client_order_id?client_order_id=${order.client_order_id}`, {
    headers: { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key },
  });
  expect(res.status).toBe(200);
}

export interface LoggedEvent {
  seq: number;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
}

/** The whole event log, through `GET /admin/events`, page by page. */
export async function allEvents(url: string): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await readJson<{ items: LoggedEvent[]; next_after: number | null }>(await adminFetch(url, `/events?after=${after}&limit=1000`));
    out.push(...page.items);
    const last = page.items.at(-1);
    if (last === undefined || page.items.length < 1000) return out;
    after = last.seq;
  }
}

/** What the `order.*` events say of one order. */
export interface BookedOrder {
  client_order_id: string;
  instrument: string;
  quantity: number;
  /** How many events booked a fill. */
  fills: number;
  /** The sum of the quantities they booked. */
  filled: number;
  /** The status of the last event. */
  last: OrderStatus;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

/** Per client_order_id, the fills booked by its `order.*` events and its last status. */
export function bookedOrders(events: readonly LoggedEvent[]): Map<string, BookedOrder> {
  const out = new Map<string, BookedOrder>();
  for (const e of events) {
    if (!e.type.startsWith('order.')) continue;
    const coid = str(e.data['client_order_id']);
    const seen = out.get(coid) ?? { client_order_id: coid, instrument: str(e.data['instrument']), quantity: num(e.data['quantity']), fills: 0, filled: 0, last: 'new' };
    const fill = e.data['fill'];
    if (typeof fill === 'object' && fill !== null) {
      seen.fills += 1;
      seen.filled = Number((seen.filled + num((fill as Record<string, unknown>)['quantity'])).toFixed(9));
    }
    seen.last = e.type.slice('order.'.length) as OrderStatus;
    out.set(coid, seen);
  }
  return out;
}

const isTerminal = (s: OrderStatus): boolean => TERMINAL_ORDER_STATUSES.includes(s);

/** sluice's positions of one connector (`GET /admin/positions`), zero ones left out. */
export async function sluicePositions(url: string, connector = 'alpaca'): Promise<Record<string, number>> {
  const body = await readJson<{ connectors: Record<string, { positions: Array<{ instrument: string; quantity: number }> }> }>(await adminFetch(url, '/positions'));
  const out: Record<string, number> = {};
  for (const p of body.connectors[connector]?.positions ?? []) if (p.quantity !== 0) out[p.instrument] = p.quantity;
  return out;
}

/** The fake's positions, the warm-up symbol left out. */
export function fakePositions(fake: FakeAlpaca): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of fake.positions()) if (p.symbol !== WARM && p.qty !== 0) out[p.symbol] = p.qty;
  return out;
}

/** The fake's open orders, the warm-up order left out. */
export const fakeOpen = (fake: FakeAlpaca): AlpacaOrderJson[] => fake.openOrders().filter((o) => o.symbol !== WARM);

/**
 * Waits until nothing is open at the fake and every order sluice recorded has a terminal last
 * event, then asserts the end state exactly: every order of sluice's at the fake has booked fills
 * summing to the fake's filled quantity, no more fill events than `maxFillsPerOrder`, the
 * positions equal, no drift adopted (it would hide a fill booked twice), no request the real API
 * would refuse. Returns what it read.
 */
export async function expectSettled(
  url: string,
  fake: FakeAlpaca,
  opts: { maxFillsPerOrder?: number; ms?: number; allowDrift?: boolean } = {},
): Promise<{ events: LoggedEvent[]; booked: Map<string, BookedOrder> }> {
  const settled = await eventually(async () => {
    if (fakeOpen(fake).length > 0) return undefined;
    const events = await allEvents(url);
    const booked = bookedOrders(events);
    for (const o of booked.values()) if (!isTerminal(o.last)) return undefined;
    // Every order sluice placed at the fake is followed (has its events).
    for (const o of fake.orders()) if (o.client_order_id.startsWith('sl-') && !booked.has(o.client_order_id)) return undefined;
    return { events, booked };
  }, opts.ms ?? 20_000, 'nothing open at the fake or in sluice');

  const { events, booked } = settled;
  for (const o of fake.orders()) {
    if (!o.client_order_id.startsWith('sl-')) continue;
    const mine = booked.get(o.client_order_id);
    expect(mine, `order ${o.client_order_id} followed by sluice`).toBeDefined();
    expect({ coid: o.client_order_id, filled: mine?.filled, last: mine?.last }).toEqual({ coid: o.client_order_id, filled: Number(o.filled_qty), last: o.status });
    if (opts.maxFillsPerOrder !== undefined) expect(mine?.fills ?? 0).toBeLessThanOrEqual(opts.maxFillsPerOrder);
  }
  for (const o of booked.values()) expect(fake.order(o.client_order_id), `sluice's order ${o.client_order_id} at the fake`).toBeDefined();
  expect(await sluicePositions(url)).toEqual(fakePositions(fake));
  if (opts.allowDrift !== true) expect(events.filter((e) => e.type === 'positions.drift')).toEqual([]);
  expect(fake.violations()).toEqual([]);
  return settled;
}

/** A signal's final status (`GET /admin/signals/{id}`), waited for. */
export async function finalSignal(url: string, id: string, ms = 20_000): Promise<{ status: string; result: { status: string; client_order_id: string; filled_quantity: number } | null }> {
  return eventually(async () => {
    const d = await readJson<{ status: string; result: { status: string; client_order_id: string; filled_quantity: number } | null }>(await adminFetch(url, `/signals/${id}`));
    return d.status === 'executed' || d.status === 'failed' || d.status === 'rejected' ? d : undefined;
  }, ms, `signal ${id} final`);
}
