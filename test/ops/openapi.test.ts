/**
 * `GET /openapi.json` (docs/http-api.md#openapi): a valid OpenAPI 3.1 document that lists every
 * route docs/http-api.md names and every route of the route table, and whose every path and method
 * exists on the running app. Also the read-only token (docs/http-api.md#operator-api): every
 * documented GET works with it, every documented POST answers 403 `forbidden`.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ROUTES } from '../../src/http/openapi.js';
import { ADMIN_TOKEN, WEBHOOK_SECRET, startTestServer, type TestServer } from '../helpers/server.js';
import { READ_TOKEN, bearer, opsConfig, readJson, sendFinal } from './helpers.js';

/** The operator routes of docs/http-api.md#operator-api plus the webhook route, exactly as the docs spell them. */
const DOCUMENTED_ROUTES = [
  'POST /webhooks/{source}',
  'GET /healthz',
  'GET /readyz',
  'GET /admin/status',
  'POST /admin/mode',
  'POST /admin/flatten',
  'POST /admin/breakers/{connector}/reset',
  'GET /admin/connectors',
  'GET /admin/signals',
  'GET /admin/signals/{id}',
  'GET /admin/orders',
  'POST /admin/signals/{id}/retry',
  'GET /admin/deliveries',
  'GET /admin/positions',
  'GET /admin/events',
  'GET /admin/events/stream',
  'POST /admin/replay',
  'GET /admin/audit/verify',
  'GET /metrics',
  'GET /openapi.json',
  'GET /',
] as const;

type OpenApiDoc = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
};

interface Operation {
  method: 'get' | 'post';
  path: string;
}

/** A plausible valid body for each documented POST, by path template. */
const POST_BODIES: Record<string, unknown> = {
  '/webhooks/{source}': { action: 'buy', instrument: 'WALK', quantity: 1, price: 10 },
  '/admin/mode': { mode: 'enabled', reason: 'openapi walk' },
  '/admin/flatten': { reason: 'openapi walk' },
  '/admin/connectors/{name}/faults': { failure_rate: 0 },
  '/admin/replay': { from: '2020-01-01', to: '2020-01-02' },
};

let s: TestServer;
let doc: OpenApiDoc;
let signalId: string;

function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const method of Object.keys(methods)) {
      if (method !== 'get' && method !== 'post') throw new Error(`${method.toUpperCase()} ${path}: the walk knows only get and post`);
      out.push({ method, path });
    }
  }
  return out;
}

/** A documented path template with real values: a real signal id, `mock` for connector names. */
function concrete(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_m: string, name: string) => {
    switch (name) {
      case 'id':
        return signalId;
      case 'connector':
      case 'name':
        return 'mock';
      case 'source':
        return 'default';
      default:
        throw new Error(`no value for the path parameter {${name}} of ${path}`);
    }
  });
}

/** Calls one documented operation with `token` (the source's own secret for the webhook). */
async function call(op: Operation, token: string): Promise<Response> {
  const url = `${s.url}${concrete(op.path)}`;
  const auth = op.path.startsWith('/webhooks/') ? bearer(WEBHOOK_SECRET) : bearer(token);
  if (op.method === 'get') return fetch(url, { headers: auth });
  const body = POST_BODIES[op.path];
  return fetch(url, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** The body text, except for the event stream: its status and type are read, then it is cancelled. */
async function bodyOf(op: Operation, res: Response): Promise<string> {
  if (op.path === '/admin/events/stream') {
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await res.body?.cancel();
    return '';
  }
  return res.text();
}

beforeAll(async () => {
  s = await startTestServer({ config: opsConfig(), env: { SLUICE_READ_TOKEN: READ_TOKEN } });
  signalId = (await sendFinal(s, { instrument: 'DOC' })).signal_id;
  const res = await fetch(`${s.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as OpenApiDoc;
});
afterAll(async () => {
  await s.close();
});

describe('GET /openapi.json', () => {
  test('is a valid OpenAPI 3.1 document, served without auth', async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.valid, JSON.stringify(result.errors, null, 2)).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  test('documents every route of docs/http-api.md (operator API and POST /webhooks/{source}) and of the route table', () => {
    const documented = new Set(operations().map((op) => `${op.method.toUpperCase()} ${op.path}`));
    for (const route of DOCUMENTED_ROUTES) expect(documented, route).toContain(route);
    for (const route of ROUTES) expect(documented, `${route.method} ${route.path}`).toContain(`${route.method.toUpperCase()} ${route.path}`);
    expect(documented.size).toBe(ROUTES.length);
  });

  test('every documented path and method exists on the running app and never answers 5xx', async () => {
    const walked: string[] = [];
    for (const op of operations()) {
      const res = await call(op, ADMIN_TOKEN);
      const text = await bodyOf(op, res);
      const what = `${op.method.toUpperCase()} ${concrete(op.path)} → ${res.status} ${text.slice(0, 300)}`;
      expect(res.status, what).toBeLessThan(500);
      if (res.status === 404) {
        // A resource-level 404 is an answer of the route; the app's fallback says "no route".
        const body = JSON.parse(text) as { error: { message: string } };
        expect(body.error.message, what).not.toMatch(/^no route/);
      }
      const documented = Object.keys(doc.paths[op.path]?.[op.method]?.responses ?? {});
      expect(documented, what).toContain(String(res.status));
      walked.push(`${op.method} ${op.path}`);
    }
    expect(walked).toHaveLength(ROUTES.length);
    // The fallback really is distinguishable: an undocumented path gets the route-level 404.
    const missing = await fetch(`${s.url}/admin/nowhere`, { headers: bearer() });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/^no route/);
  });
});

describe('the read-only token (SLUICE_READ_TOKEN)', () => {
  test('every documented GET works with it', async () => {
    const gets = operations().filter((op) => op.method === 'get');
    expect(gets.length).toBeGreaterThan(10);
    for (const op of gets) {
      const res = await call(op, READ_TOKEN);
      const text = await bodyOf(op, res);
      expect(res.status, `GET ${concrete(op.path)} → ${res.status} ${text.slice(0, 300)}`).toBe(200);
    }
  });

  test('POST /admin/replay, which writes nothing, works with it', async () => {
    const res = await call({ method: 'post', path: '/admin/replay' }, READ_TOKEN);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { signals: number }).signals).toBe(0);
  });

  test('every other documented POST under /admin answers 403 forbidden with it, and changes nothing', async () => {
    const before = await readJson<{ mode: string; mode_reason: string | null }>(await s.admin('/status'));
    const posts = operations().filter((op) => op.method === 'post' && !op.path.startsWith('/webhooks/') && op.path !== '/admin/replay');
    expect(posts.map((op) => op.path).sort()).toEqual(
      ['/admin/breakers/{connector}/reset', '/admin/connectors/{name}/faults', '/admin/connectors/{name}/prices', '/admin/flatten', '/admin/mode', '/admin/signals/{id}/retry'],
    );
    for (const op of posts) {
      const res = await call(op, READ_TOKEN);
      const text = await res.text();
      expect(res.status, `POST ${concrete(op.path)} → ${text}`).toBe(403);
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('forbidden');
    }
    // A mode change the read token was refused is not applied.
    const refused = await fetch(`${s.url}/admin/mode`, {
      method: 'POST',
      headers: { ...bearer(READ_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'paused', reason: 'read token' }),
    });
    expect(refused.status).toBe(403);
    const after = await readJson<{ mode: string; mode_reason: string | null }>(await s.admin('/status'));
    expect({ mode: after.mode, mode_reason: after.mode_reason }).toEqual({ mode: before.mode, mode_reason: before.mode_reason });
  });
});
