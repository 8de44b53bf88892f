/**
 * The live event feed behind `subscribe()` on PostgreSQL: LISTEN/NOTIFY on a connection of its
 * own, and reads of the log after the last event delivered (see createEventFeed).
 */
import postgres from 'postgres';
import type { Logger } from 'pino';
import type { EventRecord } from '../contract/events.js';

const FEED_PAGE = 1000;

export interface ListenOptions {
  url: string;
  channel: string;
  applicationName: string;
  onnotice: (notice: postgres.Notice) => void;
}

/**
 * The feed's LISTEN runs on a connection of its own, outside the pool. Not postgres.js's
 * `listen()`: after an outage longer than its one reconnect attempt that stays silent for good,
 * where this connection reports its closing and the feed LISTENs again.
 */
export function listenConnection(opts: ListenOptions, on: { notified: () => void; lost: () => void }): Pick<EventFeedDeps, 'listen' | 'unlisten'> {
  let client: postgres.Sql | null = null;
  return {
    async listen() {
      if (client === null) {
        // postgres.js calls `onnotify` for every notification of the client's connections; its
        // types omit the option, so it is passed as a variable (no excess-property check).
        const listenOptions = {
          max: 1,
          connect_timeout: 10,
          idle_timeout: 0,
          max_lifetime: null,
          fetch_types: false,
          onnotice: opts.onnotice,
          connection: { application_name: opts.applicationName },
          onnotify: (name: string): void => {
            if (name === opts.channel) on.notified();
          },
          onclose: (): void => on.lost(),
        };
        client = postgres(opts.url, listenOptions);
      }
      // LISTEN lasts as long as the connection; a new connection needs it again.
      await client.unsafe(`listen "${opts.channel}"`);
    },
    async unlisten() {
      const current = client;
      client = null;
      await current?.end({ timeout: 5 });
    },
  };
}

export interface EventFeedDeps {
  /** Issues LISTEN on the feed's connection (opening it if needed); resolves once listening. */
  listen: () => Promise<void>;
  /** Closes the feed's connection. */
  unlisten: () => Promise<void>;
  read: (after: number, limit: number) => Promise<EventRecord[]>;
  head: () => Promise<number>;
  logger?: Logger;
}

/** While LISTEN is down (an outage), how often the feed tries it again and catches up. */
const FEED_HEAL_MS = 2000;

/**
 * The live feed behind `subscribe()`. Every appending transaction notifies the schema's channel
 * on commit; on a notification (or a commit of this process, or a LISTEN re-established) the
 * feed reads the events after the last one it delivered, from the database, and hands them to
 * the listeners in seq order. Reads are serialized and `delivered` only moves forward, so every
 * event of every instance reaches this process's listeners once, in order. Committed events
 * form a gap-free prefix of the log (the event-log lock is held until commit), so reading
 * "after `delivered`" never skips one that commits later.
 *
 * The starting point: the head, read as soon as subscribe() is called (remote events committed
 * before that read are history), lowered to include every event this process committed since
 * subscribe() was called: a local transaction can commit before the head read and report its
 * commit after it, so the feed waits for the transactions in flight when the head came back.
 *
 * When the LISTEN connection closes (server restart, outage), the feed LISTENs again at once
 * and then every FEED_HEAL_MS until it succeeds, and catches up by reading from `delivered`.
 */
