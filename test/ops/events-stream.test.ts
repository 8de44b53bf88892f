/**
 * The event log over HTTP (docs/http-api.md#event-stream, docs/guarantees.md#event-log): `GET /admin/events/stream` as server-sent events
 * (`id` = seq, one plain message per event) seen live by a real EventSource client, resumed
 * exactly with `Last-Event-ID`, readable with the read token, and complete and in order for a
 * reader that stalls while hundreds of events are written; `GET /admin/events` pages with
 * `next_after`.
 */
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKEN, eventually, startTestServer, type TestServer } from '../helpers/server.js';
import {
  READ_TOKEN,
  bearer,
  eventsAfter,
  headSeq,
  nextKey,
  openStream,
  opsConfig,
  range,
  readJson,
  sendFinal,
  type EventItem,
  type EventsPage,
  type SseMessage,
} from './helpers.js';

const SIGNAL_EVENTS = ['signal.accepted', 'signal.executing', 'signal.attempt', 'signal.executed', 'order.filled'];

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ config: opsConfig(), env: { SLUICE_READ_TOKEN: READ_TOKEN } });
});
afterAll(async () => {
  await s.close();
});

/** Same entries as the REST tail: seq, type and hash (the hash covers everything else). */
const shape = (e: EventItem) => ({ seq: e.seq, type: e.type, signal_id: e.signal_id, hash: e.hash });
const seqs = (messages: SseMessage[]) => messages.map((m) => m.event.seq);

/** An EventSource on the stream, authenticated through its `fetch` option; resolves once open. */
async function openEventSource(token: string): Promise<{ es: EventSource; messages: SseMessage[] }> {
  const messages: SseMessage[] = [];
  const es = new EventSource(`${s.url}/admin/events/stream`, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...bearer(token) } }),
  });
  es.addEventListener('message', (e) => {
    messages.push({ id: e.lastEventId, event: JSON.parse(String(e.data)) as EventItem });
  });
  await new Promise<void>((resolve, reject) => {
    es.addEventListener('open', () => resolve(), { once: true });
    es.addEventListener('error', (e) => reject(new Error(`EventSource failed: ${e.message ?? 'error'} (status ${String(e.code)})`)), { once: true });
  });
  return { es, messages };
}

