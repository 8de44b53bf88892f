/**
 * Alerts (docs/configuration.md#alerts, docs/guarantees.md#event-log): a Slack-compatible JSON POST for every breaker, mode,
 * degraded and daily-loss event, and every order the broker rejected or let expire (an order
 * that ends so is a signal that did less than it said, and nobody may be watching the log). Delivered at least once from the event log: the consumer
 * offset is stored only after the receiver confirmed (2xx), so a crash resends at most the
 * alert in flight, and a restart never resends a confirmed one. A separate loop with its own
 * backoff: a dead receiver never blocks the signal path.
 */
import type { Logger } from 'pino';
import { callJson } from '../connectors/http-client.js';
import { nextDelay } from '../domain/backoff.js';
import type { EventRecord, Store } from '../store/store.js';

const CURSOR = 'alerts';

/** An event as alerts read it; `seq` is null for one the log could not take yet (ops/degraded.ts). */
export type AlertEvent = Pick<EventRecord, 'type' | 'at' | 'data'> & { seq: number | null };

/** An event `alerted: true` was sent when it happened, before the log could take it. */
export function isAlertEvent(e: Pick<EventRecord, 'type' | 'data'>): boolean {
  if (e.data.alerted === true) return false;
  return e.type.startsWith('breaker.') || e.type === 'mode.changed' || e.type.startsWith('degraded.') || e.type === 'order.rejected' || e.type === 'order.expired';
}

/** The Slack message for an event: `text` is what Slack shows. */
export function alertMessage(e: AlertEvent): { text: string } {
  const d = e.data;
  const s = (k: string): string => (typeof d[k] === 'string' || typeof d[k] === 'number' ? String(d[k]) : '');
  let text: string;
  if (e.type === 'mode.changed' && d.reason === 'daily_loss') {
    text = `daily loss limit breached: mode ${s('from')} → ${s('to')}`;
  } else if (e.type === 'mode.changed') {
    text = `mode ${s('from') || '(none)'} → ${s('to')} by ${s('actor')}${d.reason ? `: ${s('reason')}` : ''}`;
  } else if (e.type.startsWith('breaker.')) {
    text = `breaker ${e.type.slice('breaker.'.length).replace('_', '-')} for connector ${s('connector')} (${s('reason')})`;
  } else if (e.type === 'order.rejected' || e.type === 'order.expired') {
    text = orderText(e.type.slice('order.'.length), d);
  } else if (e.type === 'degraded.entered') {
    text = `degraded: ${s('component')}: ${s('reason')}`;
  } else {
    text = `recovered: ${s('component')}`;
  }
  return { text: `[sluice ${e.seq === null ? '' : `#${e.seq} `}${e.at}] ${text}` };
}

/** `order rejected: mock sell 5 AAPL (client_order_id sl-…), 2 of 5 filled`. */
function orderText(status: string, d: Record<string, unknown>): string {
  const s = (k: string): string => (typeof d[k] === 'string' || typeof d[k] === 'number' ? String(d[k]) : '?');
  const filled = typeof d.filled_quantity === 'number' && d.filled_quantity > 0 ? `, ${s('filled_quantity')} of ${s('quantity')} filled` : ', nothing filled';
  return `order ${status}: ${s('connector')} ${s('side')} ${s('quantity')} ${s('instrument')} (client_order_id ${s('client_order_id')})${filled}`;
}

/** One POST of one alert (`ok` when the receiver answered 2xx). */
export function postAlert(deps: Pick<AlertDeps, 'webhookUrl' | 'timeoutMs'>, e: AlertEvent): ReturnType<typeof callJson> {
  return callJson({ method: 'POST', url: deps.webhookUrl, headers: { 'content-type': 'application/json' }, body: alertMessage(e), timeout_ms: deps.timeoutMs });
}

export interface AlertDeps {
  store: Pick<Store, 'subscribe' | 'getCursor' | 'setCursor' | 'lastEventSeq' | 'listEvents'>;
  logger: Logger;
  webhookUrl: string;
  backoff: { base_ms: number; cap_ms: number };
  timeoutMs: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export function startAlerts(deps: AlertDeps): { stop: () => Promise<void> } {
  const random = deps.random ?? Math.random;
  let stopped = false;
  let wake: (() => void) | null = null;
  let dirty = true;
  const unsubscribe = deps.store.subscribe((e) => {
    if (!isAlertEvent(e)) return;
    dirty = true;
    wake?.();
  });
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      wake = null;
    });

  let cancelBackoff: (() => void) | null = null;
  const backoff = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      cancelBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      cancelBackoff = null;
    });

  async function deliver(e: EventRecord): Promise<void> {
    for (let attempt = 1; !stopped; attempt += 1) {
      const res = await postAlert(deps, e);
      if (res.ok) return;
      deps.logger.warn({ seq: e.seq, attempt, reason: res.reason }, 'alert delivery failed; retrying');
      // A backoff only stop() cuts short: new events must not make the retries hammer the receiver.
      await backoff(nextDelay(attempt, deps.backoff, random, res.retry_after_ms));
    }
  }

  const done = (async () => {
    let cursor: number | null = null;
    while (!stopped) {
      if (cursor === null) {
        try {
          // The first time alerts are configured, start at the head: history is not news.
          cursor = (await deps.store.getCursor(CURSOR)) ?? (await deps.store.lastEventSeq());
          await deps.store.setCursor(CURSOR, cursor);
        } catch (err) {
          deps.logger.error({ err }, 'alerts could not read their offset; retrying');
          cursor = null;
          await pause(deps.backoff.base_ms);
          continue;
        }
      }
      if (!dirty) await pause(30_000);
      if (stopped) break;
      dirty = false;
      try {
        const from: number = cursor;
        const page = await deps.store.listEvents(from, 200);
        if (page.length === 200) dirty = true;
        for (const e of page) {
          if (isAlertEvent(e)) {
            await deliver(e);
            if (stopped) return;
          }
          // Confirmed (or not an alert): never sent again, even after a restart.
          cursor = e.seq;
          if (isAlertEvent(e)) await deps.store.setCursor(CURSOR, cursor);
        }
        const last = page[page.length - 1];
        if (last !== undefined && !isAlertEvent(last)) await deps.store.setCursor(CURSOR, cursor);
      } catch (err) {
        deps.logger.error({ err }, 'alert loop failed; retrying');
        dirty = true;
        await pause(deps.backoff.base_ms);
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      unsubscribe();
      wake?.();
      cancelBackoff?.();
      await done;
    },
  };
}
