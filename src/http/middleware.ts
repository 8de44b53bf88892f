/**
 * Small middleware factories: each takes one options object and returns a named handler.
 */
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';

import { lazyChild } from '../telemetry/logger.js';
import type { AppEnv } from './context.js';
import { AppError } from './errors.js';
import { safeEqual } from '../lib/signing.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes a sane incoming X-Request-Id or makes one; sets it on the context and the response. */
export function requestContext(opts: { logger: Logger }): MiddlewareHandler<AppEnv> {
  return async function requestContextMiddleware(c, next) {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('logger', lazyChild(opts.logger, { request_id: requestId }));
    c.header('X-Request-Id', requestId);
    await next();
  };
}

/**
 * Bearer auth for operator routes: the admin token may do anything; the read token only
 * GET (docs/http-api.md#operator-api: 401 without a valid token, 403 for a write with the read token)
 * and the POSTs in `readOnlyPosts`, which change nothing (`/admin/replay`): the one exception.
 */
export function adminAuth(opts: { adminToken: string; readToken: string | null; readOnlyPosts?: readonly string[] }): MiddlewareHandler<AppEnv> {
  const readOnlyPosts = new Set(opts.readOnlyPosts ?? []);
  return async function adminAuthMiddleware(c, next) {
    const header = c.req.header('authorization');
    const token = header?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
    if (token === undefined) throw new AppError('unauthorized', 'a bearer token is required');
    const admin = safeEqual(token, opts.adminToken);
    const reader = !admin && opts.readToken !== null && safeEqual(token, opts.readToken);
    if (!admin && !reader) throw new AppError('unauthorized', 'invalid bearer token');
    const reads = c.req.method === 'GET' || c.req.method === 'HEAD' || (c.req.method === 'POST' && readOnlyPosts.has(c.req.path));
    if (reader && !reads) throw new AppError('forbidden', 'the read-only token cannot change anything');
    c.set('role', admin ? 'admin' : 'read');
    await next();
  };
}