export function createEventFeed(deps: EventFeedDeps) {
  const listeners = new Set<(event: EventRecord) => void>();
  /** The last seq handed to listeners; null while the starting point is being read. */
  let delivered: number | null = null;
  /** The lowest seq this process committed while the starting point was being read. */
  let committedSinceStart: number | null = null;
  /** Local transactions in flight, each settled when its caller is answered. */
  const inFlight = new Set<Promise<void>>();
  /** Bumped on every (re)start, so a stale starting point is ignored. */
  let generation = 0;
  let listenUp = false;
  let listenTry: Promise<void> | null = null;
  let healTimer: NodeJS.Timeout | null = null;
  let pumping = false;
  let again = false;
  let stopped = false;

  /** LISTENs unless already listening; concurrent callers share one attempt. */
  function ensureListening(): Promise<void> {
    if (listenUp) return Promise.resolve();
    listenTry ??= deps
      .listen()
      .then(() => {
        listenUp = true;
      })
      .finally(() => {
        listenTry = null;
      });
    return listenTry;
  }

  /** LISTEN again if it is down, then catch up on what was committed meanwhile. */
  function heal(): void {
    if (stopped || listeners.size === 0 || listenUp) return;
    ensureListening().then(pump, (error: unknown) => {
      if (!stopped) deps.logger?.warn({ err: error }, 'event feed: LISTEN failed; retrying');
    });
  }

  async function start(gen: number): Promise<void> {
    try {
      const headRead = deps.head();
      const listening = ensureListening();
      // Awaited below, after the head: a LISTEN that fails meanwhile must not be an unhandled
      // rejection (it would end the process).
      listening.catch(() => undefined);
      const head = await headRead;
      await Promise.all([...inFlight]);
      await listening;
      if (gen !== generation || stopped) return;
      delivered = committedSinceStart === null ? head : Math.min(head, committedSinceStart - 1);
      committedSinceStart = null;
      healTimer ??= setInterval(heal, FEED_HEAL_MS).unref();
      pump();
    } catch (error) {
      if (gen !== generation || stopped) return;
      // The database is unreachable: try again shortly.
      deps.logger?.error({ err: error }, 'event feed: could not start listening');
      setTimeout(() => void start(gen), FEED_HEAL_MS).unref();
    }
  }

  function pump(): void {
    if (stopped || listeners.size === 0 || delivered === null) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    void (async () => {
      try {
        do {
          again = false;
          for (;;) {
            const from = delivered;
            if (from === null || stopped) return;
            const page = await deps.read(from, FEED_PAGE);
            for (const event of page) {
              if (delivered === null || event.seq <= delivered) continue;
              delivered = event.seq;
              for (const listener of listeners) {
                try {
                  listener(event);
                } catch {
                  // A listener's bug must not stop the feed; listeners log their own errors.
                }
              }
            }
            if (page.length < FEED_PAGE) break;
          }
        } while (again);
      } catch (error) {
        // The database is unreachable: the next notification, commit or heal retries.
        if (!stopped) deps.logger?.warn({ err: error }, 'event feed: could not read new events');
      } finally {
        pumping = false;
      }
    })();
  }

  return {
    subscribe(listener: (event: EventRecord) => void): () => void {
      if (listeners.size === 0) {
        // (Re)start: deliver what commits from now on, not the history.
        generation += 1;
        delivered = null;
        committedSinceStart = null;
        void start(generation);
      }
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    /** A local transaction starts; call the returned function once its caller has its answer. */
    began(): () => void {
      let settle = (): void => {};
      const settled = new Promise<void>((resolve) => {
        settle = resolve;
      });
      inFlight.add(settled);
      return () => {
        inFlight.delete(settled);
        settle();
      };
    },
    /** This process committed these events (in seq order). */
    committed(events: EventRecord[]): void {
      if (listeners.size === 0) return;
      const first = events[0];
      if (delivered === null && first !== undefined) {
        committedSinceStart = committedSinceStart === null ? first.seq : Math.min(committedSinceStart, first.seq);
      }
      pump();
    },
    /** A notification arrived on the channel. */
    notified(): void {
      pump();
    },
    /** The LISTEN connection closed: notifications stop until it is re-established. */
    listenLost(): void {
      // Only a LISTEN that was up is retried at once; failed attempts (the server is down)
      // wait for the heal timer, so an outage does not become a reconnect loop.
      const wasUp = listenUp;
      listenUp = false;
      if (wasUp) heal();
    },
    async close(): Promise<void> {
      stopped = true;
      listeners.clear();
      if (healTimer !== null) clearInterval(healTimer);
      healTimer = null;
      try {
        await deps.unlisten();
      } catch {
        // The connection is gone already.
      }
    },
  };
}

export type EventFeed = ReturnType<typeof createEventFeed>;