describe('GET /admin/events/stream', () => {
  test('live to an EventSource, then resumed exactly with Last-Event-ID, then live again', async () => {
    const { es, messages } = await openEventSource(ADMIN_TOKEN);
    let last: number;
    try {
      const sent = await sendFinal(s, { instrument: 'LIVE' });
      expect(sent.status).toBe('executed');
      await eventually(
        async () => (messages.some((m) => m.event.signal_id === sent.signal_id && m.event.type === 'order.filled') ? true : undefined),
        10_000,
        'order.filled on the EventSource',
      );
      // The whole log from seq 1 (no Last-Event-ID, no ?after), each id equal to its seq.
      for (const m of messages) expect(m.id).toBe(String(m.event.seq));
      expect(seqs(messages)).toEqual(range(1, messages.length));
      const mine = messages.filter((m) => m.event.signal_id === sent.signal_id);
      expect(mine.map((m) => m.event.type)).toEqual(SIGNAL_EVENTS);
      expect(messages.map((m) => shape(m.event))).toEqual((await eventsAfter(s, 0)).slice(0, messages.length).map(shape));
      const lastMessage = messages[messages.length - 1];
      if (lastMessage === undefined) throw new Error('no message');
      last = Number(lastMessage.id);
    } finally {
      es.close();
    }

    // Missed while disconnected: three signals.
    const missed: string[] = [];
    for (let i = 0; i < 3; i += 1) missed.push((await sendFinal(s, { instrument: 'MISSED' })).signal_id);
    const expected = await eventsAfter(s, last);
    expect(expected.map((e) => e.seq)).toEqual(range(last + 1, last + 3 * SIGNAL_EVENTS.length));

    const stream = await openStream(s, { ...bearer(), 'last-event-id': String(last) });
    try {
      const resumed = await stream.readUntil(expected.length);
      expect(seqs(resumed)).toEqual(range(last + 1, last + expected.length));
      expect(resumed.map((m) => shape(m.event))).toEqual(expected.map(shape));
      expect([...new Set(resumed.map((m) => m.event.signal_id))]).toEqual(missed);

      // Then live: the next signal's events follow with no gap and no repeat.
      const head = last + expected.length;
      const next = await sendFinal(s, { instrument: 'AFTER' });
      const all = await stream.readUntil(expected.length + SIGNAL_EVENTS.length);
      const live = all.slice(expected.length);
      expect(seqs(live)).toEqual(range(head + 1, head + SIGNAL_EVENTS.length));
      expect(live.map((m) => [m.event.signal_id, m.event.type])).toEqual(SIGNAL_EVENTS.map((t) => [next.signal_id, t]));
    } finally {
      await stream.cancel();
    }
  });

  test('?after= resumes too; Last-Event-ID wins over it', async () => {
    const head = await headSeq(s);
    expect(head).toBeGreaterThan(6);
    const byQuery = await openStream(s, bearer(), `?after=${head - 3}`);
    try {
      expect(seqs(await byQuery.readUntil(3))).toEqual(range(head - 2, head));
    } finally {
      await byQuery.cancel();
    }
    const both = await openStream(s, { ...bearer(), 'last-event-id': String(head - 1) }, `?after=${head - 5}`);
    try {
      expect(seqs(await both.readUntil(1))).toEqual([head]);
    } finally {
      await both.cancel();
    }
  });

  test('the read token may stream; no token is 401', async () => {
    const { es, messages } = await openEventSource(READ_TOKEN);
    try {
      await eventually(async () => (messages.length > 0 ? true : undefined), 5_000, 'the first message');
      expect(messages[0]?.id).toBe('1');
      expect(messages[0]?.event).toMatchObject({ seq: 1, type: 'mode.changed', data: { from: null, to: 'enabled', actor: 'config' } });
    } finally {
      es.close();
    }
    const anonymous = await fetch(`${s.url}/admin/events/stream`);
    expect(anonymous.status).toBe(401);
  });

  test('a reader that stalls while 300 events are written still gets every one, in order', async () => {
    const start = await headSeq(s);
    const stream = await openStream(s, bearer(), `?after=${start}`);
    try {
      // 60 signals on 15 instruments, all at once, 5 events each; the stream is not read meanwhile.
      const ids = await Promise.all(
        range(1, 60).map(async (i) => {
          const res = await s.send({ id: nextKey('slow'), action: 'buy', instrument: `SLOW${i % 15}`, quantity: 1, price: 10 });
          expect(res.status).toBe(202);
          return ((await res.json()) as { signal_id: string }).signal_id;
        }),
      );
      const written = await eventually(async () => {
        const events = await eventsAfter(s, start);
        return events.length >= 300 ? events : undefined;
      }, 20_000, '300 events in the log');
      expect(written.map((e) => e.seq)).toEqual(range(start + 1, start + 300));
      expect(new Set(written.filter((e) => e.type === 'signal.executed').map((e) => e.signal_id))).toEqual(new Set(ids));

      const received = await stream.readUntil(300, 15_000);
      expect(seqs(received)).toEqual(range(start + 1, start + 300));
      for (const m of received) expect(m.id).toBe(String(m.event.seq));
      expect(received.map((m) => shape(m.event))).toEqual(written.map(shape));
    } finally {
      await stream.cancel();
    }
  });
});

describe('GET /admin/events', () => {
  test('pages from a sequence number with next_after, gap-free and hash-chained', async () => {
    const head = await headSeq(s);
    const seen: EventItem[] = [];
    let after = 0;
    for (;;) {
      const page = await readJson<EventsPage>(await s.admin(`/events?after=${after}&limit=7`));
      expect(page.items.length).toBeLessThanOrEqual(7);
      if (page.items.length === 0) {
        expect(page.next_after).toBe(after);
        break;
      }
      expect(page.items[0]?.seq).toBe(after + 1);
      expect(page.next_after).toBe(page.items[page.items.length - 1]?.seq);
      seen.push(...page.items);
      after = page.next_after;
    }
    expect(seen.map((e) => e.seq)).toEqual(range(1, head));
    seen.forEach((e, i) => {
      if (i > 0) expect(e.prev_hash).toBe(seen[i - 1]?.hash);
      expect(Object.keys(e).sort()).toEqual(['at', 'data', 'hash', 'prev_hash', 'seq', 'signal_id', 'type']);
    });
    expect(seen[0]?.prev_hash).toBe('0'.repeat(64));

    const middle = await readJson<EventsPage>(await s.admin(`/events?after=${head - 2}`));
    expect(middle.items.map((e) => e.seq)).toEqual([head - 1, head]);
    expect(middle.next_after).toBe(head);
    for (const bad of ['limit=0', 'limit=1001', 'after=-1', 'after=x']) {
      expect((await s.admin(`/events?${bad}`)).status, bad).toBe(400);
    }
  });
});
