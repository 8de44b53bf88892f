/**
 * The composition root: the only place that reads the environment, opens the database,
 * migrates, builds every dependency once, listens, and handles SIGTERM/SIGINT.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { listen } from './http/server.js';
import { ConfigError, loadConfig, type Config, type Env } from './config/load.js';
import type { AuthConfig } from './config/schema.js';
import { createConnectors } from './connectors/registry.js';
import type { Deps, Lifecycle } from './deps.js';
import { Executor } from './execution/executor.js';
import { createVerifier } from './ingest/auth/index.js';
import type { NonceStore, Verifier } from './ingest/auth/verifier.js';
import { clientAddress, createIpAllowlist } from './ingest/client-ip.js';
import { REFUSED_DELIVERIES_KEPT, type IngestSource } from './ingest/ingest.js';
import { createRateLimiter } from './ingest/rate-limit.js';
import { createLogger, flushLogs } from './telemetry/logger.js';
import { startTracing, stopTracing } from './telemetry/tracing.js';
import { postAlert, startAlerts } from './ops/alerts.js';
import { startRetention } from './ops/retention.js';
import { createSinks } from './ops/sinks.js';
import { Spool } from './ingest/spool.js';
import { DatabaseHealth } from './ops/database-health.js';
import { DegradedState } from './ops/degraded.js';
import { createMetrics } from './telemetry/metrics.js';
import { checkConnectors, startReconciler } from './ops/reconciler.js';
import { startStreamWatch } from './ops/streams.js';
import { RecentErrors } from './telemetry/recent-errors.js';
import { openStoreForServing } from './store/open.js';
import { guardPostgresDriverDefect } from './store/postgres/driver-guard.js';
import { isPackaged, packagedManifest } from './lib/embedded.js';
import type { SignalRecord, Store } from './store/store.js';

/** package.json's version; the single executable carries it in its manifest (lib/embedded.ts). */
export const VERSION = isPackaged() ? packagedManifest().version : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A secret that could never verify stops the start, naming the source (never the secret). */
function sourceVerifier(name: string, auth: AuthConfig, nonces: NonceStore): Verifier {
  try {
    return createVerifier(auth, { nonces });
  } catch (err) {
    throw new ConfigError([`sources.${name}.${(err as Error).message}`]);
  }
}

/** How long the shutdown waits for pending spans to reach the collector. */
const TRACES_FLUSH_MS = 2_000;

export interface Running {
  deps: Deps;
  url: string;
  port: number;
  /** Stops intake, finishes in-flight work within the deadline, closes the database. */
  shutdown: (reason: string) => Promise<void>;
}

export async function startSluice(opts: { env: Env; configPath?: string; logger?: Logger }): Promise<Running> {
  const config: Config = loadConfig(opts.env, { configPath: opts.configPath });
  const logger = opts.logger ?? createLogger(config.log_level);
  const now = () => new Date();
  const lifecycle: Lifecycle = { shuttingDown: false, shutdown: new AbortController(), startedAt: now() };

  if (config.generated.admin_token !== undefined) {
    logger.warn({ generated_admin_token: config.generated.admin_token }, 'SLUICE_ADMIN_TOKEN is not set: generated an admin token for this run (set it to keep one)');
  }
  if (config.generated.webhook_secret !== undefined) {
    logger.warn({ generated_webhook_secret: config.generated.webhook_secret }, 'SLUICE_WEBHOOK_SECRET is not set: generated the default source token for this run');
  }

  if (opts.configPath !== undefined || opts.env.SLUICE_CONFIG !== undefined) {
    if (Object.keys(config.sources).length === 0) {
      logger.warn(
        { config: opts.configPath ?? opts.env.SLUICE_CONFIG },
        'the config file defines no sources: every POST /webhooks/… will answer 404 unknown_source (add a sources: section, docs/configuration.md#sources)',
      );
    }
  }
  // Before the app is built: the webhook routes add their span middleware only when tracing is on.
  await startTracing({ env: opts.env, logger, version: VERSION });
  const store = await openStoreForServing(config.database.url, { logger, connectTimeoutMs: config.database.connect_timeout_seconds * 1000, clock: now });
  try {
    return await startOnStore(config, store, logger, now, lifecycle);
  } catch (err) {
    // A start that fails after the database opened (a connector's setup, the port) closes it.
    await store.close().catch(() => undefined);
    await stopTracing(TRACES_FLUSH_MS);
    throw err;
  }
}

