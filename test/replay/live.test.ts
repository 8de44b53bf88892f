/**
 * Replay of a window recorded live (docs/http-api.md#replay, docs/configuration.md#sluice-replay):
 * a real server on 127.0.0.1 with the mock decides three dozen signals on two instruments, some
 * refused by its limits; `POST /admin/replay` (read token) and the built `sluice replay` (beside
 * the live server: no serving lock) reproduce every recorded decision and the live positions,
 * write nothing (the event log's head, the mock's orders and the mode are unchanged) and call no
 * connector (a module connector that records any call is configured). Needs `npm run build`.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sameDecision, type ReplayRow, type ReplaySummary } from '../../src/ops/replay.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { bearer, READ_TOKEN, readJson, sendFinal } from '../ops/helpers.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

/** A connector module that records any call in a file, then fails. */
const LOUD_MODULE = `
import { appendFileSync } from 'node:fs';
export default function (options) {
  const loud = (what) => () => { appendFileSync(options.marker, what + '\\n'); throw new Error('the loud connector was called: ' + what); };
  return {
    capabilities: { order_types: ['market', 'limit'], brackets: false, fractional: true, short: true, lookup: false },
    place: loud('place'), cancel: loud('cancel'), getOrder: loud('getOrder'),
  };
}
`;

type Report = ReplaySummary & { rows: ReplayRow[] };

let s: TestServer;
let dir: string;
let marker: string;
let from: string;
let to: string;
const decided: Array<{ signal_id: string; allowed: boolean }> = [];

/** 36 signals: buys, sells (some flipping short), closes, a few limit orders, on AAA and BBB. */
function body(i: number): Record<string, unknown> {
  const instrument = i % 2 === 0 ? 'AAA' : 'BBB';
  const price = 90 + ((i * 7) % 25);
  const action = (['buy', 'buy', 'sell', 'buy', 'close', 'buy'] as const)[Math.floor(i / 2) % 6] ?? 'buy';
  const quantity = 10 + ((i * 13) % 30);
  if (action === 'close') return { action, instrument, price };
  // Limit orders whose price crosses their limit: the mock fills them at the limit, as replay does.
  if (i % 7 === 3) return { action, instrument, quantity, price, order_type: 'limit', limit_price: action === 'buy' ? price + 1 : price - 1 };
  return { action, instrument, quantity, price };
}

async function audit(): Promise<unknown> {
  return readJson(await s.admin('/audit/verify'));
}

async function mockOrders(): Promise<number> {
  return (await readJson<{ items: unknown[] }>(await s.admin('/connectors/mock/orders?limit=500'))).items.length;
}

function replayHttp(payload: unknown, token = READ_TOKEN): Promise<Response> {
  return fetch(`${s.url}/admin/replay`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: JSON.stringify(payload) });
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'replay', ...args],
      { timeout: 30_000, env: { PATH: process.env.PATH ?? '', DATABASE_URL: `file:${join(dir, 'sluice.db')}`, SLUICE_CONFIG: join(dir, 'sluice.yaml') } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = tempDir('sluice-replay-live-');
  marker = join(dir, 'loud-called');
  writeFileSync(join(dir, 'loud.mjs'), LOUD_MODULE);
  s = await startTestServer({
    dir,
    env: { SLUICE_READ_TOKEN: READ_TOKEN },
    config: {
      sources: { default: { auth: { scheme: 'token', secrets: ['test-webhook-secret'] } } },
      connectors: { loud: { type: 'module', path: join(dir, 'loud.mjs'), options: { marker } } },
      policy: { max_orders_per_minute: null, max_order_notional: 3000, max_position_notional: { default: 5000 }, max_gross_exposure: 8000, max_daily_loss: null },
      execution: { reconcile_interval_seconds: 3600 },
    },
  });
  from = new Date(Date.now() - 1000).toISOString();
  for (let i = 0; i < 36; i += 1) {
    const answer = await sendFinal(s, body(i));
    decided.push({ signal_id: answer.signal_id, allowed: answer.status === 'executed' });
  }
  to = new Date(Date.now() + 1000).toISOString();
}, 60_000);

afterAll(async () => {
  await s.close();
});

