/**
 * The NATS JetStream sink against the NATS at 127.0.0.1:4222 (docs/configuration.md#sinks,
 * docs/guarantees.md#event-sinks), sluice in this process: every log entry arrives once, in
 * order, at `<prefix>.<type>`, as `GET /admin/events` shows it, with `Nats-Msg-Id` = its hash;
 * the stream is created with the documented limits, or used as it is when it exists; another
 * publisher on the same stream neither breaks the order nor fails a delivery; two instances on
 * one PostgreSQL database both publish every entry, and the stream keeps one copy of each. Each
 * test has a stream and prefix of its own and deletes the stream at the end.
 */
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { afterEach, describe, expect, test } from 'vitest';
import { NATS_MISSING, NATS_URL, deleteStream, readStream, streamInfo, uniqueStream } from '../helpers/nats.js';
import { POSTGRES_URL, createTestDatabase } from '../helpers/postgres.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { eventsAfter, opsConfig, readJson, sendFinal } from '../ops/helpers.js';
import { expectExactly, fillLog, natsSink, sinkLag, sinkMessages } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sinkConfig(stream: string, prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return opsConfig({ sinks: [natsSink(stream, prefix, extra)] });
}

async function start(stream: string, prefix: string, opts: { dir?: string; extra?: Record<string, unknown> } = {}): Promise<TestServer> {
  const s = await startTestServer({ ...(opts.dir === undefined ? {} : { dir: opts.dir }), config: sinkConfig(stream, prefix, opts.extra) });
  cleanups.push(() => s.close());
  return s;
}

const sluiceMessages = (stream: string, prefix: string, count: number) => sinkMessages(NATS_URL, stream, prefix, count);
const lag = (s: TestServer, name: string) => sinkLag(s.url, name);

