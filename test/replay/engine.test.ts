/**
 * Replay's engine (ops/replay.ts) over windows recorded through the store API, on SQLite and,
 * with SLUICE_TEST_POSTGRES_URL, on PostgreSQL: a candidate policy's rejections and totals
 * against numbers computed by hand, a daily-loss trip reported on its trading day with the PnL
 * per day reset at the day's end, pages of 2 signals, and the same report from both dialects.
 */
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, describe, expect, test } from 'vitest';
import { candidatePolicy } from '../../src/config/candidate.js';
import { policySchema, type PolicyConfig } from '../../src/config/schema.js';
import { MOCK_CAPABILITIES } from '../../src/connectors/mock.js';
import type { Signal } from '../../src/domain/types.js';
import { runReplay, type ReplayRow, type ReplaySummary } from '../../src/ops/replay.js';
import type { NewSignal } from '../../src/store/contract/signals.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../helpers/postgres.js';
import { tempDir } from '../helpers/server.js';

let n = 0;
function signal(at: string, s: Partial<Signal> & Pick<Signal, 'action' | 'instrument'>, source = 'tv'): NewSignal {
  n += 1;
  const body: Signal = { order_type: 'market', time_in_force: 'day', meta: {}, ...s };
  return {
    signal_id: `sig_${n.toString(16).padStart(8, '0')}`,
    source,
    idempotency_key: `k${n}`,
    key_kind: 'explicit',
    window_ms: 60_000,
    fingerprint: `fp${n}`,
    connector: 'mock',
    instrument: s.instrument,
    client_order_id: `cid${n}`,
    signal: body,
    request_id: `req${n}`,
    received_at: new Date(at),
  };
}

const policy = (o: Record<string, unknown>): PolicyConfig => v.parse(policySchema, { max_orders_per_minute: null, max_signal_age_seconds: null, ...o });

/** Hand-checked window: 7 signals on a Tuesday, two instruments. */
const LIMITS = [
  signal('2026-03-10T14:00:00Z', { action: 'buy', instrument: 'AAA', quantity: 30, price: 100 }),
  signal('2026-03-10T14:01:00Z', { action: 'buy', instrument: 'AAA', quantity: 30, price: 100 }),
  signal('2026-03-10T14:02:00Z', { action: 'buy', instrument: 'BBB', quantity: 20, price: 50 }),
  signal('2026-03-10T14:03:00Z', { action: 'sell', instrument: 'AAA', quantity: 10, price: 110 }),
  signal('2026-03-10T14:04:00Z', { action: 'close', instrument: 'AAA', price: 90 }),
  signal('2026-03-10T14:05:00Z', { action: 'buy', instrument: 'BBB', quantity: 10 }),
  signal('2026-03-10T14:06:00Z', { action: 'buy', instrument: 'BBB', quantity: 100, price: 50 }),
  // Outside the window, and another source: never read.
  signal('2026-03-10T15:00:00Z', { action: 'buy', instrument: 'AAA', quantity: 1, price: 100 }),
  signal('2026-03-10T14:30:00Z', { action: 'buy', instrument: 'AAA', quantity: 1, price: 100 }, 'other'),
];

/** Daily loss 300 in New York (UTC-4 after 8 March): a trip on the 10th, then the 11th. */
const DAYS = [
  signal('2026-03-10T15:00:00Z', { action: 'buy', instrument: 'CCC', quantity: 20, price: 100 }, 'days'),
  signal('2026-03-10T15:01:00Z', { action: 'sell', instrument: 'CCC', quantity: 10, price: 60 }, 'days'),
  signal('2026-03-10T15:02:00Z', { action: 'buy', instrument: 'CCC', quantity: 5, price: 60 }, 'days'),
  signal('2026-03-11T03:30:00Z', { action: 'buy', instrument: 'CCC', quantity: 5, price: 60 }, 'days'),
  signal('2026-03-11T04:30:00Z', { action: 'sell', instrument: 'CCC', quantity: 5, price: 90 }, 'days'),
  signal('2026-03-11T04:31:00Z', { action: 'buy', instrument: 'CCC', quantity: 5, price: 90 }, 'days'),
];

interface Report {
  summary: ReplaySummary;
  rows: ReplayRow[];
}

async function replay(store: Store, from: string, to: string, current: PolicyConfig, candidate: PolicyConfig | null, source?: string): Promise<Report> {
  const rows: ReplayRow[] = [];
  const outcome = await runReplay(
    { store, capabilities: () => null, fallbackCapabilities: MOCK_CAPABILITIES },
    { from: new Date(from), to: new Date(to), current, candidate, pageSize: 2, onRow: (r) => rows.push(r), ...(source === undefined ? {} : { source }) },
  );
  if (outcome.kind !== 'done') throw new Error(`replay: ${outcome.kind}`);
  return { summary: outcome.summary, rows };
}

const failures = (r: ReplayRow, which: 'current' | 'candidate'): string[] => (r[which]?.failures ?? []).map((f) => (f.code === null ? f.rule : `${f.rule}/${f.code}`));