describe('a window recorded live', () => {
  test('has allowed and refused signals (the limits bit)', () => {
    expect(decided.filter((d) => d.allowed).length).toBeGreaterThan(10);
    expect(decided.filter((d) => !d.allowed).length).toBeGreaterThan(3);
  });

  test('POST /admin/replay with the read token reproduces every decision and the positions, and writes nothing', async () => {
    const [auditBefore, ordersBefore, statusBefore] = [await audit(), await mockOrders(), await readJson<{ mode: string }>(await s.admin('/status'))];
    const report = await readJson<Report>(await replayHttp({ from, to }));
    expect(report.rows.map((r) => r.signal_id)).toEqual(decided.map((d) => d.signal_id));
    const mismatches = report.rows.filter((r) => r.original === null || !sameDecision(r.original, r.current));
    expect(mismatches).toEqual([]);
    expect(report.current.differs_from_original).toBe(0);
    expect(report.current.allowed).toBe(decided.filter((d) => d.allowed).length);
    // The live ledger, from the same fills at the same prices.
    const live = await readJson<{ connectors: Record<string, { positions: Array<{ instrument: string; quantity: number }> }> }>(await s.admin('/positions'));
    expect(report.current.positions.map((p) => ({ instrument: p.instrument, quantity: p.quantity }))).toEqual(
      (live.connectors.mock?.positions ?? []).map((p) => ({ instrument: p.instrument, quantity: p.quantity })).sort((a, b) => a.instrument.localeCompare(b.instrument)),
    );
    expect(await audit()).toEqual(auditBefore);
    expect(await mockOrders()).toBe(ordersBefore);
    expect((await readJson<{ mode: string }>(await s.admin('/status'))).mode).toBe(statusBefore.mode);
    expect(existsSync(marker)).toBe(false);
  });

  test('a stricter candidate refuses more, by max_position_notional', async () => {
    const report = await readJson<Report>(await replayHttp({ from, to, policy: { max_position_notional: { default: 2000 } } }));
    expect(report.candidate).not.toBeNull();
    expect(report.candidate?.rejected ?? 0).toBeGreaterThan(report.current.rejected);
    expect(report.candidate?.rejected_by_rule.max_position_notional ?? 0).toBeGreaterThan(report.current.rejected_by_rule.max_position_notional ?? 0);
  });

  test('refusals: a window over 31 days, a bad window, unknown keys, a bad policy', async () => {
    const tooLarge = await replayHttp({ from: '2026-01-01', to: '2026-02-05' });
    expect(tooLarge.status).toBe(400);
    const large = (await tooLarge.json()) as { error: { code: string; message: string } };
    expect(large.error.code).toBe('replay_window_too_large');
    expect(large.error.message).toMatch(/at most 31 days/);

    const cases: Array<{ payload: unknown; issue: RegExp }> = [
      { payload: { from: 'yesterday', to }, issue: /^from: expected an ISO-8601 time/ },
      { payload: { from: to, to: from }, issue: /^to: expected a time after from/ },
      { payload: { from, to, bogus: 1 }, issue: /.+/ },
      { payload: { from, to, policy: { max_order_notional: 'ten' } }, issue: /^policy\.max_order_notional: expected/ },
      { payload: { from, to, policy: { max_order_notinal: 1 } }, issue: /^policy\.max_order_notinal: unknown key \(did you mean "max_order_notional"\?\)$/ },
    ];
    for (const c of cases) {
      const res = await replayHttp(c.payload);
      const text = await res.text();
      expect(res.status, text).toBe(400);
      const error = (JSON.parse(text) as { error: { code: string; issues: Array<{ message: string }> } }).error;
      expect(error.code, text).toBe('invalid_request');
      expect(error.issues.some((i) => c.issue.test(i.message)), text).toBe(true);
    }
  });

  test('sluice replay beside the live server: a table, and --json that parses to the same totals', async () => {
    const http = await readJson<Report>(await replayHttp({ from, to }));
    const table = await cli(['--from', from, '--to', to]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/received_at\s+signal\s+instrument\s+action\s+price\s+recorded\s+current policy/);
    expect(table.stdout).toMatch(/differs from recorded\s+0/);
    // Not a terminal: no progress line on stderr.
    expect(table.stderr).toBe('');

    const json = await cli(['--from', from, '--to', to, '--json', '--policy', join(dir, 'candidate.yaml')]);
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/--policy: expected a readable file/);
    writeFileSync(join(dir, 'candidate.yaml'), 'policy:\n  max_position_notional:\n    default: 2000\n');
    const ok = await cli(['--from', from, '--to', to, '--json', '--policy', join(dir, 'candidate.yaml')]);
    expect(ok.code, ok.stderr).toBe(0);
    const parsed = JSON.parse(ok.stdout) as Report;
    expect(parsed.current).toEqual(http.current);
    expect(parsed.rows).toHaveLength(36);
    expect(parsed.candidate?.rejected ?? 0).toBeGreaterThan(parsed.current.rejected);
    expect(existsSync(marker)).toBe(false);
  });
});
