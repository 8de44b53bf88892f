/**
 * `GET /openapi.json`: an OpenAPI 3.1 document generated from the valibot schemas the routes
 * validate with (request bodies, query parameters) and the response schemas the views are typed
 * by (http/schemas.ts). The route table below is the one list of routes; a test walks it against
 * the running app.
 */
import { toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import { nativeSignalSchema } from '../ingest/formats/native.js';
import { flattenBody, modeBody, pageQuery, signalsQuery } from './admin.js';
import { faultsBody, ordersQuery, pricesBody } from './admin-mock.js';
import { orderListQuery } from './admin-orders.js';
import { replayBody } from './admin-replay.js';
import { eventsQuery, streamQuery } from './events.js';
import * as s from './schemas.js';

type Schema = v.GenericSchema;

interface Route {
  method: 'get' | 'post';
  path: string;
  summary: string;
  auth: 'none' | 'read' | 'admin' | 'source';
  query?: Schema;
  body?: Schema;
  responses: Record<number, { description: string; schema?: Schema; contentType?: string }>;
}

const err = (description: string) => ({ description, schema: s.errorResponse });
const AUTH_ERRORS = { 401: err('missing or invalid bearer token') };
const WRITE_ERRORS = { ...AUTH_ERRORS, 403: err('the read-only token cannot write'), 400: err('invalid request body') };
/** Routes that read or write the database. */
const DB_ERRORS = { 503: err('unavailable (Retry-After): the database is down, or busy past its lock or statement timeout') };

export const ROUTES: Route[] = [
  {
    method: 'post',
    path: '/webhooks/{source}',
    summary: 'Deliver a signal (native format shown; tradingview/traderspost sources map their own fields onto it)',
    auth: 'source',
    body: nativeSignalSchema,
    responses: {
      202: { description: 'new signal, durably recorded (or deferred to the spool while the database is down)', schema: s.webhook202Response },
      200: { description: 'finished within Prefer: wait, or a duplicate (Idempotent-Replayed: true)', schema: s.webhook200Response },
      400: err('invalid_signal, missing_idempotency_key, or invalid_request for a malformed Prefer: wait'),
      401: err('unauthorized'),
      403: err('forbidden: client address not allowed'),
      404: err('unknown_source'),
      413: err('payload_too_large'),
      422: err('idempotency_key_reused'),
      429: err('rate_limited (Retry-After)'),
      503: err('unavailable (Retry-After) or shutting_down'),
    },
  },
  { method: 'get', path: '/healthz', summary: 'The process runs', auth: 'none', responses: { 200: { description: 'ok', schema: s.healthResponse } } },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Signals are being accepted',
    auth: 'none',
    responses: { 200: { description: 'ready', schema: s.healthResponse }, 503: { description: 'not accepting signals', schema: s.healthResponse } },
  },
  { method: 'get', path: '/admin/status', summary: 'Runtime status', auth: 'read', responses: { 200: { description: 'status', schema: s.statusResponse }, ...AUTH_ERRORS } },
  { method: 'post', path: '/admin/mode', summary: 'Set the mode', auth: 'admin', body: modeBody, responses: { 200: { description: 'the status after the change', schema: s.statusResponse }, ...WRITE_ERRORS, ...DB_ERRORS } },
  {
    method: 'post',
    path: '/admin/flatten',
    summary: 'Close every position (any mode): cancel the open orders, adopt the positions the connector reports, record the closes',
    auth: 'admin',
    body: flattenBody,
    responses: { 202: { description: 'closing signals recorded', schema: s.flattenResponse }, ...WRITE_ERRORS, ...DB_ERRORS },
  },
  {
    method: 'post',
    path: '/admin/breakers/{connector}/reset',
    summary: "Close a connector's circuit breaker",
    auth: 'admin',
    responses: { 200: { description: 'the breaker', schema: s.breakerResetResponse }, 404: err('no such connector'), ...WRITE_ERRORS, ...DB_ERRORS },
  },
  { method: 'get', path: '/admin/connectors', summary: 'Connectors with capabilities and breaker', auth: 'read', responses: { 200: { description: 'connectors', schema: s.page(s.connectorView) }, ...AUTH_ERRORS, ...DB_ERRORS } },
  {
    method: 'post',
    path: '/admin/connectors/{name}/faults',
    summary: 'Set the faults and fill settings of a mock connector (the built-in one is `mock`)',
    auth: 'admin',
    body: faultsBody,
    responses: { 200: { description: 'the faults in force', schema: s.faultsResponse }, 404: err('no such mock connector'), ...WRITE_ERRORS },
  },
  {
    method: 'post',
    path: '/admin/connectors/{name}/prices',
    summary: "Set a mock connector's last prices (instrument → price); resting orders they cross fill",
    auth: 'admin',
    body: pricesBody,
    responses: { 200: { description: 'the prices stored and the orders they moved, as they are now', schema: s.pricesResponse }, 404: err('no such mock connector'), ...WRITE_ERRORS, ...DB_ERRORS },
  },
  {
    method: 'get',
    path: '/admin/connectors/{name}/orders',
    summary: "A mock connector's orders, newest first (the built-in one is `mock`)",
    auth: 'read',
    query: ordersQuery,
    responses: { 200: { description: 'orders', schema: s.page(s.mockOrderView) }, 404: err('no such mock connector'), ...AUTH_ERRORS, ...DB_ERRORS },
  },
  { method: 'get', path: '/admin/signals', summary: 'Signals, newest first', auth: 'read', query: signalsQuery, responses: { 200: { description: 'a page', schema: s.page(s.signalView) }, 400: err('bad query'), ...AUTH_ERRORS, ...DB_ERRORS } },
  {
    method: 'get',
    path: '/admin/signals/{id}',
    summary: 'A signal with its decision, attempts, result, events and orders',
    auth: 'read',
    responses: { 200: { description: 'the signal', schema: s.signalDetail }, 404: err('no such signal'), ...AUTH_ERRORS, ...DB_ERRORS },
  },
  {
    method: 'post',
    path: '/admin/signals/{id}/retry',
    summary: 'Re-run a failed signal through guardrails and execution',
    auth: 'admin',
    responses: { 202: { description: 'accepted again', schema: s.signalView }, 404: err('no such signal'), 409: err('the signal is not failed'), ...WRITE_ERRORS, ...DB_ERRORS },
  },
  {
    method: 'get',
    path: '/admin/orders',
    summary: 'Orders sluice placed and follows, newest first',
    auth: 'read',
    query: orderListQuery,
    responses: { 200: { description: 'a page', schema: s.ordersResponse }, 400: err('bad query (an invalid cursor included)'), ...AUTH_ERRORS, ...DB_ERRORS },
  },
  { method: 'get', path: '/admin/deliveries', summary: 'Refused deliveries, newest first', auth: 'read', query: pageQuery, responses: { 200: { description: 'a page', schema: s.page(s.deliveryView) }, ...AUTH_ERRORS, ...DB_ERRORS } },
  { method: 'get', path: '/admin/positions', summary: 'Positions, exposure and realized PnL per connector', auth: 'read', responses: { 200: { description: 'positions', schema: s.positionsResponse }, ...AUTH_ERRORS, ...DB_ERRORS } },
  { method: 'get', path: '/admin/events', summary: 'The event log from a sequence number', auth: 'read', query: eventsQuery, responses: { 200: { description: 'events', schema: s.eventsResponse }, ...AUTH_ERRORS, ...DB_ERRORS } },
  {
    method: 'get',
    path: '/admin/events/stream',
    summary: 'The event log as server-sent events (id = seq; Last-Event-ID resumes)',
    auth: 'read',
    query: streamQuery,
    responses: { 200: { description: 'text/event-stream; each message is an event', contentType: 'text/event-stream' }, ...AUTH_ERRORS, 503: err('too_many_streams (Retry-After): server.max_event_streams streams are open') },
  },
  {
    method: 'post',
    path: '/admin/replay',
    summary: 'What the gate would have decided for a window of recorded signals, under the current policy and a candidate; writes nothing (the read-only token may call it)',
    auth: 'read',
    body: replayBody,
    responses: {
      200: { description: 'the report: totals per policy, a row per signal', schema: s.replayResponse },
      400: err('invalid_request (a bad window, unknown keys, a bad policy with the configuration\'s messages) or replay_window_too_large (over 31 days or 10,000 signals)'),
      ...AUTH_ERRORS,
      ...DB_ERRORS,
    },
  },
  { method: 'get', path: '/admin/audit/verify', summary: "Walk the event log's hash chain", auth: 'read', responses: { 200: { description: 'verdict', schema: s.auditResponse }, ...AUTH_ERRORS, ...DB_ERRORS } },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', auth: 'read', responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' }, ...AUTH_ERRORS, ...DB_ERRORS } },
  { method: 'get', path: '/openapi.json', summary: 'This document', auth: 'none', responses: { 200: { description: 'OpenAPI 3.1', contentType: 'application/json' } } },
  // Its assets (`/assets/{version}/{file}`) are left out: their path changes with every build, and the page names them.
  {
    method: 'get',
    path: '/',
    summary: 'The operator dashboard (an HTML page; it needs no token, every call it makes does)',
    auth: 'none',
    responses: { 200: { description: 'the page', contentType: 'text/html' }, 404: err('the dashboard files are not installed') },
  },
];

