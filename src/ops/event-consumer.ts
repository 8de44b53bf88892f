/**
 * The one consumer of the event log at least once (docs/guarantees.md#event-log): follows the log
 * from an offset stored under a name (the store's `getCursor`/`setCursor`), hands the entries it
 * selects, in order and in batches, to a `deliver` function, and stores the offset only after
 * `deliver` confirmed them. A crash resends at most what was handed over and not stored yet; a
 * restart never resends what was confirmed and stored. A failed delivery is retried from the
 * first unconfirmed entry with backoff, in a loop of its own: a dead receiver never blocks the
 * signal path. Alerts (ops/alerts.ts) and the event sinks (ops/sinks.ts) both run on it.
 */
import type { Logger } from 'pino';
import { nextDelay, type BackoffOptions } from '../domain/backoff.js';
import type { EventRecord, Store } from '../store/store.js';

/** Entries read from the log per page. */
const PAGE = 200;
/** With nothing new announced, the log is read again after this long anyway (an event another instance appended). */
const IDLE_MS = 30_000;

/** What one `deliver` call confirmed: a leading part of the entries it was given. */
export interface Delivered {
  /** How many of the entries, from the first, the receiver confirmed. */
  confirmed: number;
  /** Why the rest was not confirmed (absent when all were); `retry_after_ms` is the receiver's own wait. */
  failure?: { reason: string; retry_after_ms?: number };
}

export interface EventConsumerDeps {
  /** The name the offset is stored under (distinct per consumer). */
  cursor: string;
  /** What the log lines call it: `<label> delivery failed; retrying`. */
  label: string;
  store: Pick<Store, 'subscribe' | 'getCursor' | 'setCursor' | 'lastEventSeq' | 'listEvents'>;
  logger: Logger;
  /** Where a consumer without a stored offset begins: the log's head (history is not news) or its first entry. */
  startAt: 'head' | 'first';
  /** The entries delivered; the others are passed over (never handed to `deliver`). Every entry when absent. */
  select?: (e: EventRecord) => boolean;
  /** The most entries handed to one `deliver` call (the offset is stored after each call). */
  batch: number;
  deliver: (entries: EventRecord[]) => Promise<Delivered>;
  backoff: BackoffOptions;
  /** Told after every delivery: what it confirmed, or why not (with the attempt number since the last success). */
  onOutcome?: (outcome: { ok: true; confirmed: number } | { ok: false; reason: string; attempt: number }) => void;
  random?: () => number;
}

export interface EventConsumer {
  /** The seq of the last entry confirmed or passed over (null until the stored offset was read). */
  position: () => number | null;
  /** Ends a retry's backoff now (the receiver is known to be back); new events never do. */
  retryNow: () => void;
  /** Stops after the delivery in flight (a retry's backoff is cut short); nothing is handed over afterwards. */
  stop: () => Promise<void>;
}

/** One pausable wait: `pause(ms)` ends after `ms`, or at once when `cut()` is called meanwhile. */
function waiter(): { pause: (ms: number) => Promise<void>; cut: () => void } {
  let cut: (() => void) | null = null;
  return {
    pause: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        cut = () => {
          clearTimeout(timer);
          resolve();
        };
      }).finally(() => {
        cut = null;
      }),
    cut: () => cut?.(),
  };
}

export function startEventConsumer(deps: EventConsumerDeps): EventConsumer {
  const random = deps.random ?? Math.random;
  const select = deps.select ?? (() => true);
  let stopped = false;
  let dirty = true;
  let cursor: number | null = null;
  // A new event wakes the idle wait; only stop() and retryNow() cut a retry's backoff short, so
  // new events never make the retries hammer a failing receiver.
  const idle = waiter();
  const backoff = waiter();
  const unsubscribe = deps.store.subscribe((e) => {
    if (!select(e)) return;
    dirty = true;
    idle.cut();
  });

  /** Hands `entries` over until all are confirmed (or stop()); returns false when stopped first. */
  async function deliverAll(entries: EventRecord[]): Promise<boolean> {
    let rest = entries;
    for (let attempt = 1; rest.length > 0; ) {
      if (stopped) return false;
      const result = await deps.deliver(rest).catch((err: unknown): Delivered => ({ confirmed: 0, failure: { reason: err instanceof Error ? err.message : String(err) } }));
      const confirmed = Math.max(0, Math.min(rest.length, Math.floor(result.confirmed)));
      const last = rest[confirmed - 1];
      if (last !== undefined) {
        cursor = last.seq;
        // Confirmed: never handed over again, even after a restart.
        await deps.store.setCursor(deps.cursor, last.seq);
        rest = rest.slice(confirmed);
        attempt = 1;
      }
      if (rest.length === 0) {
        deps.onOutcome?.({ ok: true, confirmed: entries.length });
        return true;
      }
      const reason = result.failure?.reason ?? 'not confirmed';
      deps.onOutcome?.({ ok: false, reason, attempt });
      deps.logger.warn({ consumer: deps.cursor, seq: rest[0]?.seq, attempt, reason }, `${deps.label} delivery failed; retrying`);
      await backoff.pause(nextDelay(attempt, deps.backoff, random, result.failure?.retry_after_ms));
      attempt += 1;
    }
    return true;
  }

  const done = (async () => {
    while (!stopped) {
      if (cursor === null) {
        try {
          const stored = await deps.store.getCursor(deps.cursor);
          cursor = stored ?? (deps.startAt === 'head' ? await deps.store.lastEventSeq() : 0);
          if (stored === null) await deps.store.setCursor(deps.cursor, cursor);
        } catch (err) {
          deps.logger.error({ err, consumer: deps.cursor }, `${deps.label} could not read its offset; retrying`);
          cursor = null;
          await idle.pause(deps.backoff.base_ms);
          continue;
        }
      }
      if (!dirty) await idle.pause(IDLE_MS);
      if (stopped) break;
      dirty = false;
      try {
        const stored: number = cursor;
        const page = await deps.store.listEvents(stored, PAGE);
        if (page.length === PAGE) dirty = true;
        let batch: EventRecord[] = [];
        for (const e of page) {
          if (select(e)) batch.push(e);
          if (batch.length < deps.batch) continue;
          if (!(await deliverAll(batch))) return;
          batch = [];
        }
        if (batch.length > 0 && !(await deliverAll(batch))) return;
        // Entries passed over after the last delivered one: stored once per page, not per entry.
        const last = page[page.length - 1];
        if (last !== undefined && last.seq !== cursor) {
          cursor = last.seq;
          await deps.store.setCursor(deps.cursor, last.seq);
        }
      } catch (err) {
        deps.logger.error({ err, consumer: deps.cursor }, `${deps.label} loop failed; retrying`);
        dirty = true;
        await idle.pause(deps.backoff.base_ms);
      }
    }
  })();

  return {
    position: () => cursor,
    retryNow: () => backoff.cut(),
    async stop() {
      stopped = true;
      unsubscribe();
      idle.cut();
      backoff.cut();
      await done;
    },
  };
}
