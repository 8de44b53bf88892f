/**
 * Prometheus metrics (prom-client) on a registry of this app's own, so several apps in one
 * process (tests) never share counters. Counters and histograms move where things happen;
 * gauges that describe stored state (queue, breakers, mode) are read from the store at scrape
 * time, so every instance reports the shared truth.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';
import { MODES } from '../domain/types.js';

export interface MetricsSources {
  store: Store;
  connectors: () => string[];
  degraded: () => Array<{ component: string }>;
  spoolPending: () => number;
  /** Each event sink and the seq it confirmed up to (null until it read its offset). */
  sinks: () => Array<{ name: string; position: number | null }>;
  now: () => Date;
}

/**
 * prom-client's default `nodejs_active_{handles,requests,resources}_total` are gauges with a
 * counter's suffix, which `promtool check metrics` rejects; their `_total`-less twins
 * (`…_active_handles` etc.) carry the same numbers, so these are dropped from the output.
 */
const NONCONFORMING = /^(# (HELP|TYPE) )?sluice_process_nodejs_active_(handles|requests|resources)_total[ {]/;

const BREAKER_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });

  const deliveries = new Counter({
    name: 'sluice_deliveries_total',
    help: 'Webhook deliveries by source and outcome (accepted, duplicate, deferred, or the refusal code).',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  const signals = new Counter({
    name: 'sluice_signals_total',
    help: 'Signal status transitions, by the status entered.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const ingestSeconds = new Histogram({
    name: 'sluice_ingest_duration_seconds',
    help: 'Time from request to acknowledgement of a webhook delivery.',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const executionSeconds = new Histogram({
    name: 'sluice_execution_duration_seconds',
    help: 'Time from acceptance to the final status of a signal.',
    labelNames: ['status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const connectorCalls = new Counter({
    name: 'sluice_connector_calls_total',
    help: 'Connector order placements by outcome (ok, adopted, retryable, ambiguous, permanent).',
    labelNames: ['connector', 'outcome'] as const,
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'sluice_guardrail_rejections_total',
    help: 'Guardrail rule failures in rejected decisions, by rule.',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const unknownFields = new Counter({
    name: 'sluice_unknown_fields_total',
    help: 'Unknown top-level fields kept under meta.unknown_fields, by source.',
    labelNames: ['source'] as const,
    registers: [registry],
  });

  const orderUpdates = new Counter({
    name: 'sluice_order_updates_total',
    help: 'Order transitions booked (order.* events), by connector and the status entered.',
    labelNames: ['connector', 'status'] as const,
    registers: [registry],
  });
  const fills = new Counter({
    name: 'sluice_fills_total',
    help: 'Fills booked into the ledger (each increase of an order\'s filled quantity), by connector.',
    labelNames: ['connector'] as const,
    registers: [registry],
  });
  const streamReconnects = new Counter({
    name: 'sluice_order_stream_reconnects_total',
    help: 'Times a connector\'s order stream came back after being down, by connector.',
    labelNames: ['connector'] as const,
    registers: [registry],
  });

  let sources: MetricsSources | null = null;
  const needSources = (): MetricsSources | null => sources;

  new Gauge({
    name: 'sluice_queue_depth',
    help: 'Signals waiting (accepted) and in flight (executing).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const s = needSources();
      if (s === null) return;
      const q = await s.store.queueStats();
      this.set({ status: 'accepted' }, q.accepted);
      this.set({ status: 'executing' }, q.executing);
    },
  });
  new Gauge({
    name: 'sluice_oldest_accepted_age_seconds',
    help: 'Age of the oldest signal still waiting to execute (0 when none).',
    registers: [registry],
    async collect() {
      const s = needSources();
      if (s === null) return;
      const q = await s.store.queueStats();
      this.set(q.oldest_accepted_at === null ? 0 : Math.max(0, (s.now().getTime() - Date.parse(q.oldest_accepted_at)) / 1000));
    },
  });
  new Gauge({
    name: 'sluice_breaker_state',
    help: 'Circuit breaker per connector: 0 closed, 1 half_open, 2 open.',
    labelNames: ['connector'] as const,
    registers: [registry],
    async collect() {
      const s = needSources();
      if (s === null) return;
      const stored = await s.store.getBreakers();
      for (const name of s.connectors()) this.set({ connector: name }, BREAKER_VALUE[stored[name]?.state ?? 'closed']);
    },
  });
  new Gauge({
    name: 'sluice_mode',
    help: 'The current mode: 1 for the mode in force, 0 for the others.',
    labelNames: ['mode'] as const,
    registers: [registry],
    async collect() {
      const s = needSources();
      if (s === null) return;
      const { mode } = await s.store.getMode();
      for (const m of MODES) this.set({ mode: m }, m === mode ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sluice_degraded_components',
    help: 'Components currently degraded (1 each), by component.',
    labelNames: ['component'] as const,
    registers: [registry],
    collect() {
      const s = needSources();
      if (s === null) return;
      this.reset();
      for (const d of s.degraded()) this.set({ component: d.component }, 1);
    },
  });
  new Gauge({
    name: 'sluice_open_orders',
    help: 'Orders placed and not terminal yet (new, partially_filled), by connector.',
    labelNames: ['connector'] as const,
    registers: [registry],
    async collect() {
      const s = needSources();
      if (s === null) return;
      const open = await s.store.openOrders();
      for (const name of s.connectors()) this.set({ connector: name }, open.filter((o) => o.connector === name).length);
    },
  });
  new Gauge({
    name: 'sluice_spool_pending',
    help: 'Deliveries waiting in the spool for the database to come back.',
    registers: [registry],
    collect() {
      const s = needSources();
      if (s !== null) this.set(s.spoolPending());
    },
  });

  new Gauge({
    name: 'sluice_sink_lag_events',
    help: 'Event log entries a sink has not had confirmed yet (the newest seq minus its offset), by sink.',
    labelNames: ['sink'] as const,
    registers: [registry],
    async collect() {
      const s = needSources();
      if (s === null) return;
      const sinks = s.sinks();
      if (sinks.length === 0) return;
      const head = await s.store.lastEventSeq();
      for (const sink of sinks) this.set({ sink: sink.name }, Math.max(0, head - (sink.position ?? 0)));
    },
  });

  return {
    registry,
    contentType: registry.contentType,
    /** The exposition text, without prom-client's gauges that break the naming conventions. */
    async render(): Promise<string> {
      const text = await registry.metrics();
      return text
        .split('\n')
        .filter((line) => !NONCONFORMING.test(line))
        .join('\n');
    },
    deliveries,
    signals,
    ingestSeconds,
    executionSeconds,
    connectorCalls,
    rejections,
    unknownFields,
    orderUpdates,
    fills,
    streamReconnects,
    /** Connects the scrape-time gauges to the running app (after the store exists). */
    attach(s: MetricsSources): void {
      sources = s;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
