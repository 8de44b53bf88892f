/**
 * Shared pieces of the operations tests (docs/http-api.md#operator-api, docs/guarantees.md#event-log): a config with exactly the `default`
 * token source and the order limits off, the event log's wire shape, a reader for the REST tail,
 * and a small server-sent-events reader over a raw `fetch` body (for `Last-Event-ID` resumes and
 * slow readers, where the exact bytes on the wire matter).
 */
import { expect } from 'vitest';
import { ADMIN_TOKEN, WEBHOOK_SECRET, type TestServer } from '../helpers/server.js';

export const READ_TOKEN = 'ops-read-token';

/** One `GET /admin/events` item. */
export interface EventItem {
  seq: number;
  at: string;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export interface EventsPage {
  items: EventItem[];
  next_after: number;
}

/** The 200 answer of a webhook that finished within `Prefer: wait`. */
export interface FinalAnswer {
  signal_id: string;
  status: string;
  decision: { allowed: boolean; failures: Array<{ rule: string; code?: string }> } | null;
}

/**
 * Exactly the `default` source (token auth), the mock connector, and the order-rate and notional
 * limits off so that only what a test is about can refuse a signal.
 */
export function opsConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } },
    policy: {
      max_orders_per_minute: null,
      max_order_notional: null,
      max_position_notional: { default: null },
      max_gross_exposure: null,
      max_daily_loss: null,
    },
    ...extra,
  };
}

export function bearer(token: string = ADMIN_TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

let counter = 0;
export function nextKey(prefix = 'ops'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}

/** Sends a native buy and waits for its final outcome (it must finish within the wait). */
export async function sendFinal(s: TestServer, body: Record<string, unknown> = {}): Promise<FinalAnswer> {
  const res = await s.send({ id: nextKey(), action: 'buy', instrument: 'OPS', quantity: 1, price: 10, ...body }, { headers: { prefer: 'wait=10' } });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as FinalAnswer;
}

/** The body of a 2xx answer, failing the test with the body otherwise. */
export async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBeGreaterThanOrEqual(200);
  expect(res.status, text).toBeLessThan(300);
  return JSON.parse(text) as T;
}

/** Every event after `after`, through `GET /admin/events` pages. */
export async function eventsAfter(s: TestServer, after = 0): Promise<EventItem[]> {
  const out: EventItem[] = [];
  let cursor = after;
  for (;;) {
    const page = await readJson<EventsPage>(await s.admin(`/events?after=${cursor}&limit=1000`));
    out.push(...page.items);
    if (page.items.length === 0) return out;
    cursor = page.next_after;
  }
}

/** The sequence number of the newest event (0 for an empty log). */
export async function headSeq(s: TestServer): Promise<number> {
  const events = await eventsAfter(s, 0);
  return events[events.length - 1]?.seq ?? 0;
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i += 1) out.push(i);
  return out;
}

export interface SseMessage {
  id: string;
  event: EventItem;
}

/**
 * Reads server-sent events from a `fetch` body: `id:` and `data:` fields, comments and `retry:`
 * ignored (WHATWG HTML §9.2.6, enough of it for one-line `data:` frames).
 */
export class SseReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly received: SseMessage[] = [];

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** Reads until `count` messages in total were received; throws (with what came) after `ms`. */
  async readUntil(count: number, ms = 10_000): Promise<SseMessage[]> {
    const deadline = Date.now() + ms;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, left));
      });
      const chunk = await Promise.race([this.reader.read(), timeout]);
      clearTimeout(timer);
      if (chunk === 'timeout') {
        throw new Error(`SSE: ${this.received.length} of ${count} messages after ${ms} ms (last id ${this.received[this.received.length - 1]?.id ?? 'none'})`);
      }
      if (chunk.done) throw new Error(`SSE: the stream ended after ${this.received.length} of ${count} messages`);
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      this.parse();
    }
    return this.received;
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.search(/\r?\n\r?\n/);
      if (end === -1) return;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      let id: string | null = null;
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length === 0) continue;
      if (id === null) throw new Error(`SSE: a message without an id: ${block}`);
      this.received.push({ id, event: JSON.parse(data.join('\n')) as EventItem });
    }
  }
}

/** Opens `GET /admin/events/stream` with the given headers; asserts 200 and the SSE content type. */
export async function openStream(s: TestServer, headers: Record<string, string>, query = ''): Promise<SseReader> {
  const res = await fetch(`${s.url}/admin/events/stream${query}`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  if (res.body === null) throw new Error('the event stream has no body');
  return new SseReader(res.body);
}
