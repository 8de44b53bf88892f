/**
 * OpenTelemetry traces (docs/configuration.md#tracing): one trace per delivery, exported over
 * OTLP/HTTP by the official SDK, configured by the standard `OTEL_*` variables as the SDK reads
 * them. Off unless an OTLP endpoint is set; then nothing of the SDK is even loaded (dynamic
 * `import()` in `startTracing`), and every hook below is one check of `sdk` that returns null
 * or calls straight through. A span's parent is a live span or a persisted W3C `traceparent`
 * (the delivery's, kept with the signal), so the executor and the tracker continue the trace
 * after the response, later, or after a restart.
 */
import type { Context, Span, SpanContext, TextMapGetter, Tracer } from '@opentelemetry/api';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { Decision } from '../domain/types.js';
import { endpointForLog, tracingProblems, tracingWanted } from './tracing-env.js';

export type SpanAttributes = Record<string, string | number | boolean>;

/** A started span; `end` once. Null everywhere when tracing is off. */
export interface TraceSpan {
  /** 32 hex digits. */
  readonly traceId: string;
  /** This span's context as a W3C traceparent: what children (here, later, or after a restart) are parented to. */
  readonly traceparent: string;
  set(attributes: SpanAttributes): void;
  event(name: string, attributes?: SpanAttributes): void;
  /** Marks the span failed (status ERROR). */
  fail(message: string): void;
  end(attributes?: SpanAttributes): void;
}

/** A parent: a live span, a persisted traceparent, or nothing (no span is made then). */
export type TraceParent = TraceSpan | string | null | undefined;

interface Sdk {
  api: typeof import('@opentelemetry/api');
  semconv: typeof import('@opentelemetry/semantic-conventions');
  tracer: Tracer;
  provider: BasicTracerProvider;
  extract: (carrier: Headers | Record<string, string>) => Context;
}

/** The one variable every hook checks: null while tracing is off. */
let sdk: Sdk | null = null;

/** A W3C traceparent as sluice writes and stores it (version 00); group 1 is the trace id. */
export const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The trace id of a stored traceparent; null for none (tracing was off) or a malformed one. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  return traceparent == null ? null : (TRACEPARENT.exec(traceparent)?.[1] ?? null);
}

/** True once `startTracing` loaded the SDK. */
export function tracingActive(): boolean {
  return sdk !== null;
}

/**
 * At most one log line per `intervalMs` (counting the ones held back): an unreachable collector
 * fails every export, and the log must not drown in it.
 */
export function rateLimited(intervalMs: number, emit: (message: string, suppressed: number) => void, now: () => number = Date.now): (message: string) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (message) => {
    const t = now();
    if (t - last < intervalMs) return void (suppressed += 1);
    last = t;
    emit(message, suppressed);
    suppressed = 0;
  };
}

const EXPORT_WARN_INTERVAL_MS = 60_000;

/**
 * Loads the SDK and starts exporting when the environment asks for it (`tracingWanted`);
 * returns whether tracing is on. An endpoint that is not an http(s) URL is a `ConfigError`. The exporter, the batch processor and the sampler read their
 * `OTEL_*` variables from the process environment themselves.
 */