async function startOnStore(config: Config, store: Store, logger: Logger, now: () => Date, lifecycle: Lifecycle): Promise<Running> {
  const unguard = store.dialect === 'postgres' ? guardPostgresDriverDefect(logger) : () => undefined;
  await store.initMode(config.policy.initial_mode, now());
  const recentErrors = new RecentErrors();
  const metrics = createMetrics();
  const alertsTo = config.alerts.webhook_url === null ? null : { webhookUrl: config.alerts.webhook_url, timeoutMs: config.alerts.timeout_ms };
  const degraded = new DegradedState({
    logger,
    now,
    record: (type, data, at) => store.appendEvent({ type, data }, at),
    // Sent at once while the log cannot take the event; the log's alert sender skips it later.
    ...(alertsTo === null
      ? {}
      : {
          alert: async (e) => {
            const res = await postAlert(alertsTo, { ...e, at: e.at.toISOString(), seq: null });
            if (!res.ok) logger.warn({ type: e.type, reason: res.reason }, 'alert of an event the log cannot take yet failed; the log sends it once it has it');
            return res.ok;
          },
        }),
  });
  const connectors = await createConnectors(config.connectors, { store, logger, now, tradingDayTz: config.policy.trading_day_tz }, { testMode: config.test_mode });
  if (config.test_mode) logger.warn({ connectors: [...connectors.keys()] }, 'SLUICE_TEST_MODE=1: every connector is a mock of the same name; nothing reaches a broker');
  for (const c of Object.values(config.connectors)) {
    if (c.type === 'alpaca' && c.live && !config.test_mode) logger.warn({ base_url: c.base_url }, 'ALPACA LIVE TRADING IS ON: orders go to a real-money account');
  }

  const sources = new Map<string, IngestSource>();
  for (const [name, source] of Object.entries(config.sources)) {
    if (source.auth.scheme === 'none') logger.warn({ source: name }, 'source has auth scheme "none": anyone who can reach it can send signals');
    sources.set(name, {
      name,
      config: source,
      connector: source.connector,
      verifier: sourceVerifier(name, source.auth, { seen: (src, nonce, at) => store.nonceSeen(src, nonce, at) }),
      allowIp: createIpAllowlist(source.allow_ips),
      clientAddress: (remote, headers) => clientAddress(remote, headers, source.trust_proxy),
      rateLimiter: source.rate_limit_per_minute === null ? null : createRateLimiter(source.rate_limit_per_minute),
    });
  }

  const executor = new Executor({
    store,
    connectors,
    policy: config.policy,
    execution: config.execution,
    logger,
    now,
    metrics,
    onStoreFailure: (err) => database.failed(err),
    owner: config.instance_id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    singleInstance: store.dialect === 'sqlite',
    onError: (component, message, signalId) => recentErrors.add({ at: now().toISOString(), component, message, signal_id: signalId }),
  });

  const submitAccepted = (record: SignalRecord): void => {
    metrics.signals.inc({ status: 'accepted' });
    executor.submit(record);
  };

  const spool = config.degraded.on_database_down === 'spool' ? new Spool({ dir: config.degraded.spool_dir, maxBytes: config.degraded.spool_max_bytes, logger, now }) : null;
  spool?.open();
  /**
   * Spooled deliveries go into the database through the normal path, then to the executor. One
   * replay at a time (the start-up one and a recovery one must not both read a segment); a call
   * while one runs makes it go round once more, so nothing appended meanwhile is left behind.
   */
  let replaying: Promise<void> | null = null;
  let again = false;
  const replaySpool = (): Promise<void> => {
    if (replaying !== null) {
      again = true;
      return replaying;
    }
    replaying = (async () => {
      try {
        do {
          again = false;
          await replaySpoolOnce();
        } while (again);
      } finally {
        replaying = null;
      }
    })();
    return replaying;
  };
  const replaySpoolOnce = async () => {
    if (spool === null || spool.pending === 0) return;
    const counts = await spool.replay({
      record: (input) => store.recordSignal(input),
      accepted: submitAccepted,
      refused: (delivery) => store.recordRefusedDelivery(delivery, REFUSED_DELIVERIES_KEPT),
    });
    logger.info(counts, 'spool replayed into the database');
  };
  const database = new DatabaseHealth({ store, degraded, logger, now, onRecovered: replaySpool });
  // While the spool holds deliveries, new ones queue behind them in it (ingest.ts); with the
  // database up, they go in now rather than at the next recovery.
  spool?.onAppended(() => {
    if (!database.down) replaySpool().catch((err: unknown) => database.failed(err));
  });
  const deps: Deps = { config, logger, store, connectors, sources, executor, submitAccepted, recentErrors, degraded, metrics, spool, database, lifecycle, now, version: VERSION };
  const sinks = await createSinks(config.sinks, { store, logger, degraded, now });
  metrics.attach({ store, now, connectors: () => [...connectors.keys()], degraded: () => degraded.list(), spoolPending: () => spool?.pending ?? 0, sinks: sinks.list });
  const app = createApp(deps);
  const { server, port, url } = await listen(app.fetch, config.server, logger);

  // Intake is open; execution starts after executing signals were recovered (docs/execution.md#recovery-after-a-crash).
  const reconcilerDeps = { store, connectors, logger, now, degraded, recentErrors };
  try {
    await executor.start(() => checkConnectors(reconcilerDeps));
  } catch (err) {
    // A start that cannot recover stops serving too: no half-alive process.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    spool?.close();
    throw err;
  }
  const reconciler = startReconciler(reconcilerDeps, config.execution.reconcile_interval_seconds);
  const streamWatch = startStreamWatch({ streams: () => executor.tracker.streamStatus(), degraded, now, pollSeconds: config.execution.order_poll_seconds });
  database.start();
  const retention = startRetention({ store, logger, now }, config.retention.signals_days);
  // What a previous run spooled and never replayed goes in now.
  await replaySpool().catch((err: unknown) => database.failed(err));
  const alerts =
    config.alerts.webhook_url === null
      ? null
      : startAlerts({ store, logger, webhookUrl: config.alerts.webhook_url, backoff: config.alerts.backoff, timeoutMs: config.alerts.timeout_ms });
  sinks.start();
  logger.info({ url, version: VERSION, database: store.dialect, test_mode: config.test_mode, sources: [...sources.keys()] }, 'sluice ready');

  let stopping: Promise<void> | null = null;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      const deadline = Date.now() + config.server.shutdown_timeout_seconds * 1000;
      lifecycle.shuttingDown = true;
      lifecycle.shutdown.abort();
      reconciler.stop();
      streamWatch.stop();
      database.stop();
      retention.stop();
      const alertsStopped = alerts?.stop();
      const sinksStopped = sinks.stop();
      logger.info({ reason }, 'shutting down: intake stopped');
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const finished = await executor.stop(Math.max(0, deadline - Date.now()));
      if (!finished) logger.warn('in-flight signals did not finish before the deadline; they are recovered at the next start');
      await Promise.race([httpClosed, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())))]);
      server.closeAllConnections();
      await Promise.race([Promise.all([alertsStopped, sinksStopped]), new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())))]);
      for (const connector of connectors.values()) await connector.close?.();
      spool?.close();
      await store.close();
      unguard();
      // The spans of what just finished go out; a collector that hangs cannot hold the exit.
      await stopTracing(TRACES_FLUSH_MS);
      logger.info('stopped');
      // Bounded: stdout may be a closed pipe, and exiting must not wait on it.
      await flushLogs(logger, 2_000);
    })();
    return stopping;
  };
  return { deps, url, port, shutdown };
}
