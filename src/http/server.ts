/**
 * The HTTP server: sluice's app on Node's server with the limits of `server.*`
 * (docs/configuration.md#server), listening.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config/schema.js';

/**
 * The HTTP server's limits from `server.*` (docs/configuration.md#server), in Node's units. The
 * checking interval is how often Node looks for connections past their headers or request
 * timeout (its default of 30 s would let an idle connection live 40 s on a 10 s timeout). The
 * request timeout covers receiving the request only: a long response (the event stream) is not cut.
 */
export function httpServerLimits(server: ServerConfig): {
  maxConnections: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  // Whole milliseconds, at least 1: Node reads 0 as "no timeout".
  const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000));
  const headersTimeout = ms(server.headers_timeout_seconds);
  return {
    maxConnections: server.max_connections,
    headersTimeout,
    requestTimeout: ms(server.request_timeout_seconds),
    keepAliveTimeout: ms(server.keep_alive_timeout_seconds),
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 2))),
  };
}

/** Listens on `server.host:port` (0: any free port); answers the server, its port and the URL it is reachable at. */
export async function listen(fetch: (request: Request) => Response | Promise<Response>, config: ServerConfig, logger: Logger): Promise<{ server: Server; port: number; url: string }> {
  const limits = httpServerLimits(config);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve(
      {
        fetch,
        hostname: config.host,
        port: config.port,
        serverOptions: {
          headersTimeout: limits.headersTimeout,
          requestTimeout: limits.requestTimeout,
          keepAliveTimeout: limits.keepAliveTimeout,
          connectionsCheckingInterval: limits.connectionsCheckingInterval,
        },
      },
      () => resolve(s as Server),
    ) as Server;
    s.once('error', reject);
  });
  server.maxConnections = limits.maxConnections;
  server.keepAliveTimeout = limits.keepAliveTimeout;
  // Over max_connections Node closes each new connection at once; say so, at most once a minute.
  let lastDropWarning = 0;
  server.on('drop', () => {
    if (Date.now() - lastDropWarning < 60_000) return;
    lastDropWarning = Date.now();
    logger.warn({ max_connections: limits.maxConnections }, 'connections refused: server.max_connections are open');
  });
  const port = (server.address() as AddressInfo).port;
  return { server, port, url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}` };
}
