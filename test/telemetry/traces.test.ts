/**
 * OpenTelemetry traces end to end (docs/configuration.md#tracing): the built CLI exports over
 * OTLP/HTTP to a real receiver on 127.0.0.1 (test/helpers/otlp.ts). A delivery with a W3C
 * traceparent is one trace under the sender's span: verify, record, gate and each connector
 * attempt (retries as events) under the delivery span; a fill booked later by the tracker is a
 * new trace linked to the delivery. The trace id is in the signal's log lines and its detail.
 * Without a traceparent a new trace starts. Off (no endpoint, or OTEL_SDK_DISABLED=true): no
 * OpenTelemetry module is even loaded (seen by a module resolve hook) and nothing is sent.
 * Both dialects for the trace context kept with the signal.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { nextKey, readJson, sendFinal, sleep } from '../helpers/connectors.js';
import { closedPort, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp.js';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../helpers/postgres.js';
import { adminFetch, eventually, killChild, sendTo, spawnSluice, tempDir, writeConfig, type Child } from '../helpers/server.js';
import { mockConfig } from '../orders/helpers.js';

const DELIVERY = 'POST /webhooks/{source}';
const SERVER_KIND = 2;
const ERROR_STATUS = 2;

const children: Child[] = [];
const receivers: OtlpReceiver[] = [];
const dirs: string[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await killChild(c);
  for (const r of receivers.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const db of databases.splice(0)) await db.drop();
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function newDir(): string {
  const dir = tempDir('sluice-traces-');
  dirs.push(dir);
  return dir;
}

async function receiver(opts: { hang?: boolean } = {}): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver(opts);
  receivers.push(r);
  return r;
}

/**
 * A module resolve hook (node --import) that writes every `@opentelemetry/…` specifier the
 * process resolves to a file: what "the SDK is not even imported" is checked against.
 */
