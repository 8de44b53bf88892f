/**
 * Event sinks (docs/configuration.md#sinks, docs/guarantees.md#event-sinks): the event log fanned
 * out at least once, each sink a consumer of the log (ops/event-consumer.ts) with its own stored
 * offset, `sink:<name>`. A sink that cannot deliver never holds up signals; it is the degraded
 * component `sink:<name>` while its deliveries fail or its connection has been down for longer
 * than one publish timeout, and its lag (log entries not confirmed yet) is a metric. When the
 * receiver is back it catches up from its offset.
 */
import type { Logger } from 'pino';
import { sinkName, type SinkConfig } from '../config/sinks.js';
import type { Store } from '../store/store.js';
import type { DegradedState } from './degraded.js';
import { startEventConsumer, type EventConsumer } from './event-consumer.js';
import type { LinkState, NatsSink } from './nats-sink.js';

/** Entries in flight per publish (pipelined; ordered by the publisher). */
const BATCH = 128;

export const sinkComponent = (name: string): string => `sink:${name}`;

/** A failing delivery since when and why (null while deliveries succeed). */
export interface Failing {
  since: number;
  reason: string;
}

/**
 * Why a sink is degraded at `now`, or null: deliveries failing (at once: each failure already
 * waited for the receiver), or the connection down for `graceMs` or longer while idle.
 */
export function sinkTrouble(link: LinkState, failing: Failing | null, now: number, graceMs: number): string | null {
  if (failing !== null) return `deliveries failing since ${new Date(failing.since).toISOString()}: ${failing.reason}`;
  if (!link.up && now - link.since >= graceMs) return `not connected since ${new Date(link.since).toISOString()}: ${link.reason ?? 'connecting'}`;
  return null;
}

export interface SinksDeps {
  store: Pick<Store, 'subscribe' | 'getCursor' | 'setCursor' | 'lastEventSeq' | 'listEvents'>;
  logger: Logger;
  degraded: Pick<DegradedState, 'enter' | 'exit'>;
  now: () => Date;
}

export interface Sinks {
  /** Each sink's name and the seq it confirmed up to (null until its offset was read). */
  list: () => Array<{ name: string; position: number | null }>;
  start: () => void;
  /** Stops delivering (after the publish in flight), then closes the connections. */
  stop: () => Promise<void>;
}

interface Running {
  name: string;
  config: SinkConfig;
  sink: NatsSink;
  consumer: EventConsumer | null;
  failing: Failing | null;
}

/**
 * Builds the sinks of `configs`; nothing connects or reads before `start()`. The NATS client is
 * loaded only when a sink is configured, so a start without one need not compile it.
 */
export async function createSinks(configs: readonly SinkConfig[], deps: SinksDeps): Promise<Sinks> {
  const clock = () => deps.now().getTime();
  const running: Running[] = [];
  if (configs.length > 0) {
    const { NatsSink } = await import('./nats-sink.js');
    for (const config of configs) {
      const r: Running = {
        name: sinkName(config),
        config,
        sink: new NatsSink(config, { logger: deps.logger, clock, onConnected: () => r.consumer?.retryNow() }),
        consumer: null,
        failing: null,
      };
      running.push(r);
    }
  }
  let watch: ReturnType<typeof setInterval> | null = null;

  const check = (): void => {
    const now = deps.now();
    for (const r of running) {
      const trouble = sinkTrouble(r.sink.link(), r.failing, now.getTime(), r.config.timeout_ms);
      if (trouble === null) deps.degraded.exit(sinkComponent(r.name));
      else deps.degraded.enter(sinkComponent(r.name), `${r.config.type} stream ${r.config.stream}: ${trouble}`, now);
    }
  };

  return {
    list: () => running.map((r) => ({ name: r.name, position: r.consumer?.position() ?? null })),
    start() {
      for (const r of running) {
        r.sink.start();
        r.consumer = startEventConsumer({
          cursor: sinkComponent(r.name),
          label: `sink ${r.name}`,
          store: deps.store,
          logger: deps.logger,
          // A sink is a copy of the log: it begins at the first entry.
          startAt: 'first',
          batch: BATCH,
          backoff: r.config.backoff,
          deliver: (entries) => r.sink.publish(entries),
          onOutcome: (o) => {
            r.failing = o.ok ? null : { since: r.failing?.since ?? clock(), reason: o.reason };
            check();
          },
        });
        deps.logger.info({ sink: r.name, servers: r.config.url, subject_prefix: r.config.subject_prefix }, 'event sink started');
      }
      watch = setInterval(check, 1_000);
      watch.unref();
    },
    async stop() {
      if (watch !== null) clearInterval(watch);
      await Promise.all(
        running.map(async (r) => {
          const stopped = r.consumer?.stop();
          // Connected: the acks in flight land and their offset is stored. Not connected: a
          // publish waiting for the connection would only wait out its timeout; closing ends it.
          if (!r.sink.link().up) await r.sink.close();
          await stopped;
          await r.sink.close();
        }),
      );
    },
  };
}