function jsonSchema(schema: Schema): Record<string, unknown> {
  // typeMode 'input': the document describes what a client sends and reads on the wire.
  const out = toJsonSchema(schema, { target: 'draft-2020-12', errorMode: 'ignore', typeMode: 'input' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

function queryParameters(schema: Schema): Array<Record<string, unknown>> {
  const js = jsonSchema(schema);
  const props = (js.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set((js.required ?? []) as string[]);
  return Object.entries(props).map(([name, prop]) => ({ name, in: 'query', required: required.has(name), schema: prop }));
}

export function buildOpenApi(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const params: Array<Record<string, unknown>> = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (route.query !== undefined) params.push(...queryParameters(route.query));
    if (route.path === '/admin/events/stream') params.push({ name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } });
    if (route.path === '/webhooks/{source}') {
      params.push(
        { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } },
        { name: 'Prefer', in: 'header', required: false, schema: { type: 'string' }, description: 'wait=N (seconds, decimals allowed, larger values capped at 30); a wait without a number is 400 invalid_request' },
      );
    }
    const responses: Record<string, unknown> = {};
    for (const [code, r] of Object.entries(route.responses)) {
      const contentType = r.contentType ?? 'application/json';
      responses[code] = {
        description: r.description,
        content: { [contentType]: r.schema === undefined ? { schema: contentType === 'application/json' ? { type: 'object' } : { type: 'string' } } : { schema: jsonSchema(r.schema) } },
      };
    }
    const security = route.auth === 'none' ? [] : route.auth === 'source' ? [{}, { sourceToken: [] }] : [{ bearer: [] }];
    const operation: Record<string, unknown> = {
      summary: route.summary,
      operationId: `${route.method}${route.path.replace(/[{}]/g, '').replace(/[/.-](\w)/g, (_m: string, ch: string) => ch.toUpperCase())}`,
      security,
      responses,
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(route.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } }),
    };
    paths[route.path] = { ...paths[route.path], [route.method]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'sluice', version, description: 'Always-on webhook runtime: authenticated, durable, guarded signal execution.' },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'SLUICE_ADMIN_TOKEN (any route) or SLUICE_READ_TOKEN (GET, and POST /admin/replay, which writes nothing)' },
        sourceToken: { type: 'http', scheme: 'bearer', description: "a `token` source's secret; other schemes sign the body (see README)" },
      },
    },
    paths,
  };
}