function importWatch(dir: string): { wrap: (argv: string[]) => { command: string; args: string[] }; imported: () => string[] } {
  const log = join(dir, 'imports.log');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  if (specifier.startsWith('@opentelemetry/')) appendFileSync(${JSON.stringify(log)}, specifier + '\\n');\n  return next(specifier, context);\n}\n`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  appendFileSync(log, '');
  return {
    wrap: (argv) => ({ command: argv[0] ?? process.execPath, args: ['--import', pathToFileURL(join(dir, 'register.mjs')).href, ...argv.slice(1)] }),
    imported: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') : []),
  };
}

async function spawn(opts: Parameters<typeof spawnSluice>[0]): Promise<Child> {
  const child = await spawnSluice(opts);
  children.push(child);
  return child;
}

/** SIGTERM, then the exit code, or 'hung' when it has not exited within `ms`. */
async function terminate(child: Child, ms = 20_000): Promise<number | null | 'hung'> {
  child.proc.kill('SIGTERM');
  return Promise.race([child.exited, sleep(ms).then(() => 'hung' as const)]);
}

const otelEnv = (endpoint: string, extra: Record<string, string> = {}): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_BSP_SCHEDULE_DELAY: '50',
  ...extra,
});

function one(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name);
  expect(found.map((s) => s.name), `exactly one ${name} span`).toEqual([name]);
  return found[0] as ReceivedSpan;
}

/** The log lines of one signal (JSON lines on the child's stdout). */
function logLinesOf(child: Child, signalId: string): Array<Record<string, unknown>> {
  return child.output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.signal_id === signalId);
}

async function traceIdInDetail(url: string, signalId: string): Promise<string | null> {
  return (await readJson<{ trace_id: string | null }>(await adminFetch(url, `/signals/${signalId}`))).trace_id;
}

async function sendWith(url: string, body: Record<string, unknown>, headers: Record<string, string>): Promise<string> {
  const res = await sendTo(url, { id: nextKey(), ...body }, headers);
  const text = await res.text();
  expect(res.status, text).toBe(202);
  return (JSON.parse(text) as { signal_id: string }).signal_id;
}

/** The whole flow against one database: a traced delivery, its retried attempt and its later fill; then one without traceparent. */
async function deliveryTraces(databaseUrl: string | null): Promise<void> {
  const dir = newDir();
  const collector = await receiver();
  const watch = importWatch(dir);
  // Every placement lands but answers a timeout (ambiguous): attempt 1 fails, attempt 2 finds
  // it by client_order_id. It fills 300 ms later, over the mock's stream: the tracker books it.
  const configPath = writeConfig(dir, mockConfig({ timeout_rate: 1, fill_delay_ms: 300 }));
  const child = await spawn({
    dir,
    configPath,
    env: { ...otelEnv(collector.url, { OTEL_SERVICE_NAME: 'sluice-e2e' }), ...(databaseUrl === null ? {} : { DATABASE_URL: databaseUrl }) },
    wrap: watch.wrap,
  });
  expect(watch.imported()).toContain('@opentelemetry/sdk-trace-base');

  const trace = hex(16);
  const sender = hex(8);
  const signalId = await sendWith(child.url, { action: 'buy', instrument: 'AAPL', quantity: 2, price: 100 }, { traceparent: `00-${trace}-${sender}-01`, tracestate: 'vendor=abc' });
  const fill = await eventually(async () => collector.spans.find((s) => s.name === 'order.fill' && s.attributes['sluice.signal_id'] === signalId), 20_000, 'the fill span');
  await eventually(async () => (collector.spans.filter((s) => s.traceId === trace && s.name === 'connector.place').length === 2 ? true : undefined), 10_000, 'both attempt spans');

  const spans = collector.spans.filter((s) => s.traceId === trace);
  const delivery = one(spans, DELIVERY);
  expect(delivery.parentSpanId).toBe(sender);
  expect(delivery.traceState).toBe('vendor=abc');
  expect(delivery.kind).toBe(SERVER_KIND);
  expect(delivery.resource['service.name']).toBe('sluice-e2e');
  expect(delivery.attributes).toMatchObject({
    'http.request.method': 'POST',
    'http.route': '/webhooks/{source}',
    'url.path': '/webhooks/default',
    'http.response.status_code': 202,
    'sluice.source': 'default',
    'sluice.outcome': 'accepted',
    'sluice.signal_id': signalId,
  });
  for (const name of ['verify', 'record', 'gate']) expect(one(spans, name).parentSpanId, name).toBe(delivery.spanId);
  expect(one(spans, 'verify').attributes).toMatchObject({ 'sluice.auth.ok': true });
  expect(one(spans, 'record').attributes).toMatchObject({ 'sluice.record.outcome': 'inserted' });
  expect(one(spans, 'gate').attributes).toMatchObject({ 'sluice.gate.outcome': 'executing', 'sluice.decision.allowed': true, 'sluice.decision.side': 'buy', 'sluice.decision.quantity': 2 });

  const attempts = spans.filter((s) => s.name === 'connector.place').sort((a, b) => Number(a.attributes['sluice.attempt']) - Number(b.attributes['sluice.attempt']));
  expect(attempts.map((a) => [a.parentSpanId, a.attributes['sluice.attempt'], a.attributes['sluice.attempt.outcome']])).toEqual([
    [delivery.spanId, 1, 'ambiguous'],
    [delivery.spanId, 2, 'adopted'],
  ]);
  const [first, second] = attempts as [ReceivedSpan, ReceivedSpan];
  expect(first.status.code).toBe(ERROR_STATUS);
  expect(first.events.map((e) => e.name)).toEqual(['retry.backoff']);
  expect(first.events[0]?.attributes['sluice.backoff_ms']).toEqual(expect.any(Number));
  expect(second.events).toEqual([{ name: 'order.lookup', attributes: { 'sluice.lookup.result': 'found' } }]);
  for (const a of attempts) expect(a.attributes).toMatchObject({ 'sluice.connector': 'mock', 'sluice.breaker.state': 'closed' });

  // Booked after the delivery's trace ended: a trace of its own, linked to the delivery.
  expect(fill.traceId).not.toBe(trace);
  expect(fill.parentSpanId).toBe('');
  expect(fill.links).toEqual([{ traceId: trace, spanId: delivery.spanId }]);
  expect(fill.attributes).toMatchObject({ 'sluice.fill.quantity': 2, 'sluice.fill.price': 100, 'sluice.order.status': 'filled', 'sluice.fill.source': 'stream' });

  expect(await traceIdInDetail(child.url, signalId)).toBe(trace);
  const lines = logLinesOf(child, signalId);
  for (const msg of ['signal accepted', 'signal executed']) {
    expect(lines.find((l) => l.msg === msg), msg).toMatchObject({ trace_id: trace });
  }

  // No traceparent: a new trace, rooted at the delivery.
  const plain = await sendWith(child.url, { action: 'buy', instrument: 'MSFT', quantity: 1, price: 50 }, {});
  const root = await eventually(async () => collector.spans.find((s) => s.name === DELIVERY && s.attributes['sluice.signal_id'] === plain), 10_000, 'the second delivery span');
  expect(root.parentSpanId).toBe('');
  expect(root.traceId).not.toBe(trace);
  await eventually(async () => collector.spans.find((s) => s.name === 'gate' && s.traceId === root.traceId && s.parentSpanId === root.spanId), 10_000, 'its gate span');
  expect(await traceIdInDetail(child.url, plain)).toBe(root.traceId);
}

describe('tracing on: one trace per delivery (the built CLI)', () => {
  test('SQLite: the sender trace continued, child spans, retries as events, the fill linked, trace_id in logs and detail', async () => {
    await deliveryTraces(null);
  }, 60_000);

  test('kill -9 while the connector call hangs: after the restart the recovery attempt is in the delivery trace', async () => {
    const dir = newDir();
    const collector = await receiver();
    const configPath = writeConfig(dir, mockConfig({ latency_ms: 60_000 }));
    const first = await spawn({ dir, configPath, env: otelEnv(collector.url) });
    const trace = hex(16);
    const signalId = await sendWith(first.url, { action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 }, { traceparent: `00-${trace}-${hex(8)}-01` });
    const delivery = await eventually(async () => collector.spans.find((s) => s.traceId === trace && s.name === DELIVERY), 10_000, 'the delivery span');
    await eventually(async () => collector.spans.find((s) => s.traceId === trace && s.name === 'gate'), 10_000, 'the gate span');
    first.proc.kill('SIGKILL');
    await first.exited;

    writeConfig(dir, mockConfig({}));
    const second = await spawn({ dir, configPath, env: otelEnv(collector.url) });
    const attempt = await eventually(async () => collector.spans.find((s) => s.traceId === trace && s.name === 'connector.place'), 15_000, 'the recovery attempt span');
    expect(attempt.parentSpanId).toBe(delivery.spanId);
    expect(attempt.events.map((e) => e.name)).toContain('order.lookup');
    expect(attempt.attributes['sluice.attempt.outcome']).toBe('ok');
    expect(attempt.resource['service.name']).toBe('sluice');
    expect(await traceIdInDetail(second.url, signalId)).toBe(trace);
  }, 60_000);

  test('SIGTERM flushes the spans still batched', async () => {
    const dir = newDir();
    const collector = await receiver();
    const child = await spawn({ dir, configPath: writeConfig(dir, mockConfig({})), env: otelEnv(collector.url, { OTEL_BSP_SCHEDULE_DELAY: '600000' }) });
    const outcome = await sendFinal(child.url, { id: nextKey(), action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 });
    expect(outcome.status).toBe('executed');
    // Nothing exported yet: the batch waits ten minutes.
    expect(collector.requests()).toBe(0);
    expect(await terminate(child)).toBe(0);
    const names = collector.spans.map((s) => s.name);
    for (const name of [DELIVERY, 'verify', 'record', 'gate', 'connector.place']) expect(names).toContain(name);
  }, 60_000);

  test('a collector that never answers cannot hold the shutdown', async () => {
    const dir = newDir();
    const collector = await receiver({ hang: true });
    const env = otelEnv(collector.url, { OTEL_BSP_SCHEDULE_DELAY: '600000', OTEL_EXPORTER_OTLP_TIMEOUT: '120000', OTEL_BSP_EXPORT_TIMEOUT: '120000' });
    const child = await spawn({ dir, configPath: writeConfig(dir, mockConfig({})), env });
    expect((await sendFinal(child.url, { id: nextKey(), action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 })).status).toBe('executed');
    expect(await terminate(child)).toBe(0);
    // The flush was tried (and left behind after the bound).
    expect(collector.requests()).toBeGreaterThan(0);
  }, 60_000);

  test('an unreachable collector: every delivery is served, export failures are one warning a minute', async () => {
    const dir = newDir();
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const child = await spawn({ dir, configPath: writeConfig(dir, mockConfig({})), env: otelEnv(endpoint, { OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_EXPORTER_OTLP_TIMEOUT: '500' }) });
    for (let i = 0; i < 10; i += 1) {
      expect((await sendFinal(child.url, { id: nextKey(), action: 'buy', instrument: `I${i}`, quantity: 1, price: 10 })).status).toBe('executed');
      await sleep(100);
    }
    const failures = () => child.output.join('').split('\n').filter((l) => l.includes('tracing: exporting spans failed'));
    await eventually(async () => (failures().length > 0 ? true : undefined), 20_000, 'the export warning');
    // More batches failed meanwhile (one per delivery at least); the log says so once.
    await sleep(1_000);
    expect(failures()).toHaveLength(1);
    expect(JSON.parse(failures()[0] ?? '{}')).toMatchObject({ level: 'warn' });
    expect(await terminate(child)).toBe(0);
  }, 60_000);
});

describe('tracing off', () => {
  test('no endpoint, or OTEL_SDK_DISABLED=true: no OpenTelemetry module loaded, nothing sent, trace_id null', async () => {
    const collector = await receiver();
    const cases: Array<Record<string, string>> = [{}, otelEnv(collector.url, { OTEL_SDK_DISABLED: 'true' })];
    for (const env of cases) {
      const dir = newDir();
      const watch = importWatch(dir);
      const child = await spawn({ dir, configPath: writeConfig(dir, mockConfig({ fill_delay_ms: 100 })), env, wrap: watch.wrap });
      const signalId = await sendWith(child.url, { action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 }, { traceparent: `00-${hex(16)}-${hex(8)}-01` });
      await eventually(async () => (logLinesOf(child, signalId).some((l) => l.msg === 'fill booked') ? true : undefined), 10_000, 'the fill');
      expect(await traceIdInDetail(child.url, signalId)).toBeNull();
      expect(logLinesOf(child, signalId).filter((l) => 'trace_id' in l)).toEqual([]);
      // A shutdown would flush anything pending: after it, still nothing was sent.
      expect(await terminate(child)).toBe(0);
      expect(watch.imported()).toEqual([]);
      expect(collector.requests()).toBe(0);
    }
  }, 60_000);
});

const pgSuite = POSTGRES_URL === undefined || POSTGRES_URL === '' ? describe.skip : describe;
pgSuite('tracing on PostgreSQL (SLUICE_TEST_POSTGRES_URL)', () => {
  test('the same trace, with the context kept in the PostgreSQL signals row', async () => {
    const db = await createTestDatabase('sluice_traces');
    databases.push(db);
    await deliveryTraces(db.url);
  }, 60_000);
});