describe.skipIf(NATS_MISSING !== null)(`the NATS sink${NATS_MISSING === null ? '' : ` (skipped: ${NATS_MISSING})`}`, () => {
  test('every entry once, in order, as GET /admin/events shows it; the stream created with the documented limits', async () => {
    const { stream, prefix } = uniqueStream();
    cleanups.push(() => deleteStream(NATS_URL, stream));
    const s = await start(stream, prefix);
    for (let i = 0; i < 5; i += 1) expect((await sendFinal(s, { instrument: `NATS${i}` })).status).toBe('executed');
    await readJson<unknown>(await s.admin('/mode', { body: { mode: 'paused', reason: 'sink test' } }));
    const events = await eventsAfter(s, 0);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['mode.changed', 'signal.accepted', 'signal.executed']));
    expectExactly(await sluiceMessages(stream, prefix, events.length), events, prefix);
    await eventually(async () => ((await lag(s, `nats:${stream}`)) === 0 ? true : undefined), 10_000, 'lag 0');

    const info = await streamInfo(NATS_URL, stream);
    expect(info?.config).toMatchObject({
      subjects: [`${prefix}.>`],
      retention: 'limits',
      storage: 'file',
      discard: 'old',
      max_age: nanos(7 * 86_400_000),
      max_bytes: 1024 ** 3,
      duplicate_window: nanos(120_000),
    });
    const status = await readJson<{ degraded: Array<{ component: string }> }>(await s.admin('/status'));
    expect(status.degraded).toEqual([]);
  });

  test('an existing stream is used as it is: its subjects, limits and duplicate window stay', async () => {
    const { stream, prefix } = uniqueStream();
    cleanups.push(() => deleteStream(NATS_URL, stream));
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`, `${prefix}-other.>`], max_msgs: 12_345, duplicate_window: nanos(60_000), max_age: nanos(3_600_000) });
    } finally {
      await nc.close();
    }
    const s = await start(stream, prefix, { extra: { max_age_seconds: 99, duplicate_window_seconds: 10 } });
    expect((await sendFinal(s)).status).toBe('executed');
    const events = await eventsAfter(s, 0);
    expectExactly(await sluiceMessages(stream, prefix, events.length), events, prefix);
    expect((await streamInfo(NATS_URL, stream))?.config).toMatchObject({
      subjects: [`${prefix}.>`, `${prefix}-other.>`],
      max_msgs: 12_345,
      duplicate_window: nanos(60_000),
      max_age: nanos(3_600_000),
    });
  });

  test('an existing stream that does not take <prefix>.>: degraded saying so, nothing published; once the stream is fixed, the sink catches up', async () => {
    const { stream, prefix } = uniqueStream();
    cleanups.push(() => deleteStream(NATS_URL, stream));
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${prefix}-other.>`] });
      const s = await start(stream, prefix);
      const component = `sink:nats:${stream}`;
      const reason = await eventually(async () => {
        const status = await readJson<{ degraded: Array<{ component: string; reason: string }> }>(await s.admin('/status'));
        return status.degraded.find((d) => d.component === component)?.reason;
      }, 10_000, 'the sink degraded');
      expect(reason).toContain(`stream ${stream}: does not take ${prefix}.>`);
      expect(reason).toContain(`${prefix}-other.>`);
      expect((await streamInfo(NATS_URL, stream))?.state.messages).toBe(0);
      // Fixed by the operator: the sink catches up on its own.
      await jsm.streams.update(stream, { subjects: [`${prefix}-other.>`, `${prefix}.>`] });
      await eventually(async () => {
        const status = await readJson<{ degraded: Array<{ component: string }> }>(await s.admin('/status'));
        return status.degraded.length === 0 && (await lag(s, `nats:${stream}`)) === 0 ? true : undefined;
      }, 20_000, 'caught up, not degraded');
      const events = await eventsAfter(s, 0);
      expectExactly(await sluiceMessages(stream, prefix, events.length), events, prefix);
    } finally {
      await nc.close();
    }
  });

  test('another publisher writing to the same stream meanwhile: still every entry once, in order, and no delivery fails', async () => {
    const { stream, prefix } = uniqueStream();
    cleanups.push(() => deleteStream(NATS_URL, stream));
    // A backlog of 3,000 entries, so that the sink publishes for a while in full batches.
    const dir = tempDir('sluice-nats-');
    await fillLog(`file:${join(dir, 'sluice.db')}`, 3_000);
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`, `${prefix}-other.>`] });
    // The other publisher: one message at a time, as fast as acks come, until told to stop.
    let publishing = true;
    let foreign = 0;
    const js = jetstream(nc);
    const other = (async () => {
      while (publishing) {
        await js.publish(`${prefix}-other.noise`, JSON.stringify({ noise: foreign }));
        foreign += 1;
      }
    })();
    try {
      await eventually(async () => (foreign > 10 ? true : undefined), 10_000, 'the other publisher going');
      const s = await start(stream, prefix, { dir });
      const head = (await eventsAfter(s, 0)).length;
      await eventually(async () => ((await lag(s, `nats:${stream}`)) === 0 ? true : undefined), 30_000, 'the backlog published');
      publishing = false;
      await other;
      const all = await readStream(NATS_URL, stream);
      const ours = all.filter((m) => m.subject.startsWith(`${prefix}.`));
      const events = await eventsAfter(s, 0);
      expect(events.length).toBeGreaterThanOrEqual(head);
      expectExactly(ours.slice(0, events.length), events, prefix);
      // The other publisher's messages really came in between the sink's.
      const first = ours[0]?.streamSeq ?? 0;
      const last = ours[ours.length - 1]?.streamSeq ?? 0;
      expect(all.filter((m) => !m.subject.startsWith(`${prefix}.`) && m.streamSeq > first && m.streamSeq < last).length).toBeGreaterThan(10);
      expect(s.logs.filter((l) => l.includes('delivery failed'))).toEqual([]);
    } finally {
      publishing = false;
      await other;
      await nc.close();
    }
  });
});

const pgMissing = POSTGRES_URL === undefined || POSTGRES_URL === '' ? 'SLUICE_TEST_POSTGRES_URL is not set' : null;
const twoMissing = NATS_MISSING ?? pgMissing;

describe.skipIf(twoMissing !== null)(`the NATS sink of two instances on one PostgreSQL database${twoMissing === null ? '' : ` (skipped: ${twoMissing})`}`, () => {
  test('each instance publishes every entry under the same ids: the stream holds each once, in order', async () => {
    const db = await createTestDatabase('sluice_nats');
    cleanups.push(() => db.drop());
    const { stream, prefix } = uniqueStream();
    cleanups.push(() => deleteStream(NATS_URL, stream));
    const config = sinkConfig(stream, prefix);
    const a = await startTestServer({ env: { DATABASE_URL: db.url }, config });
    cleanups.push(() => a.close());
    const b = await startTestServer({ env: { DATABASE_URL: db.url }, config });
    cleanups.push(() => b.close());
    for (let i = 0; i < 6; i += 1) expect((await sendFinal(i % 2 === 0 ? a : b, { instrument: `PG${i}` })).status).toBe('executed');
    const events = await eventsAfter(a, 0);
    await eventually(async () => ((await lag(a, `nats:${stream}`)) === 0 && (await lag(b, `nats:${stream}`)) === 0 ? true : undefined), 20_000, 'both instances caught up');
    const messages = (await readStream(NATS_URL, stream)).filter((m) => m.subject.startsWith(`${prefix}.`));
    expect(messages).toHaveLength(events.length);
    expectExactly(messages, events, prefix);
  });
});
