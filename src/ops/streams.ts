/**
 * Order streams as a degraded component (docs/http-api.md#status): a connector's order stream
 * that has been down for longer than twice `execution.order_poll_seconds` is `stream:<connector>`
 * in `degraded` until it is back. While it is down sluice polls every open order, so nothing is
 * lost; a stream down that long means every fill arrives up to a poll period late. A brief
 * reconnect stays under the threshold and is never shown; a late fill is not a stream's state
 * and never is. Entering and leaving go through the one DegradedState (events, alerts, metrics).
 */
import type { StreamStatus } from '../execution/tracker.js';
import type { DegradedState } from './degraded.js';

export interface StreamWatchDeps {
  /** The tracker's `streamStatus`. */
  streams: () => StreamStatus[];
  degraded: Pick<DegradedState, 'enter' | 'exit'>;
  now: () => Date;
  /** `execution.order_poll_seconds`. */
  pollSeconds: number;
}

export const streamComponent = (connector: string): string => `stream:${connector}`;

/** The streams down for longer than `thresholdMs` at `now`, as degraded components. */
export function streamsDown(streams: readonly StreamStatus[], now: Date, thresholdMs: number, pollSeconds: number): Array<{ component: string; reason: string }> {
  const out: Array<{ component: string; reason: string }> = [];
  for (const s of streams) {
    const since = Date.parse(s.since);
    if (s.connected || !(now.getTime() - since > thresholdMs)) continue;
    const why = s.reason === null ? '' : ` (${s.reason})`;
    out.push({ component: streamComponent(s.connector), reason: `order stream down since ${s.since}${why}; open orders are polled every ${pollSeconds} s` });
  }
  return out;
}

/** One look: streams down too long enter `degraded`, the others leave it. */
export function checkStreams(deps: StreamWatchDeps): void {
  const streams = deps.streams();
  const now = deps.now();
  const down = streamsDown(streams, now, deps.pollSeconds * 2 * 1000, deps.pollSeconds);
  for (const d of down) deps.degraded.enter(d.component, d.reason, now);
  const names = new Set(down.map((d) => d.component));
  for (const s of streams) if (!names.has(streamComponent(s.connector))) deps.degraded.exit(streamComponent(s.connector));
}

/** Looks every half poll period, at least every second: a stream shows soon after passing the threshold. */
export function startStreamWatch(deps: StreamWatchDeps): { stop: () => void } {
  const timer = setInterval(() => checkStreams(deps), Math.min(1000, Math.max(50, (deps.pollSeconds * 1000) / 2)));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
