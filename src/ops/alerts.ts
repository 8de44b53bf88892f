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
import type { EventRecord } from '../store/store.js';
import { startEventConsumer, type EventConsumerDeps } from './event-consumer.js';

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
  store: EventConsumerDeps['store'];
  logger: Logger;
  webhookUrl: string;
  backoff: { base_ms: number; cap_ms: number };
  timeoutMs: number;
  random?: () => number;
}

/**
 * The alert sender: the shared event consumer (ops/event-consumer.ts) over the alert events,
 * one alert per delivery, so that its offset is stored after each confirmed alert.
 */
export function startAlerts(deps: AlertDeps): { stop: () => Promise<void> } {
  return startEventConsumer({
    cursor: CURSOR,
    label: 'alert',
    store: deps.store,
    logger: deps.logger,
    // The first time alerts are configured, start at the head: history is not news.
    startAt: 'head',
    select: isAlertEvent,
    batch: 1,
    backoff: deps.backoff,
    random: deps.random,
    async deliver([e]) {
      if (e === undefined) return { confirmed: 0 };
      const res = await postAlert(deps, e);
      if (res.ok) return { confirmed: 1 };
      return { confirmed: 0, failure: { reason: res.reason, retry_after_ms: res.retry_after_ms } };
    },
  });
}
