/**
 * Helpers for the guardrail tests over HTTP (docs/configuration.md#policy, docs/execution.md#guardrails, docs/execution.md#modes, docs/http-api.md#operator-api): a config
 * with one token-authenticated source and a policy chosen per test, typed views of the wire
 * shapes the tests read, and the final outcome of a signal through `Prefer: wait`.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expect } from 'vitest';
import { WEBHOOK_SECRET, startTestServer, type TestServer } from './server.js';

export interface RuleFailureView {
  rule: string;
  code?: string;
  limit: unknown;
  actual: unknown;
  message: string;
}

export interface DecisionView {
  allowed: boolean;
  failures: RuleFailureView[];
  quantity: number | null;
  side?: 'buy' | 'sell' | null;
  exit?: boolean;
  trimmed?: boolean;
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

/** The 200 answer of a webhook that finished within `Prefer: wait`. */
export interface FinalOutcome {
  signal_id: string;
  status: 'executed' | 'rejected' | 'failed';
  decision: DecisionView | null;
  result: ResultView | null;
}

export interface PositionView {
  instrument: string;
  quantity: number;
  avg_price: number;
}

export interface ConnectorPositionsView {
  positions: PositionView[];
  gross_exposure: number;
  reserved_exposure: number;
  realized_pnl_today: number;
}

export interface StatusView {
  status: string;
  mode: 'enabled' | 'exit_only' | 'paused';
  mode_reason: string | null;
  mode_changed_at: string;
  breakers: Record<string, { state: string; consecutive_failures: number; opened_at: string | null }>;
}

export interface MockOrderView {
  client_order_id: string;
  instrument: string;
  side: 'buy' | 'sell';
  quantity: number;
  order_type: string;
  limit_price: number | null;
  status: string;
  filled_quantity: number;
  fill_price: number | null;
  created_at: string;
}

export interface SignalView {
  signal_id: string;
  source: string;
  idempotency_key: string;
  status: string;
  instrument: string;
  signal: { action: string; instrument: string; quantity?: number; meta: Record<string, unknown> };
  decision: DecisionView | null;
  result: ResultView | null;
}

let counter = 0;
/** A fresh idempotency key for each signal a test sends. */
export function nextId(prefix = 'g'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}

/**
 * A config with exactly one source (`default`, token auth) and the given policy. Every limit the
 * test does not set is off, so that only the rule under test can refuse: the schema's defaults
 * (30 orders per minute, 10,000 per order, …) would otherwise make unrelated rules fire.
 */
export function guardedConfig(policy: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } },
    policy: {
      max_orders_per_minute: null,
      max_order_notional: null,
      max_position_notional: { default: null },
      max_gross_exposure: null,
      max_daily_loss: null,
      ...policy,
    },
    ...extra,
  };
}

/** Starts a real sluice with `guardedConfig(policy, extra)`; `dir` reuses a database (restart). */
export function startGuarded(policy: Record<string, unknown>, extra: Record<string, unknown> = {}, dir?: string): Promise<TestServer> {
  return startTestServer({ config: guardedConfig(policy, extra), ...(dir === undefined ? {} : { dir }) });
}

/** Sends a native signal (a fresh id unless given) and returns its final outcome (200 within the wait). */
export async function sendFinal(s: TestServer, body: Record<string, unknown>, waitSeconds = 10): Promise<FinalOutcome> {
  const res = await s.send({ id: nextId(), ...body }, { headers: { prefer: `wait=${waitSeconds}` } });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as FinalOutcome;
}

/** Asserts a rejection and returns its failures. */
export function failuresOf(outcome: FinalOutcome): RuleFailureView[] {
  expect(outcome.status).toBe('rejected');
  expect(outcome.decision?.allowed).toBe(false);
  expect(outcome.result).toBeNull();
  return outcome.decision?.failures ?? [];
}

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return JSON.parse(text) as T;
}

export async function mockPositions(s: TestServer): Promise<ConnectorPositionsView> {
  const body = await json<{ connectors: Record<string, ConnectorPositionsView> }>(await s.admin('/positions'));
  const mock = body.connectors.mock;
  if (mock === undefined) throw new Error(`no mock connector in /admin/positions: ${JSON.stringify(body)}`);
  return mock;
}

export async function status(s: TestServer): Promise<StatusView> {
  return json<StatusView>(await s.admin('/status'));
}

export async function setMode(s: TestServer, mode: string, reason: string, cancelOpenOrders?: boolean): Promise<StatusView> {
  return json<StatusView>(
    await s.admin('/mode', { body: { mode, reason, ...(cancelOpenOrders === undefined ? {} : { cancel_open_orders: cancelOpenOrders }) } }),
  );
}

export async function setFaults(s: TestServer, faults: { latency_ms?: number; failure_rate?: number; timeout_rate?: number }): Promise<void> {
  await json<unknown>(await s.admin('/connectors/mock/faults', { body: faults }));
}

export async function mockOrders(s: TestServer): Promise<MockOrderView[]> {
  return (await json<{ items: MockOrderView[] }>(await s.admin('/connectors/mock/orders?limit=500'))).items;
}

export async function listSignals(s: TestServer, query: string): Promise<SignalView[]> {
  return (await json<{ items: SignalView[] }>(await s.admin(`/signals?${query}`))).items;
}

export async function getSignal(s: TestServer, id: string): Promise<SignalView> {
  return json<SignalView>(await s.admin(`/signals/${id}`));
}

/** Reads the server's SQLite file through a separate read-only connection. */
export function readEvents(dir: string, type: string): Array<{ type: string; data: Record<string, unknown> }> {
  const db = new Database(join(dir, 'sluice.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT type, data FROM events WHERE type = ? ORDER BY seq').all(type) as Array<{ type: string; data: string }>;
    return rows.map((r) => ({ type: r.type, data: JSON.parse(r.data) as Record<string, unknown> }));
  } finally {
    db.close();
  }
}

/** HH:MM of `minutes` after midnight, wrapping around the day. */
export function hhmm(minutes: number): string {
  const m = ((minutes % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/**
 * A UTC trading window, on every day, that opens 2 h after now and closes 3 h after now: "now"
 * is outside it for the next two hours whatever the date, so the test is deterministic.
 */
export function windowExcludingNow(now = new Date()): { days: string[]; from: string; to: string; tz: string } {
  const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
  return { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: hhmm(minute + 120), to: hhmm(minute + 180), tz: 'UTC' };
}
