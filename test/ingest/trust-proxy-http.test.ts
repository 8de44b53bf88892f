/**
 * `trust_proxy` behind a real reverse proxy (docs/http-api.md#client-address): a proxy on
 * 127.0.0.1 that appends the address it received from to `X-Forwarded-For`, as nginx's
 * `$proxy_add_x_forwarded_for` does, in front of a real sluice. A client that forges the
 * left-most entry with an allowed address is still refused 403.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

const TOKEN = `token-${randomUUID()}`;
let s: TestServer;
let proxy: Server;
let proxyUrl: string;

/** Forwards every request to sluice, appending the peer address to X-Forwarded-For. */
function startProxy(target: string): Promise<Server> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const peer = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    const prior = req.headers['x-forwarded-for'];
    const forwarded = [...(Array.isArray(prior) ? prior : prior === undefined ? [] : [prior]), peer].join(', ');
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-for': forwarded } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  const auth = { scheme: 'token', secrets: [TOKEN] };
  s = await startTestServer({
    config: {
      sources: {
        // The bypass the fix closes: the fence is 10.0.0.0/8, the client is 127.0.0.1.
        fenced: { auth, allow_ips: ['10.0.0.0/8'], trust_proxy: true },
        local: { auth, allow_ips: ['127.0.0.1'], trust_proxy: 1 },
        twohops: { auth, allow_ips: ['10.0.0.0/8'], trust_proxy: 2 },
      },
    },
  });
  proxy = await startProxy(s.url);
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => proxy.close(resolve));
  await s.close();
});

const send = (source: string, xff?: string): Promise<Response> =>
  fetch(`${proxyUrl}/webhooks/${source}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      ...(xff === undefined ? {} : { 'x-forwarded-for': xff }),
    },
    body: JSON.stringify({ id: `sig-${randomUUID()}`, action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 }),
  });

describe('trust_proxy behind a proxy that appends to X-Forwarded-For', () => {
  test('a forged left-most entry inside allow_ips is refused 403', async () => {
    const res = await send('fenced', '10.1.2.3');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
  });

  test('several forged entries do not help either', async () => {
    expect((await send('fenced', '10.1.2.3, 10.4.5.6')).status).toBe(403);
  });

  test('the address the proxy appended is the one judged: 127.0.0.1 allowed whatever the client wrote', async () => {
    expect((await send('local', '10.1.2.3')).status).toBe(202);
    expect((await send('local')).status).toBe(202);
  });

  test('trust_proxy 2 with one proxy in front: the second entry from the right is client-written, and believed', async () => {
    // Misconfigured on purpose: it shows what N means (and why N must match the proxies).
    expect((await send('twohops', '10.1.2.3')).status).toBe(202);
  });

  test('trust_proxy 2 with fewer entries than proxies: unknown address, refused', async () => {
    expect((await send('twohops')).status).toBe(403);
  });
});