export async function startTracing(opts: { env: Record<string, string | undefined>; logger: Logger; version: string }): Promise<boolean> {
  if (sdk !== null) return true;
  if (!tracingWanted(opts.env)) return false;
  const problems = tracingProblems(opts.env);
  if (problems.length > 0) throw new ConfigError(problems);
  const [api, core, base, otlp, resources, semconv] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const { logger } = opts;
  // Export failures reach the SDK's global error handler; the SDK's own complaints reach diag.
  const exportFailed = rateLimited(EXPORT_WARN_INTERVAL_MS, (reason, suppressed) => logger.warn({ reason, suppressed }, 'tracing: exporting spans failed; spans are dropped, nothing else waits'));
  const said = rateLimited(EXPORT_WARN_INTERVAL_MS, (reason, suppressed) => logger.warn({ reason, suppressed }, 'tracing: the OpenTelemetry SDK warns'));
  core.setGlobalErrorHandler((err) => exportFailed(err instanceof Error ? err.message : String(err)));
  const quiet = () => undefined;
  api.diag.setLogger({ error: said, warn: said, info: quiet, debug: quiet, verbose: quiet }, api.DiagLogLevel.WARN);

  // sluice's name and version, which OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: 'sluice', [semconv.ATTR_SERVICE_VERSION]: opts.version }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new base.BasicTracerProvider({ resource, spanProcessors: [new base.BatchSpanProcessor(new otlp.OTLPTraceExporter())] });
  const propagator = new core.W3CTraceContextPropagator();
  const getter: TextMapGetter<Headers | Record<string, string>> = {
    get: (carrier, key) => (carrier instanceof Headers ? (carrier.get(key) ?? undefined) : carrier[key]),
    keys: (carrier) => (carrier instanceof Headers ? [...carrier.keys()] : Object.keys(carrier)),
  };
  sdk = {
    api,
    semconv,
    provider,
    tracer: provider.getTracer('sluice', opts.version),
    extract: (carrier) => propagator.extract(api.ROOT_CONTEXT, carrier, getter),
  };
  logger.info({ endpoint: endpointForLog(opts.env), service_name: resource.attributes[semconv.ATTR_SERVICE_NAME] }, 'tracing on: spans exported over OTLP/HTTP');
  return true;
}

/** Flushes pending spans and stops, waiting at most `timeoutMs` (a collector that hangs cannot hold the exit). */
export async function stopTracing(timeoutMs: number): Promise<void> {
  const current = sdk;
  if (current === null) return;
  sdk = null;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  await Promise.race([current.provider.shutdown().catch(() => undefined), timeout]);
  clearTimeout(timer);
}

/**
 * The root span of a delivery, `POST /webhooks/{source}`: continues the sender's `traceparent`
 * (and `tracestate`) when it sent one, else starts a trace. `end` it with the status code.
 */
export function startDeliverySpan(request: Request, route: string, attributes: SpanAttributes): TraceSpan | null {
  const s = sdk;
  if (s === null) return null;
  const { semconv: c } = s;
  const parent = s.extract(request.headers);
  const url = new URL(request.url);
  const agent = request.headers.get('user-agent');
  const span = s.tracer.startSpan(
    `${request.method} ${route}`,
    {
      kind: s.api.SpanKind.SERVER,
      attributes: {
        [c.ATTR_HTTP_REQUEST_METHOD]: request.method,
        [c.ATTR_HTTP_ROUTE]: route,
        [c.ATTR_URL_PATH]: url.pathname,
        [c.ATTR_URL_SCHEME]: url.protocol.replace(/:$/, ''),
        [c.ATTR_SERVER_ADDRESS]: url.hostname,
        ...(url.port === '' ? {} : { [c.ATTR_SERVER_PORT]: Number(url.port) }),
        ...(agent === null ? {} : { [c.ATTR_USER_AGENT_ORIGINAL]: agent }),
        ...attributes,
      },
    },
    parent,
  );
  return new SpanHandle(s, span, s.api.trace.setSpan(parent, span));
}

/** Ends a delivery span with its answer: the status code, ERROR for a 5xx (the server's fault). */
export function endDeliverySpan(span: TraceSpan, status: number, error: unknown): void {
  const s = sdk;
  if (s === null) return;
  if (status >= 500) span.fail(error instanceof Error ? error.message : `status ${status}`);
  span.end({ [s.semconv.ATTR_HTTP_RESPONSE_STATUS_CODE]: status, ...(status >= 500 ? { [s.semconv.ATTR_ERROR_TYPE]: String(status) } : {}) });
}

/** A child of `parent` (a live span or a stored traceparent); null when tracing is off or there is no parent. */
export function startSpan(name: string, parent: TraceParent, attributes?: SpanAttributes): TraceSpan | null {
  const s = sdk;
  if (s === null || parent == null) return null;
  const context = parent instanceof SpanHandle ? parent.context : typeof parent === 'string' ? remoteContext(s, parent) : null;
  if (context === null) return null;
  const span = s.tracer.startSpan(name, { kind: s.api.SpanKind.INTERNAL, ...(attributes === undefined ? {} : { attributes }) }, context);
  return new SpanHandle(s, span, s.api.trace.setSpan(context, span));
}

