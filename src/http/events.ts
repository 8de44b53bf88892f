/**
 * The event log over HTTP (docs/http-api.md#events, docs/guarantees.md#event-log): `GET /admin/events` (a page from a sequence
 * number) and `GET /admin/events/stream` (server-sent events, live). The stream always reads
 * from the store: a committed event only wakes it. That keeps it gap-free and in `seq` order
 * whoever wrote the event (this instance or another), makes `Last-Event-ID` resume exact, and
 * bounds memory per client whatever its speed: a page is read only when the client took the
 * previous one. Streams far behind catch up a page per turn (turn-gate.ts), at most
 * `server.max_event_streams` are open, and one whose client reads nothing is dropped.
 */
import { ServerResponse } from 'node:http';
import { Hono, type Context } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../deps.js';
import type { EventRecord } from '../store/store.js';
import { parseInput } from './body.js';
import type { AppEnv } from './context.js';
import { AppError } from './errors.js';
import { turnGate } from './turn-gate.js';

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

/** Events read per page. */
const PAGE = 500;
/** Frames are sent a chunk at a time, a chunk at most this long (at least one frame). */
const CHUNK_CHARS = 256 * 1024;
/** Pages read per event-loop turn, across every stream of the app: about 500 events of work between two turns. */
const PAGES_PER_TURN = 1;
const encoder = new TextEncoder();

function frame(e: EventRecord): string {
  // No `event:` field: every entry arrives as a plain message (`onmessage`), its type inside.
  return `id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`;
}

/** The frames of a page's first events, up to CHUNK_CHARS, and the seq of the last one taken. */
function framesOf(page: EventRecord[]): { text: string; last: number; all: boolean } {
  let text = '';
  let last = 0;
  for (const e of page) {
    const f = frame(e);
    if (text.length > 0 && text.length + f.length > CHUNK_CHARS) return { text, last, all: false };
    text += f;
    last = e.seq;
  }
  return { text, last, all: true };
}

/** The response's socket under @hono/node-server (absent under `app.request`). */
function responseOf(c: Context<AppEnv>): ServerResponse | null {
  const env: unknown = c.env;
  if (typeof env === 'object' && env !== null && 'outgoing' in env && env.outgoing instanceof ServerResponse) return env.outgoing;
  return null;
}

export function eventRoutes(deps: Deps, opts: { heartbeatMs?: number } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const { max_event_streams: maxStreams, event_stream_stall_seconds: stallSeconds } = deps.config.server;
  // Shared by every stream: a page read waits for its turn, so streams far behind take turns
  // with each other and with every other request instead of starving them.
  const pageTurn = turnGate(PAGES_PER_TURN);
  let openStreams = 0;

  app.get('/events', async (c) => {
    const q = parseInput(eventsQuery, c.req.query());
    const items = await deps.store.listEvents(q.after, q.limit);
    const last = items[items.length - 1];
    return c.json({ items, next_after: last === undefined ? q.after : last.seq });
  });

  app.get('/events/stream', (c) => {
    const q = parseInput(streamQuery, c.req.query());
    if (openStreams >= maxStreams) {
      throw new AppError('too_many_streams', `${openStreams} event streams are open, the most server.max_event_streams allows; retry later`, { retryAfter: 5 });
    }
    openStreams += 1;
    const header = c.req.header('last-event-id');
    let cursor = header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : (q.after ?? 0);
    let wake: (() => void) | null = null;
    let dirty = true;
    const unsubscribe = deps.store.subscribe(() => {
      dirty = true;
      wake?.();
    });
    let timer: NodeJS.Timeout | null = null;
    let stallTimer: NodeJS.Timeout | null = null;
    let closed = false;
    /** The client went away (or was dropped): the controller must not be touched again. */
    let cancelled = false;
    let released = false;
    const log = c.get('logger');
    const response = responseOf(c);
    // Shutdown ends open streams cleanly instead of holding the server until its deadline.
    const onShutdown = () => {
      closed = true;
      wake?.();
    };
    deps.lifecycle.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    const release = () => {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      if (stallTimer !== null) clearTimeout(stallTimer);
      if (released) return;
      released = true;
      openStreams -= 1;
      unsubscribe();
      deps.lifecycle.shutdown.signal.removeEventListener('abort', onShutdown);
    };

    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          controller.enqueue(encoder.encode(': sluice event stream\nretry: 2000\n\n'));
        },
        // Called when the previous chunk was taken, i.e. written to a socket that had room: a
        // client that does not read is never read for, and holds at most one chunk here.
        async pull(controller) {
          if (stallTimer !== null) clearTimeout(stallTimer);
          const send = (text: string) => {
            controller.enqueue(encoder.encode(text));
            // The chunk must be taken within the bound, else the client is dropped: a stalled
            // client would otherwise keep its slot and its buffers for as long as TCP lets it.
            stallTimer = setTimeout(() => {
              log.warn({ stall_seconds: stallSeconds, cursor }, 'event stream dropped: the client read nothing for too long');
              cancelled = true;
              release();
              if (response !== null) response.destroy();
              else controller.error(new Error('event stream dropped: the client read nothing'));
            }, stallSeconds * 1000);
            stallTimer.unref();
          };
          for (;;) {
            if (cancelled) return;
            if (closed || deps.lifecycle.shutdown.signal.aborted) {
              release();
              controller.close();
              return;
            }
            if (dirty) {
              dirty = false;
              await pageTurn();
              if (cancelled) return;
              let page: EventRecord[];
              try {
                page = await deps.store.listEvents(cursor, PAGE);
              } catch (err) {
                if (cancelled) return;
                // The database went away: end this stream; the client resumes with Last-Event-ID.
                log.warn({ err }, 'event stream ended: the event log cannot be read');
                release();
                controller.close();
                return;
              }
              if (cancelled) return;
              if (page.length > 0) {
                const frames = framesOf(page);
                if (!frames.all || page.length === PAGE) dirty = true; // more to read
                cursor = frames.last;
                send(frames.text);
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
              send(': ping\n\n');
              return;
            }
          }
        },
        cancel() {
          cancelled = true;
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
