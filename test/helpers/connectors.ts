/**
 * Helpers for the end-to-end connector and execution tests (docs/execution.md#pipeline, docs/execution.md#circuit-breaker, docs/execution.md#connectors, docs/http-api.md#operator-api): a
 * config with one token-authenticated `default` source routed to the connector under test, the
 * wire shapes those tests read (typed once, here), and read-only looks into the server's SQLite
 * file for what has no HTTP route yet (the event log) or must be read while the server is dead.
 * Every helper takes the server's base URL, so the same ones serve an in-process server and a
 * child process.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { WEBHOOK_SECRET, adminFetch, sendTo } from './server.js';

export interface AttemptView {
  n: number;
  at: string;
  outcome: string;
  error: string | null;
}

export interface RuleFailureView {
  rule: string;
  code?: string;
  message: string;
}

export interface DecisionView {
  allowed: boolean;
  failures: RuleFailureView[];
  quantity: number | null;
  side?: 'buy' | 'sell' | null;
  exit?: boolean;
}

export interface ResultView {
  connector: string;
  client_order_id: string;
  order_id: string | null;
  status: string;
  filled_quantity: number;
  fill_price: number | null;
  error?: string;
}

export interface EventView {
  seq: number;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
}

/** `GET /admin/signals/{id}`. */
export interface SignalDetail {
  signal_id: string;
  source: string;
  idempotency_key: string;
  status: string;
  connector: string;
  instrument: string;
  decision: DecisionView | null;
  result: ResultView | null;
  attempts: AttemptView[];
  events: EventView[];
  /** The order it placed, followed until it is terminal (docs/http-api.md#signals). */
  orders: Array<{ client_order_id: string; status: string; filled_quantity: number; avg_fill_price: number | null }>;
}

/** The 200 answer of a webhook that finished within `Prefer: wait`. */
export interface FinalOutcome {
  signal_id: string;
  status: 'executed' | 'rejected' | 'failed';
  decision: DecisionView | null;
  result: ResultView | null;
}

export interface BreakerView {
  state: 'closed' | 'open' | 'half_open';
  consecutive_failures: number;
  opened_at: string | null;
}

export interface ConnectorView {
  name: string;
  /** The configured type (in test mode, the one a mock stands in for). */
  type: string;
  mocked: boolean;
  capabilities: Record<string, unknown>;
  breaker: BreakerView;
}

export interface StatusView {
  status: 'ok' | 'degraded';
  test_mode: boolean;
  degraded: Array<{ component: string; reason: string; since: string }>;
  breakers: Record<string, BreakerView>;
  recent_errors: Array<{ at: string; component: string; message: string; signal_id: string | null }>;
}

export interface MockOrderView {
  client_order_id: string;
  instrument: string;
  side: 'buy' | 'sell';
  quantity: number;
  status: string;
  filled_quantity: number;
  fill_price: number | null;
}

/** The `default` source every test config has, routed to `connector`. */
export function defaultSource(connector: string): Record<string, unknown> {
  return { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] }, connector };
}

/**
 * A config with exactly the `default` source, routed to `connector`; tiny backoff so retries
 * cost milliseconds, and the order-rate and notional limits off so that only what the test is
 * about can refuse a signal.
 */
export function e2eConfig(opts: {
  connector: string;
  connectors: Record<string, unknown>;
  execution?: Record<string, unknown>;
  policy?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    sources: { default: defaultSource(opts.connector) },
    connectors: opts.connectors,
    execution: { max_attempts: 5, backoff: { base_ms: 5, cap_ms: 20 }, ...opts.execution },
    policy: {
      max_orders_per_minute: null,
      max_order_notional: null,
      max_position_notional: { default: null },
      max_gross_exposure: null,
      max_daily_loss: null,
      ...opts.policy,
    },
  };
}

let counter = 0;
/** A fresh idempotency key. */
export function nextKey(prefix = 'k'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}

/** The body of a 2xx answer, failing the test with the body when the status is not 2xx. */
export async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBeGreaterThanOrEqual(200);
  expect(res.status, text).toBeLessThan(300);
  return JSON.parse(text) as T;
}

/** Sends a native signal and returns its final outcome (it must finish within the wait). */
export async function sendFinal(url: string, body: Record<string, unknown>, waitSeconds = 10): Promise<FinalOutcome> {
  const res = await sendTo(url, { id: nextKey(), ...body }, { prefer: `wait=${waitSeconds}` });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as FinalOutcome;
}

/** Sends a native signal without waiting; returns the 202 body. */
export async function sendAccepted(url: string, body: Record<string, unknown>): Promise<{ signal_id: string; idempotency_key: string }> {
  const res = await sendTo(url, { id: nextKey(), ...body });
  const text = await res.text();
  expect(res.status, text).toBe(202);
  return JSON.parse(text) as { signal_id: string; idempotency_key: string };
}

export async function signalDetail(url: string, id: string): Promise<SignalDetail> {
  return readJson<SignalDetail>(await adminFetch(url, `/signals/${id}`));
}

export async function connectorsOf(url: string): Promise<ConnectorView[]> {
  return (await readJson<{ items: ConnectorView[] }>(await adminFetch(url, '/connectors'))).items;
}

export async function connectorOf(url: string, name: string): Promise<ConnectorView> {
  const found = (await connectorsOf(url)).find((c) => c.name === name);
  if (found === undefined) throw new Error(`no connector ${name} in GET /admin/connectors`);
  return found;
}

export async function breakerOf(url: string, name: string): Promise<BreakerView> {
  return (await connectorOf(url, name)).breaker;
}

export async function statusOf(url: string): Promise<StatusView> {
  return readJson<StatusView>(await adminFetch(url, '/status'));
}

export async function mockOrders(url: string, name = 'mock'): Promise<MockOrderView[]> {
  return (await readJson<{ items: MockOrderView[] }>(await adminFetch(url, `/connectors/${name}/orders?limit=500`))).items;
}

export async function setMockFaults(url: string, faults: { latency_ms?: number; failure_rate?: number; timeout_rate?: number }, name = 'mock'): Promise<void> {
  await readJson<unknown>(await adminFetch(url, `/connectors/${name}/faults`, { body: faults }));
}

export async function resetBreaker(url: string, name: string): Promise<BreakerView> {
  return (await readJson<{ connector: string; breaker: BreakerView }>(await adminFetch(url, `/breakers/${name}/reset`, { method: 'POST' }))).breaker;
}

/** Runs a query on the server's SQLite file through a separate read-only connection. */
export function queryDb<T>(dir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(dir, 'sluice.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** The event log's `breaker.*` entries, oldest first (there is no `/admin/events` route yet). */
export function breakerEvents(dir: string): Array<{ type: string; data: Record<string, unknown> }> {
  return queryDb<{ type: string; data: string }>(dir, "SELECT type, data FROM events WHERE type LIKE 'breaker.%' ORDER BY seq").map((r) => ({
    type: r.type,
    data: JSON.parse(r.data) as Record<string, unknown>,
  }));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
