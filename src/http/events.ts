/**
 * The event log over HTTP (docs/http-api.md#events, docs/guarantees.md#event-log): `GET /admin/events` (a page from a sequence
 * number) and `GET /admin/events/stream` (server-sent events, live). The stream always reads
 * from the store: a committed event only wakes it. That keeps it gap-free and in `seq` order
 * whoever wrote the event (this instance or another), makes `Last-Event-ID` resume exact, and
 * bounds memory per client whatever its speed: a slow client simply reads more per wake.
 */
import { Hono } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../deps.js';
import type { EventRecord } from '../store/store.js';
import { parseInput } from './body.js';
import type { AppEnv } from './context.js';

// At most 15 digits: a safe integer that fits a bigint column.
const seqParam = v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'expected a sequence number'), v.transform(Number)), '0');
export const eventsQuery = v.object({
  after: seqParam,
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d+$/, 'expected an integer 1-1000'), v.transform(Number), v.minValue(1, 'expected an integer 1-1000'), v.maxValue(1000, 'expected an integer 1-1000')),
    '100',
  ),
});
export const streamQuery = v.object({ after: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'expected a sequence number'), v.transform(Number))) });

const PAGE = 200;
const encoder = new TextEncoder();

function frame(e: EventRecord): Uint8Array {
  // No `event:` field: every entry arrives as a plain message (`onmessage`), its type inside.
  return encoder.encode(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`);
}

export function eventRoutes(deps: Deps, opts: { heartbeatMs?: number } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const heartbeatMs = opts.heartbeatMs ?? 15_000;

  app.get('/events', async (c) => {
    const q = parseInput(eventsQuery, c.req.query());
    const items = await deps.store.listEvents(q.after, q.limit);
    const last = items[items.length - 1];
    return c.json({ items, next_after: last === undefined ? q.after : last.seq });
  });

  app.get('/events/stream', (c) => {
    const q = parseInput(streamQuery, c.req.query());
    const header = c.req.header('last-event-id');
    let cursor = header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : (q.after ?? 0);
    let wake: (() => void) | null = null;
    let dirty = true;
    const unsubscribe = deps.store.subscribe(() => {
      dirty = true;
      wake?.();
    });
    let timer: NodeJS.Timeout | null = null;
    let closed = false;
    const log = c.get('logger');
    // Shutdown ends open streams cleanly instead of holding the server until its deadline.
    const onShutdown = () => {
      closed = true;
      wake?.();
    };
    deps.lifecycle.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    const release = () => {
      closed = true;
      unsubscribe();
      deps.lifecycle.shutdown.signal.removeEventListener('abort', onShutdown);
      if (timer !== null) clearTimeout(timer);
    };

    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          controller.enqueue(encoder.encode(': sluice event stream\nretry: 2000\n\n'));
        },
        // Called when the client has taken what was sent: natural backpressure.
        async pull(controller) {
          for (;;) {
            if (closed || deps.lifecycle.shutdown.signal.aborted) {
              release();
              controller.close();
              return;
            }
            if (dirty) {
              dirty = false;
              let page: EventRecord[];
              try {
                page = await deps.store.listEvents(cursor, PAGE);
              } catch (err) {
                // The database went away: end this stream; the client resumes with Last-Event-ID.
                log.warn({ err }, 'event stream ended: the event log cannot be read');
                release();
                controller.close();
                return;
              }
              if (page.length === PAGE) dirty = true; // more to read
              if (page.length > 0) {
                for (const e of page) controller.enqueue(frame(e));
                const last = page[page.length - 1];
                if (last !== undefined) cursor = last.seq;
                return;
              }
            }
            const woke = await new Promise<boolean>((resolve) => {
              wake = () => resolve(true);
              timer = setTimeout(() => resolve(false), heartbeatMs);
            });
            wake = null;
            if (timer !== null) clearTimeout(timer);
            if (closed) continue;
            if (!woke) {
              controller.enqueue(encoder.encode(': ping\n\n'));
              return;
            }
          }
        },
        cancel() {
          release();
          wake?.();
          log.debug('event stream closed');
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': c.get('requestId'),
      },
    });
  });
  return app;
}