async function scenarios(store: Store): Promise<{ limits: Report; days: Report }> {
  for (const s of [...LIMITS, ...DAYS]) expect((await store.recordSignal(s)).kind).toBe('inserted');
  const head = await store.lastEventSeq();
  const current = policy({});
  const limits = await replay(store, '2026-03-10T14:00:00Z', '2026-03-10T15:00:00Z', current, candidatePolicy({ policy: { max_position_notional: { default: 5000 } } }, current), 'tv');
  const days = await replay(store, '2026-03-10T15:00:00Z', '2026-03-12T00:00:00Z', policy({ max_daily_loss: 300, trading_day_tz: 'America/New_York' }), null, 'days');
  // A replay writes nothing: the event log's head is where recording left it.
  expect(await store.lastEventSeq()).toBe(head);
  return { limits, days };
}

function checkScenarios({ limits, days }: { limits: Report; days: Report }): void {
  // Current policy: everything allowed; the unpriced buy is decided (last price 50) but not booked.
  expect(limits.rows.map((r) => r.signal_id)).toEqual(LIMITS.slice(0, 7).map((s) => s.signal_id));
  expect(limits.rows.map((r) => r.original)).toEqual(Array(7).fill(null));
  expect(limits.rows.map((r) => r.current.fill)).toEqual(['filled', 'filled', 'filled', 'filled', 'filled', 'unpriced', 'filled']);
  expect(limits.rows[4]?.current).toMatchObject({ allowed: true, side: 'sell', quantity: 50 });
  expect(limits.summary.current).toMatchObject({
    signals: 7,
    allowed: 7,
    rejected: 0,
    rejected_by_rule: {},
    unpriced: 1,
    positions: [{ connector: 'mock', instrument: 'BBB', quantity: 120, avg_price: 50 }],
    // 3000 → 6000 → 6000 + 1000 → 50 × 110 + 1000 → 1000 → 120 × 50
    peak_gross_exposure: 7000,
    // +10 × (110 − 100), −50 × (90 − 100)
    realized_pnl: -400,
    daily_loss_tripped: null,
  });
  // Candidate ($5k position limit): the second AAA buy (6000) and the big BBB buy (6000) are refused.
  expect(limits.rows.map((r) => failures(r, 'candidate'))).toEqual([[], ['max_position_notional'], [], [], [], [], ['max_position_notional']]);
  expect(limits.rows[4]?.candidate).toMatchObject({ allowed: true, side: 'sell', quantity: 20 });
  expect(limits.summary.candidate).toMatchObject({
    signals: 7,
    allowed: 5,
    rejected: 2,
    rejected_by_rule: { max_position_notional: 2 },
    unpriced: 1,
    positions: [{ connector: 'mock', instrument: 'BBB', quantity: 20, avg_price: 50 }],
    // 3000 → 3000 + 1000 → 20 × 110 + 1000 → 1000
    peak_gross_exposure: 4000,
    // +10 × 10, −20 × 10
    realized_pnl: -100,
  });

  // The loss of 400 on the 10th (New York) trips; exit_only holds on the 11th, but the 11th's
  // PnL starts from 0, so the daily_loss rule no longer refuses there.
  expect(days.rows.map((r) => failures(r, 'current'))).toEqual([
    [],
    [],
    ['mode/exit_only_would_increase', 'daily_loss'],
    ['mode/exit_only_would_increase', 'daily_loss'],
    [],
    ['mode/exit_only_would_increase'],
  ]);
  expect(days.summary.current).toMatchObject({
    allowed: 3,
    rejected_by_rule: { mode: 3, daily_loss: 2 },
    realized_pnl_by_day: { '2026-03-10': -400, '2026-03-11': -50 },
    realized_pnl: -450,
    daily_loss_tripped: { day: '2026-03-10', signal_id: DAYS[1]?.signal_id, connector: 'mock', realized_pnl_day: -400 },
    final_mode: 'exit_only',
    positions: [{ connector: 'mock', instrument: 'CCC', quantity: 5, avg_price: 100 }],
  });
  expect(days.summary.candidate).toBeNull();
}

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers) await close();
});

let sqliteReports: { limits: Report; days: Report } | null = null;

describe('replay on SQLite', () => {
  test('a stricter candidate, and a daily-loss trip per trading day, give the numbers computed by hand', async () => {
    const store = await openStore(`file:${join(tempDir('sluice-replay-'), 'sluice.db')}`);
    closers.push(() => store.close());
    sqliteReports = await scenarios(store);
    checkScenarios(sqliteReports);
  });

  test('stops with too_many_signals past maxSignals', async () => {
    const store = await openStore(`file:${join(tempDir('sluice-replay-'), 'sluice.db')}`);
    closers.push(() => store.close());
    for (const s of LIMITS) await store.recordSignal({ ...s, signal_id: `${s.signal_id}0` });
    const outcome = await runReplay(
      { store, capabilities: () => null, fallbackCapabilities: MOCK_CAPABILITIES },
      { from: new Date('2026-03-10T00:00:00Z'), to: new Date('2026-03-11T00:00:00Z'), current: policy({}), candidate: null, maxSignals: 5, pageSize: 4 },
    );
    expect(outcome).toEqual({ kind: 'too_many_signals', limit: 5 });
  });
});

describe.skipIf(POSTGRES_URL === undefined || POSTGRES_URL === '')('replay on PostgreSQL', () => {
  test('the same window recorded on PostgreSQL gives the same report as on SQLite', async () => {
    const db: TestDatabase = await createTestDatabase('sluice_replay');
    const store = await openStore(db.url);
    closers.push(async () => {
      await store.close();
      await db.drop();
    });
    const reports = await scenarios(store);
    checkScenarios(reports);
    expect(sqliteReports).not.toBeNull();
    expect(reports).toEqual(sqliteReports);
  });
});
