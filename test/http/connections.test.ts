/**
 * Idle connections cannot take the server offline (docs/configuration.md#server): at most
 * `server.max_connections` are open, a connection over the cap is closed at once while the open
 * ones keep working, a connection that sends no request is closed after
 * `headers_timeout_seconds`, an idle keep-alive connection after `keep_alive_timeout_seconds`,
 * and the event stream, a long response, is not cut by `request_timeout_seconds`.
 */
import { Agent, get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { httpServerLimits } from '../../src/http/server.js';
import { eventually, startTestServer, tempDir, writeConfig } from '../helpers/server.js';
import { bearer, headSeq, nextKey, openStream, opsConfig } from '../ops/helpers.js';

interface RawConnection {
  socket: Socket;
  received: string;
  closed: boolean;
}

/** A TCP connection that sends nothing (unless told to) and records what comes back. */
async function rawConnection(url: string, send?: string): Promise<RawConnection> {
  const { port } = new URL(url);
  const conn: RawConnection = { socket: connect(Number(port), '127.0.0.1'), received: '', closed: false };
  conn.socket.setEncoding('latin1');
  conn.socket.on('data', (chunk: string) => {
    conn.received += chunk;
  });
  conn.socket.on('error', () => undefined);
  conn.socket.on('close', () => {
    conn.closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    conn.socket.once('connect', () => resolve());
    conn.socket.once('error', reject);
  });
  if (send !== undefined) conn.socket.write(send);
  return conn;
}

/** GET /healthz over `agent`; resolves with the status and whether an open connection was reused. */
function healthz(url: string, agent: Agent): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = get(`${url}/healthz`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('server limits from the configuration', () => {
  test.each([
    {
      server: {},
      limits: { maxConnections: 1024, headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 },
    },
    {
      server: { max_connections: 20, headers_timeout_seconds: 1, request_timeout_seconds: 1.5, keep_alive_timeout_seconds: 0.25 },
      limits: { maxConnections: 20, headersTimeout: 1_000, requestTimeout: 1_500, keepAliveTimeout: 250, connectionsCheckingInterval: 500 },
    },
    {
      server: { headers_timeout_seconds: 0.0001, request_timeout_seconds: 0.0001, keep_alive_timeout_seconds: 0.0001 },
      limits: { maxConnections: 1024, headersTimeout: 1, requestTimeout: 1, keepAliveTimeout: 1, connectionsCheckingInterval: 100 },
    },
  ])('$server', ({ server, limits }) => {
    const dir = tempDir();
    const config = loadConfig({}, { configPath: writeConfig(dir, { server }) });
    expect(httpServerLimits(config.server)).toEqual(limits);
  });

  test('a headers timeout over the request timeout is a start error naming the key', () => {
    const dir = tempDir();
    expect(() => loadConfig({}, { configPath: writeConfig(dir, { server: { headers_timeout_seconds: 60, request_timeout_seconds: 30 } }) })).toThrow(
      /server\.headers_timeout_seconds: expected at most request_timeout_seconds, got 60 > 30/,
    );
    expect(() => loadConfig({}, { configPath: writeConfig(dir, { server: { max_connections: 0 } }) })).toThrow(/server\.max_connections: expected a positive integer, got 0/);
  });
});

describe('connections', () => {
  test('max_connections 20: 19 idle sockets and one keep-alive connection fill it; a 21st is closed at once, the keep-alive one still works; closing the idle ones lets new connections in', async () => {
    // Long header timeouts: here only the cap may close the idle sockets.
    const s = await startTestServer({ config: opsConfig({ server: { max_connections: 20, headers_timeout_seconds: 60, request_timeout_seconds: 60, keep_alive_timeout_seconds: 60 } }) });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const idle: RawConnection[] = [];
    try {
      expect(await healthz(s.url, agent)).toEqual({ status: 200, reused: false });
      for (let i = 0; i < 19; i += 1) idle.push(await rawConnection(s.url));
      // Accepted in order after the 20 before it: over the cap, closed without an answer.
      const over = await rawConnection(s.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await eventually(async () => (over.closed ? true : undefined), 10_000, 'the 21st connection closed');
      expect(over.received).toBe('');
      expect(idle.every((c) => !c.closed)).toBe(true);
      // The connection that was already open is served.
      expect(await healthz(s.url, agent)).toEqual({ status: 200, reused: true });
      await eventually(async () => (s.logs.some((l) => l.includes('connections refused: server.max_connections are open')) ? true : undefined), 5_000, 'the drop logged');

      for (const c of idle) c.socket.destroy();
      const fresh = await eventually(async () => {
        const res = await fetch(`${s.url}/healthz`).catch(() => null);
        return res?.status === 200 ? res.status : undefined;
      }, 10_000, 'a new connection served');
      expect(fresh).toBe(200);
    } finally {
      for (const c of idle) c.socket.destroy();
      agent.destroy();
      await s.close();
    }
  });

  test('idle sockets that send nothing are closed after headers_timeout_seconds (408), freeing the cap; an idle keep-alive connection after keep_alive_timeout_seconds', async () => {
    const s = await startTestServer({ config: opsConfig({ server: { max_connections: 20, headers_timeout_seconds: 1, request_timeout_seconds: 2, keep_alive_timeout_seconds: 3 } }) });
    const idle: RawConnection[] = [];
    try {
      for (let i = 0; i < 20; i += 1) idle.push(await rawConnection(s.url));
      await eventually(async () => (idle.every((c) => c.closed) ? true : undefined), 15_000, 'every idle socket closed by the server');
      for (const c of idle) expect(c.received).toMatch(/^HTTP\/1\.1 408 /);
      // The cap is free again without any client closing anything; the answer keeps the
      // connection open for keep_alive_timeout_seconds, after which the server closes it.
      const kept = await rawConnection(s.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await eventually(async () => (kept.received.includes('{"status":"ok"}') ? true : undefined), 5_000, 'the healthz answer');
      expect(kept.received).toMatch(/^HTTP\/1\.1 200 /);
      expect(kept.received.toLowerCase()).toContain('keep-alive: timeout=3');
      await eventually(async () => (kept.closed ? true : undefined), 15_000, 'the idle keep-alive connection closed by the server');
    } finally {
      for (const c of idle) c.socket.destroy();
      await s.close();
    }
  });

  test('an event stream outlives request_timeout_seconds and still receives new events', async () => {
    const s = await startTestServer({ config: opsConfig({ server: { headers_timeout_seconds: 0.5, request_timeout_seconds: 0.5 } }) });
    try {
      const stream = await openStream(s, bearer(), `?after=${await headSeq(s)}`);
      // Several checking intervals past the request timeout, with nothing sent on the stream.
      await sleep(2_500);
      const res = await s.send({ id: nextKey('rt'), action: 'buy', instrument: 'RT', quantity: 1, price: 10 });
      expect(res.status).toBe(202);
      const { signal_id: signalId } = (await res.json()) as { signal_id: string };
      const [first] = await stream.readUntil(1);
      expect(first?.event).toMatchObject({ type: 'signal.accepted', signal_id: signalId });
      await stream.cancel();
    } finally {
      await s.close();
    }
  });
});