/**
 * The root span of a new trace LINKED to a stored traceparent: for what happens long after the
 * delivery's trace ended (a fill the tracker books). Null when off or there is nothing to link.
 */
export function startLinkedSpan(name: string, link: string | null, attributes: SpanAttributes, startTime?: Date): TraceSpan | null {
  const s = sdk;
  if (s === null || link === null) return null;
  const linked = spanContextOf(s, remoteContext(s, link));
  if (linked === undefined) return null;
  const span = s.tracer.startSpan(name, { root: true, links: [{ context: linked }], attributes, ...(startTime === undefined ? {} : { startTime }) }, s.api.ROOT_CONTEXT);
  return new SpanHandle(s, span, s.api.trace.setSpan(s.api.ROOT_CONTEXT, span));
}

/**
 * Records something booked long after the delivery (a fill) as a new trace linked to the
 * traceparent `link` finds; `link` is called only while tracing is on, and nothing waits for it.
 */
export function traceLinked(name: string, link: () => Promise<string | null>, attributes: SpanAttributes): void {
  if (sdk === null) return;
  const startTime = new Date();
  link().then(
    (traceparent) => startLinkedSpan(name, traceparent, attributes, startTime)?.end(),
    () => undefined,
  );
}

/**
 * Runs `fn` inside a child span of `parent`, ending it with `attributesOf(result)` (or failed,
 * when it throws). Off (or no parent): calls `fn` and returns what it returns, nothing else.
 */
export function traced<T>(name: string, parent: TraceParent, fn: () => T | Promise<T>, attributesOf?: (result: T) => SpanAttributes): T | Promise<T> {
  if (sdk === null || parent == null) return fn();
  const span = startSpan(name, parent);
  if (span === null) return fn();
  return (async () => {
    try {
      const result = await fn();
      span.end(attributesOf?.(result));
      return result;
    } catch (err) {
      span.fail(err instanceof Error ? err.message : String(err));
      span.end();
      throw err;
    }
  })();
}

/** What the gate decided, as attributes of its span. */
export function gateAttributes(outcome: string, decision: Decision | null): SpanAttributes {
  const attributes: SpanAttributes = { 'sluice.gate.outcome': outcome };
  if (decision === null) return attributes;
  attributes['sluice.decision.allowed'] = decision.allowed;
  attributes['sluice.decision.exit'] = decision.exit;
  if (decision.side !== null) attributes['sluice.decision.side'] = decision.side;
  if (decision.quantity !== null) attributes['sluice.decision.quantity'] = decision.quantity;
  if (decision.failures.length > 0) attributes['sluice.decision.rules'] = decision.failures.map((f) => f.rule).join(',');
  return attributes;
}

function remoteContext(s: Sdk, traceparent: string): Context | null {
  const context = s.extract({ traceparent });
  return spanContextOf(s, context) === undefined ? null : context;
}

function spanContextOf(s: Sdk, context: Context | null): SpanContext | undefined {
  return context === null ? undefined : s.api.trace.getSpanContext(context);
}

class SpanHandle implements TraceSpan {
  constructor(
    private readonly s: Sdk,
    private readonly span: Span,
    /** The context children of this span are started in. */
    readonly context: Context,
  ) {}

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  get traceparent(): string {
    const { traceId, spanId, traceFlags } = this.span.spanContext();
    return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  }

  set(attributes: SpanAttributes): void {
    this.span.setAttributes(attributes);
  }

  event(name: string, attributes?: SpanAttributes): void {
    this.span.addEvent(name, attributes);
  }

  fail(message: string): void {
    this.span.setStatus({ code: this.s.api.SpanStatusCode.ERROR, message });
  }

  end(attributes?: SpanAttributes): void {
    if (attributes !== undefined) this.span.setAttributes(attributes);
    this.span.end();
  }
}
