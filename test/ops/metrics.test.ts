/**
 * `GET /metrics` (docs/http-api.md#metrics): auth as the admin GETs (admin or read token, 401 without), the
 * Prometheus text format checked by `promtool check metrics`, and the counters, histograms and
 * scrape-time gauges moving with real deliveries, signals and mode changes.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKEN, eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { READ_TOKEN, bearer, nextKey, opsConfig, readJson, sendFinal } from './helpers.js';

const PROMTOOL = '/usr/bin/promtool';
const HAS_PROMTOOL = existsSync(PROMTOOL);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** `name{label="value",…} value [timestamp]` lines of the text exposition format; comments skipped. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (match?.[1] === undefined || match[3] === undefined) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (l[1] !== undefined && l[2] !== undefined) labels[l[1]] = l[2].replace(/\\(.)/g, (_m: string, ch: string) => (ch === 'n' ? '\n' : ch));
    }
    const raw = match[3];
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when absent. */
function find(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

/** A counter's value, 0 while the series does not exist yet (prom-client adds labelled series on first use). */
const counter = (samples: Sample[], name: string, labels: Record<string, string>): number => find(samples, name, labels) ?? 0;

function promtoolCheck(text: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(text);
  });
}

let s: TestServer;

async function scrape(token?: string): Promise<{ res: Response; text: string }> {
  const res = await fetch(`${s.url}/metrics`, { headers: token === undefined ? {} : bearer(token) });
  return { res, text: await res.text() };
}

async function samples(): Promise<Sample[]> {
  const { res, text } = await scrape(READ_TOKEN);
  expect(res.status, text).toBe(200);
  return parseExposition(text);
}

beforeAll(async () => {
  // One attempt per signal: a failing order fails its signal at once (for the retry below).
  s = await startTestServer({ config: opsConfig({ execution: { max_attempts: 1 } }), env: { SLUICE_READ_TOKEN: READ_TOKEN } });
});
afterAll(async () => {
  await s.close();
});

