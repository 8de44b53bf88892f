/**
 * The shared event-log consumer (src/ops/event-consumer.ts) on a real SQLite store, with a
 * deliver function the test scripts: entries arrive in order and in batches of at most `batch`,
 * the offset is stored only for what was confirmed, a partial confirmation is retried from the
 * first unconfirmed entry (never from the start of the batch), a restart resumes from the stored
 * offset, entries not selected are passed over, and stop() cuts a backoff short.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { startEventConsumer, type Delivered, type EventConsumerDeps } from '../../src/ops/event-consumer.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { EventRecord, Store } from '../../src/store/store.js';
import { eventually, tempDir } from '../helpers/server.js';

const logger = pino({ level: 'silent' });

async function append(store: Store, n: number, type = 'test.entry'): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => store.appendEvent({ type, data: { i } })));
}

/** A consumer over `store` whose deliveries are recorded; `answer` decides what each call confirms. */
function consumer(
  store: Store,
  answer: (entries: EventRecord[], call: number) => Delivered,
  extra: Partial<EventConsumerDeps> = {},
  before: () => Promise<void> = async () => undefined,
) {
  const calls: number[][] = [];
  const c = startEventConsumer({
    cursor: 'test',
    label: 'test',
    store,
    logger,
    startAt: 'first',
    batch: 4,
    backoff: { base_ms: 1, cap_ms: 5 },
    async deliver(entries) {
      calls.push(entries.map((e) => e.seq));
      await before();
      return answer(entries, calls.length);
    },
    ...extra,
  });
  return { c, calls };
}

const all = (entries: EventRecord[]): Delivered => ({ confirmed: entries.length });

describe('the event consumer', () => {
  test('every entry once, in order, in batches of at most `batch`; the offset stored after each', async () => {
    const store = createSqliteStore({ path: join(tempDir('sluice-consumer-'), 'c.db') });
    await append(store, 10);
    const { c, calls } = consumer(store, all);
    try {
      await eventually(async () => (c.position() === 10 ? true : undefined), 10_000, 'all ten confirmed');
      expect(calls).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
      expect(await store.getCursor('test')).toBe(10);
      // New entries wake it.
      await append(store, 2);
      await eventually(async () => (c.position() === 12 ? true : undefined), 10_000, 'the new entries');
      expect(calls.at(-1)).toEqual([11, 12]);
    } finally {
      await c.stop();
      await store.close();
    }
  });

  test('a partial confirmation is retried from the first unconfirmed entry; only confirmed entries move the offset', async () => {
    const store = createSqliteStore({ path: join(tempDir('sluice-consumer-'), 'c.db') });
    await append(store, 6);
    const stored: Array<number | null> = [];
    const outcomes: string[] = [];
    const { c, calls } = consumer(
      store,
      (entries, call) => {
        if (call === 1) return { confirmed: 2, failure: { reason: 'half' } };
        if (call === 2) return { confirmed: 0, failure: { reason: 'down' } };
        return all(entries);
      },
      { onOutcome: (o) => outcomes.push(o.ok ? `ok ${o.confirmed}` : `${o.reason} #${o.attempt}`) },
      () => store.getCursor('test').then((n) => void stored.push(n)),
    );
    try {
      await eventually(async () => (c.position() === 6 ? true : undefined), 10_000, 'all six confirmed');
      expect(calls).toEqual([[1, 2, 3, 4], [3, 4], [3, 4], [5, 6]]);
      // What the store held while each call ran: 0 before anything, 2 after the partial one.
      expect(stored).toEqual([0, 2, 2, 4]);
      expect(outcomes).toEqual(['half #1', 'down #2', 'ok 4', 'ok 2']);
    } finally {
      await c.stop();
      await store.close();
    }
  });

  test('a restart resumes after the stored offset; `head` starts a new consumer at the end of the log', async () => {
    const store = createSqliteStore({ path: join(tempDir('sluice-consumer-'), 'c.db') });
    await append(store, 5);
    const first = consumer(store, all);
    await eventually(async () => (first.c.position() === 5 ? true : undefined), 10_000, 'the first run');
    await first.c.stop();
    await append(store, 3);
    const second = consumer(store, all);
    const fromHead = consumer(store, all, { cursor: 'from-head', startAt: 'head' });
    try {
      await eventually(async () => (second.c.position() === 8 ? true : undefined), 10_000, 'the second run');
      expect(second.calls).toEqual([[6, 7, 8]]);
      await eventually(async () => (fromHead.c.position() === 8 ? true : undefined), 10_000, 'the head consumer');
      expect(fromHead.calls).toEqual([]);
      await append(store, 1);
      await eventually(async () => (fromHead.calls.length === 1 ? true : undefined), 10_000, 'the head consumer delivering');
      expect(fromHead.calls).toEqual([[9]]);
    } finally {
      await second.c.stop();
      await fromHead.c.stop();
      await store.close();
    }
  });

  test('entries not selected are passed over, and the offset moves past them', async () => {
    const store = createSqliteStore({ path: join(tempDir('sluice-consumer-'), 'c.db') });
    await append(store, 3, 'noise');
    await append(store, 1, 'wanted');
    await append(store, 2, 'noise');
    const { c, calls } = consumer(store, all, { select: (e) => e.type === 'wanted' });
    try {
      await eventually(async () => ((await store.getCursor('test')) === 6 ? true : undefined), 10_000, 'the offset past the noise');
      expect(calls).toEqual([[4]]);
    } finally {
      await c.stop();
      await store.close();
    }
  });

  test('stop() ends a long backoff at once, and a throwing deliver is a failure, not a crash', async () => {
    const store = createSqliteStore({ path: join(tempDir('sluice-consumer-'), 'c.db') });
    await append(store, 1);
    const reasons: string[] = [];
    const { c, calls } = consumer(
      store,
      () => {
        throw new Error('receiver exploded');
      },
      { backoff: { base_ms: 600_000, cap_ms: 600_000 }, random: () => 1, onOutcome: (o) => reasons.push(o.ok ? 'ok' : o.reason) },
    );
    try {
      await eventually(async () => (calls.length === 1 && reasons.length === 1 ? true : undefined), 10_000, 'the first failure');
      expect(reasons).toEqual(['receiver exploded']);
    } finally {
      // A ten-minute backoff: this only returns because stop() cuts it short.
      await c.stop();
      await store.close();
    }
    expect(calls).toEqual([[1]]);
    expect(c.position()).toBe(0);
  });
});
