/** `POST /webhooks/{source}` (docs/http-api.md#webhook-ingest): read the body once, hand it to ingestDelivery, map the result. */
import { Hono } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Deps } from '../deps.js';
import { endDeliverySpan, startDeliverySpan, tracingActive } from '../telemetry/tracing.js';
import { ingestDelivery, REFUSED_DELIVERIES_KEPT, type IngestDeps, type IngestResult } from '../ingest/ingest.js';
import { readBodyLimited } from './body.js';
import type { AppEnv } from './context.js';
import { AppError, errorResponse, refusalError } from './errors.js';
import { signalView } from './views.js';

const MAX_WAIT_SECONDS = 30;

export type PreferWait = { ok: true; ms: number | null } | { ok: false; message: string };

/**
 * The `wait` preference of a `Prefer` header (RFC 7240): `wait=N`, N seconds (decimals allowed),
 * capped at 30; `ms: null` when the header names no `wait`. Other preferences are ignored; a
 * `wait` without a number is refused rather than ignored, so the sender learns it never waited.
 */
export function parsePreferWait(header: string | undefined): PreferWait {
  if (header === undefined) return { ok: true, ms: null };
  for (const preference of header.split(',')) {
    const [token = ''] = preference.split(';');
    const eq = token.indexOf('=');
    const name = (eq < 0 ? token : token.slice(0, eq)).trim().toLowerCase();
    if (name !== 'wait') continue;
    const value = eq < 0 ? '' : token.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (!/^\d+(\.\d+)?$/.test(value)) {
      return { ok: false, message: `Prefer: expected wait=N with N seconds from 0 to ${MAX_WAIT_SECONDS} (e.g. "Prefer: wait=5"), got ${JSON.stringify(token.trim().slice(0, 40))}` };
    }
    return { ok: true, ms: Math.min(Number(value), MAX_WAIT_SECONDS) * 1000 };
  }
  return { ok: true, ms: null };
}

export function webhookRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { metrics } = deps;
  const ingestDeps: IngestDeps = {
    store: deps.store,
    sources: deps.sources,
    logger: deps.logger,
    now: deps.now,
    submit: deps.submitAccepted,
    waitForFinal: (id, ms) => deps.executor.waitForFinal(id, ms),
    spool: deps.spool,
    database: { failed: (err) => deps.database.failed(err) },
    recordRefusal: (source, requestId, code, reason, issues, excerpt) => {
      deps.store
        .recordRefusedDelivery({ at: deps.now().toISOString(), source, code, reason, issues, request_id: requestId, body_excerpt: excerpt }, REFUSED_DELIVERIES_KEPT)
        .catch((err: unknown) => deps.logger.error({ err, request_id: requestId }, 'could not record a refused delivery'));
    },
  };

  // Tracing off: no middleware at all (docs/configuration.md#tracing).
  if (tracingActive()) {
    app.use('/:source', async (c, next) => {
      const span = c.req.method === 'POST' ? startDeliverySpan(c.req.raw, '/webhooks/{source}', { 'sluice.source': c.req.param('source'), 'sluice.request_id': c.get('requestId') }) : null;
      if (span === null) return next();
      c.set('trace', span);
      try {
        await next();
      } catch (err) {
        endDeliverySpan(span, 500, err);
        throw err;
      }
      // A handler's throw was answered by onError already (c.error): its status is the answer's.
      endDeliverySpan(span, c.res.status, c.error);
    });
  }

  app.post('/:source', async (c) => {
    const started = performance.now();
    const sourceName = c.req.param('source');
    const label = deps.sources.has(sourceName) ? sourceName : '(unknown)';
    const observe = (outcome: string, unknownFields = 0, signalId?: string) => {
      c.get('trace')?.set({ 'sluice.outcome': outcome, ...(signalId === undefined ? {} : { 'sluice.signal_id': signalId }) });
      metrics.deliveries.inc({ source: label, outcome });
      metrics.ingestSeconds.observe({ outcome }, (performance.now() - started) / 1000);
      if (unknownFields > 0) metrics.unknownFields.inc({ source: label }, unknownFields);
    };
    if (deps.lifecycle.shuttingDown) {
      observe('shutting_down');
      return errorResponse(c, new AppError('shutting_down', 'sluice is shutting down; retry against another instance or later'));
    }
    const wait = parsePreferWait(c.req.header('prefer'));
    if (!wait.ok) {
      observe('invalid_request');
      return errorResponse(c, new AppError('invalid_request', wait.message, { issues: [{ path: 'Prefer', message: wait.message }] }));
    }
    let remoteAddress = '';
    try {
      remoteAddress = getConnInfo(c).remote.address ?? '';
    } catch {
      // Not behind @hono/node-server (app.request in tests): no socket address.
    }
    let result: IngestResult;
    try {
      result = await ingestDelivery(ingestDeps, {
        source: sourceName,
        headers: c.req.raw.headers,
        readBody: () => readBodyLimited(c.req.raw, deps.config.server.body_limit_bytes),
        remoteAddress,
        requestId: c.get('requestId'),
        trace: c.get('trace'),
        waitMs: wait.ms ?? deps.config.execution.wait_ms,
      });
    } catch (err) {
      // A throw is a bug (refusals are values): app.onError answers it.
      observe('internal');
      throw err;
    }
    switch (result.kind) {
      case 'accepted':
        observe('accepted', result.unknown_fields, result.record.signal_id);
        return c.json({ signal_id: result.record.signal_id, status: 'accepted', idempotency_key: result.record.idempotency_key }, 202);
      case 'final':
        observe('accepted', result.unknown_fields, result.record.signal_id);
        return c.json({ signal_id: result.record.signal_id, status: result.record.status, decision: signalView(result.record).decision, result: result.record.result }, 200);
      case 'duplicate':
        observe('duplicate', 0, result.record.signal_id);
        c.header('Idempotent-Replayed', 'true');
        return c.json({ signal_id: result.record.signal_id, status: 'duplicate', original_status: result.record.status }, 200);
      case 'deferred':
        observe('deferred');
        return c.json({ status: 'deferred', delivery_id: result.delivery_id }, 202);
      case 'aborted':
        // Nobody is left to read the answer; the outcome counts it apart from refusals and faults.
        observe('aborted');
        return errorResponse(c, new AppError('invalid_request', 'the client closed the connection before the body was read'));
      case 'refused':
        observe(result.code);
        return errorResponse(c, refusalError(result));
    }
  });
  return app;
}