describe('GET /metrics', () => {
  test('200 in the Prometheus text format with the admin or the read token, 401 without or with a wrong one', async () => {
    for (const token of [undefined, 'wrong-token']) {
      const { res, text } = await scrape(token);
      expect(res.status).toBe(401);
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
    for (const token of [READ_TOKEN, ADMIN_TOKEN]) {
      const { res, text } = await scrape(token);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8$/);
      expect(text).toContain('# TYPE sluice_deliveries_total counter');
    }
  });

  // Optional tool: without it the test is skipped, and its name says why and how to get it.
  test.skipIf(!HAS_PROMTOOL)(
    HAS_PROMTOOL
      ? 'the exposition passes `promtool check metrics`'
      : `the exposition passes \`promtool check metrics\` — SKIPPED: ${PROMTOOL} is not installed (apt-get install prometheus; .ci/run does)`,
    async () => {
    // Something in every family first, so that labelled series are in the text too.
    await sendFinal(s, { instrument: 'LINT' });
    const { res, text } = await scrape(READ_TOKEN);
    expect(res.status).toBe(200);
    const result = await promtoolCheck(text);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
    },
  );

  test('counters, histograms and gauges move with deliveries, signals and the mode', async () => {
    const before = await samples();

    // accepted (executed), then the same delivery again (duplicate).
    const id = nextKey('metrics');
    const first = await s.send({ id, action: 'buy', instrument: 'MET', quantity: 1, price: 10, unexpected_field: 'x' }, { headers: { prefer: 'wait=10' } });
    expect(first.status).toBe(200);
    expect(((await first.json()) as { status: string }).status).toBe('executed');
    const again = await s.send({ id, action: 'buy', instrument: 'MET', quantity: 1, price: 10, unexpected_field: 'x' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // Two refusals: a wrong token and an invalid signal.
    expect((await s.send({ action: 'buy', instrument: 'MET', quantity: 1 }, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await s.send({ action: 'hold', instrument: 'MET' })).status).toBe(400);
    // Paused: the next signal is rejected by the mode rule.
    await readJson<unknown>(await s.admin('/mode', { body: { mode: 'paused', reason: 'metrics test' } }));
    const rejected = await sendFinal(s, { instrument: 'MET' });
    expect(rejected.status).toBe('rejected');

    const after = await samples();
    const delta = (name: string, labels: Record<string, string>) => counter(after, name, labels) - counter(before, name, labels);

    expect(delta('sluice_deliveries_total', { source: 'default', outcome: 'accepted' })).toBe(2);
    expect(delta('sluice_deliveries_total', { source: 'default', outcome: 'duplicate' })).toBe(1);
    expect(delta('sluice_deliveries_total', { source: 'default', outcome: 'unauthorized' })).toBe(1);
    expect(delta('sluice_deliveries_total', { source: 'default', outcome: 'invalid_signal' })).toBe(1);
    expect(delta('sluice_signals_total', { status: 'accepted' })).toBe(2);
    expect(delta('sluice_signals_total', { status: 'executing' })).toBe(1);
    expect(delta('sluice_signals_total', { status: 'executed' })).toBe(1);
    expect(delta('sluice_signals_total', { status: 'rejected' })).toBe(1);
    expect(delta('sluice_guardrail_rejections_total', { rule: 'mode' })).toBe(1);
    expect(delta('sluice_connector_calls_total', { connector: 'mock', outcome: 'ok' })).toBe(1);
    expect(delta('sluice_unknown_fields_total', { source: 'default' })).toBe(1);

    // Histograms: one observation per acknowledged delivery and per final signal.
    expect(delta('sluice_ingest_duration_seconds_count', { outcome: 'accepted' })).toBe(2);
    expect(delta('sluice_ingest_duration_seconds_count', { outcome: 'duplicate' })).toBe(1);
    expect(delta('sluice_execution_duration_seconds_count', { status: 'executed' })).toBe(1);
    expect(delta('sluice_execution_duration_seconds_count', { status: 'rejected' })).toBe(1);
    expect(find(after, 'sluice_ingest_duration_seconds_bucket', { outcome: 'accepted', le: '+Inf' })).toBe(
      find(after, 'sluice_ingest_duration_seconds_count', { outcome: 'accepted' }),
    );

    // Gauges read from the store at scrape time.
    expect(find(after, 'sluice_mode', { mode: 'paused' })).toBe(1);
    expect(find(after, 'sluice_mode', { mode: 'enabled' })).toBe(0);
    expect(find(after, 'sluice_mode', { mode: 'exit_only' })).toBe(0);
    expect(find(after, 'sluice_breaker_state', { connector: 'mock' })).toBe(0);
    expect(find(after, 'sluice_queue_depth', { status: 'accepted' })).toBe(0);
    expect(find(after, 'sluice_queue_depth', { status: 'executing' })).toBe(0);
    expect(find(after, 'sluice_oldest_accepted_age_seconds')).toBe(0);
    expect(find(after, 'sluice_spool_pending')).toBe(0);

    // prom-client's default process metrics under sluice's prefix (prom-client keeps its own
    // `process_` / `nodejs_` part after the prefix).
    expect(find(after, 'sluice_process_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(find(after, 'sluice_process_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(find(after, 'sluice_process_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    // The gauges with a counter's suffix are left out of the exposition (promtool rejects them).
    expect(after.some((x) => x.name.endsWith('_active_handles_total'))).toBe(false);

    await readJson<unknown>(await s.admin('/mode', { body: { mode: 'enabled', reason: 'metrics test done' } }));
    expect(find(await samples(), 'sluice_mode', { mode: 'enabled' })).toBe(1);
  });

  test('the queue gauges show a signal in flight and one waiting behind it in its lane', async () => {
    // The mock holds each order for a while; two signals on one instrument share a lane, so the
    // second stays accepted while the first executes.
    await readJson<unknown>(await s.admin('/connectors/mock/faults', { body: { latency_ms: 1500 } }));
    const sent: string[] = [];
    try {
      for (let i = 0; i < 2; i += 1) {
        const res = await s.send({ id: nextKey('queue'), action: 'buy', instrument: 'QUEUE', quantity: 1, price: 10 });
        expect(res.status).toBe(202);
        sent.push(((await res.json()) as { signal_id: string }).signal_id);
      }
      const seen = await eventually(async () => {
        const now = await samples();
        const executing = find(now, 'sluice_queue_depth', { status: 'executing' });
        const accepted = find(now, 'sluice_queue_depth', { status: 'accepted' });
        const age = find(now, 'sluice_oldest_accepted_age_seconds');
        return executing === 1 && accepted === 1 && age !== undefined && age > 0 ? { executing, accepted, age } : undefined;
      }, 5_000, 'one executing and one accepted signal in the gauges');
      expect(seen.age).toBeGreaterThan(0);
    } finally {
      await readJson<unknown>(await s.admin('/connectors/mock/faults', { body: { latency_ms: 0 } }));
    }
    for (const id of sent) {
      await eventually(async () => {
        const detail = (await (await s.admin(`/signals/${id}`)).json()) as { status: string };
        return detail.status === 'executed' ? detail : undefined;
      }, 10_000, `signal ${id} executed`);
    }
    const drained = await samples();
    expect(find(drained, 'sluice_queue_depth', { status: 'executing' })).toBe(0);
    expect(find(drained, 'sluice_queue_depth', { status: 'accepted' })).toBe(0);
    expect(find(drained, 'sluice_oldest_accepted_age_seconds')).toBe(0);
  });

  test("every transition into accepted is counted: a flatten's closing signal and an operator's retry too", async () => {
    // A failed signal to retry, and a position for the flatten to close.
    await readJson<unknown>(await s.admin('/connectors/mock/faults', { body: { failure_rate: 1 } }));
    const failed = await sendFinal(s, { instrument: 'RETRY' });
    await readJson<unknown>(await s.admin('/connectors/mock/faults', { body: { failure_rate: 0 } }));
    expect(failed.status).toBe('failed');
    expect((await sendFinal(s, { instrument: 'FLAT', quantity: 3 })).status).toBe('executed');

    const before = await samples();
    // Whatever this file's earlier tests left open (LINT only when promtool ran): each gets one closing signal.
    const book = await readJson<{ connectors: Record<string, { positions: Array<{ instrument: string; quantity: number }> }> }>(await s.admin('/positions'));
    const open = Object.values(book.connectors).flatMap((c) => c.positions.filter((p) => p.quantity !== 0).map((p) => p.instrument));
    expect(open).toEqual(expect.arrayContaining(['FLAT', 'MET', 'QUEUE']));
    const retried = await s.admin(`/signals/${failed.signal_id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(202);
    const flatten = await readJson<{ signals: Array<{ signal_id: string; instrument: string }> }>(await s.admin('/flatten', { body: { reason: 'metrics' } }));
    expect(flatten.signals.map((x) => x.instrument).sort()).toEqual([...open].sort());
    for (const id of [failed.signal_id, ...flatten.signals.map((x) => x.signal_id)]) {
      await eventually(async () => {
        const detail = (await (await s.admin(`/signals/${id}`)).json()) as { status: string };
        return detail.status === 'executed' ? detail : undefined;
      }, 10_000, `signal ${id} executed`);
    }
    const after = await samples();
    const delta = (status: string) => counter(after, 'sluice_signals_total', { status }) - counter(before, 'sluice_signals_total', { status });
    const finished = 1 + flatten.signals.length;
    expect({ executing: delta('executing'), executed: delta('executed') }).toEqual({ executing: finished, executed: finished });
    expect(delta('accepted'), 'sluice_signals_total{status="accepted"} after 1 retry and a flatten').toBe(finished);
  });
});
