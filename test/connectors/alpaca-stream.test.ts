/**
 * The alpaca connector's `trade_updates` stream (src/connectors/alpaca-stream.ts) over a real
 * WebSocket on 127.0.0.1, against the fake Alpaca (test/fakes/alpaca-server.ts): the handshake,
 * order updates in binary and text frames, drops and refusals answered by reconnecting with
 * backoff, a missing pong, and a stop that leaves nothing running. No reason and no log line may
 * ever carry a key, and the fake records no message Alpaca would not take.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { expectNoKeys, recorder, recordingLogger, sleep, streamConnector, type Recorder } from '../helpers/alpaca-stream.js';
import { eventually } from '../helpers/server.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function fakeWith(opts: Parameters<typeof startFakeAlpaca>[0] = {}): Promise<FakeAlpaca> {
  const fake = await startFakeAlpaca({ fills: 'never', ...opts });
  cleanup.push(async () => {
    const violations = fake.violations();
    await fake.close();
    expect(violations).toEqual([]);
  });
  return fake;
}

/** POST /v2/orders as another client of the account would; the stream reports it all the same. */
async function placeAtFake(fake: FakeAlpaca, clientOrderId: string, qty = '10'): Promise<void> {
  const res = await fetch(`${fake.url}/v2/orders`, {
    method: 'POST',
    headers: { 'APCA-API-KEY-ID': fake.key_id, 'APCA-API-SECRET-KEY': fake.secret_key, 'content-type': 'application/json' },
    body: JSON.stringify({ symbol: 'AAPL', qty, side: 'buy', type: 'market', time_in_force: 'day', client_order_id: clientOrderId }),
  });
  expect(res.status).toBe(200);
}

describe('the trade_updates stream', () => {
  test('new, partial_fill ×2, fill: each update carries the cumulative quantity and average price', async () => {
    const fake = await fakeWith();
    const rec = recorder();
    const logger = recordingLogger();
    const stop = streamConnector(fake, { logger }).subscribe?.(rec);
    cleanup.push(() => stop?.());
    await rec.connections(1);

    await placeAtFake(fake, 'coid-1');
    await rec.update('coid-1', (o) => o.status === 'new', 'the new update');
    fake.fill('coid-1', 3, 100);
    fake.fill('coid-1', 3, 102);
    fake.fill('coid-1', 4, 105);
    await rec.update('coid-1', (o) => o.status === 'filled', 'the fill update');

    const seen = rec.updates.filter((o) => o.client_order_id === 'coid-1').map((o) => [o.status, o.filled_quantity, o.fill_price]);
    expect(seen).toEqual([
      ['new', 0, null],
      ['partially_filled', 3, 100],
      ['partially_filled', 6, 101],
      ['filled', 10, 102.6],
    ]);
    expect(rec.updates[0]).toMatchObject({ instrument: 'AAPL', side: 'buy', quantity: 10, order_type: 'market' });
    expect(rec.states).toEqual([{ connected: true }]);
    expect(logger.lines.filter((l) => l.level !== 'info')).toEqual([]);
    expectNoKeys(fake, rec, logger);
  });

  test('binary frames (as the paper stream sends them) and text frames (as the live one) both work', async () => {
    const fake = await fakeWith({ stream_frames: 'binary' });
    const rec = recorder();
    const stop = streamConnector(fake).subscribe?.(rec);
    cleanup.push(() => stop?.());
    await rec.connections(1);

    await placeAtFake(fake, 'bin-1');
    await rec.update('bin-1', (o) => o.status === 'new', 'an update in a binary frame');
    fake.setStreamFrames('text');
    await placeAtFake(fake, 'txt-1');
    await rec.update('txt-1', (o) => o.status === 'new', 'an update in a text frame');
  });

  test('the fake sends binary frames by default, and the documented handshake in them', async () => {
    const fake = await fakeWith({ stream_frames: undefined });
    const ws = new WebSocket(`${fake.url.replace('http:', 'ws:')}/stream`);
    cleanup.push(() => ws.terminate());
    const frames: { binary: boolean; text: string }[] = [];
    ws.on('message', (data: RawData, isBinary: boolean) => frames.push({ binary: isBinary, text: Buffer.isBuffer(data) ? data.toString('utf8') : '' }));
    await new Promise<void>((resolve) => ws.on('open', () => resolve()));
    ws.send(JSON.stringify({ action: 'auth', key: fake.key_id, secret: fake.secret_key }));
    ws.send(JSON.stringify({ action: 'listen', data: { streams: ['trade_updates'] } }));
    await eventually(async () => (frames.length >= 2 ? true : undefined), 5_000, 'two answers');
    expect(frames.map((f) => f.binary)).toEqual([true, true]);
    expect(frames.map((f) => JSON.parse(f.text) as unknown)).toEqual([
      { stream: 'authorization', data: { status: 'authorized', action: 'authenticate' } },
      { stream: 'listening', data: { streams: ['trade_updates'] } },
    ]);
  });

  test('dropStream(): connected:false, then a new connection, authenticated again, connected:true; updates flow again', async () => {
    const fake = await fakeWith();
    const rec = recorder();
    const logger = recordingLogger();
    const stop = streamConnector(fake, { logger }).subscribe?.(rec);
    cleanup.push(() => stop?.());
    await rec.connections(1);
    expect(fake.streamStats()).toMatchObject({ connections: 1, authorized: 1, listening: 1 });

    fake.dropStream();
    await rec.connections(2);
    const down = rec.states.find((s) => !s.connected);
    expect(down?.reason).toMatch(/closed by the server \(1006\)/);
    expect(rec.states.map((s) => s.connected)).toEqual([true, false, true]);
    expect(fake.streamStats()).toMatchObject({ connections: 2, authorized: 2, listening: 1 });
    expect(logger.lines.some((l) => l.level === 'warn' && l.obj['connector'] === 'paper' && /dropped/.test(l.msg))).toBe(true);

    await placeAtFake(fake, 'after-drop');
    await rec.update('after-drop', (o) => o.status === 'new', 'an update after the reconnect');
    expectNoKeys(fake, rec, logger);
  });

  test('updates sent while the stream is paused are lost, as in a real drop; later ones arrive', async () => {
    const fake = await fakeWith();
    const rec = recorder();
    const stop = streamConnector(fake).subscribe?.(rec);
    cleanup.push(() => stop?.());
    await rec.connections(1);
    fake.pauseStream(true);
    await placeAtFake(fake, 'lost-1');
    await eventually(async () => (fake.order('lost-1')?.status === 'new' ? true : undefined), 5_000, 'the order routed');
    fake.pauseStream(false);
    fake.fill('lost-1', 10, 100);
    const filled = await rec.update('lost-1', (o) => o.status === 'filled', 'the fill after the pause');
    expect(filled).toMatchObject({ filled_quantity: 10, fill_price: 100 });
    expect(rec.updates.filter((o) => o.client_order_id === 'lost-1').map((o) => o.status)).toEqual(['filled']);
  });

  test('refused connections (503) are retried with growing, capped backoff and never crash; accepted again, it connects', async () => {
    const fake = await fakeWith();
    fake.refuseStream(true, 'connection');
    const rec = recorder();
    const logger = recordingLogger();
    const stop = streamConnector(fake, { logger, random: () => 0.999 }).subscribe?.(rec);
    cleanup.push(() => stop?.());
    // The fake counts an attempt when it arrives, the connector logs its wait once refused: wait for the log.
    const retryWaits = () => logger.lines.filter((l) => l.level === 'warn').map((l) => Number(l.obj['retry_in_ms']));
    await eventually(async () => (retryWaits().length >= 5 ? true : undefined), 10_000, 'five refused attempts');
    expect(rec.states.every((s) => !s.connected && /503/.test(s.reason ?? ''))).toBe(true);
    const waits = retryWaits();
    // Full jitter at its top: 19, 39, 79, 159, then the cap (160) for ever.
    expect(waits.slice(0, 5)).toEqual([19, 39, 79, 159, 159]);

    fake.refuseStream(false);
    await rec.connections(1);
    expectNoKeys(fake, rec, logger);
  });

  test('an unauthorized answer is logged as an error naming the connector and retried with backoff', async () => {
    const fake = await fakeWith();
    fake.refuseStream(true, 'auth');
    const rec = recorder();
    const logger = recordingLogger();
    const stop = streamConnector(fake, { logger }).subscribe?.(rec);
    cleanup.push(() => stop?.());
    await eventually(async () => (rec.states.length >= 2 ? true : undefined), 10_000, 'two refused authentications');
    expect(rec.states.slice(0, 2)).toEqual([
      { connected: false, reason: 'unauthorized (authenticate)' },
      { connected: false, reason: 'unauthorized (authenticate)' },
    ]);
    const errors = logger.lines.filter((l) => l.level === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toMatchObject({ obj: { connector: 'paper' }, msg: expect.stringContaining('alpaca stream paper: unauthorized') });

    fake.refuseStream(false);
    await rec.connections(1);
    expectNoKeys(fake, rec, logger);
  });

  test('a missing pong is a dropped stream: terminated and reconnected', async () => {
    const fake = await fakeWith();
    const rec = recorder();
    const stop = streamConnector(fake, { timing: { ping_interval_ms: 30, pong_timeout_ms: 60 } }).subscribe?.(rec);
    cleanup.push(() => stop?.());
    await rec.connections(1);
    fake.muteStream(true);
    await eventually(async () => rec.states.find((s) => !s.connected), 10_000, 'the missing pong noticed');
    expect(rec.states.find((s) => !s.connected)?.reason).toBe('no pong within 60 ms');
    fake.muteStream(false);
    await rec.connections(2);
  });

  test('a listener that throws does not end the stream', async () => {
    const fake = await fakeWith();
    const rec = recorder();
    const logger = recordingLogger();
    let calls = 0;
    const stop = streamConnector(fake, { logger }).subscribe?.({
      onState: (s) => rec.onState(s),
      onUpdate: (o) => {
        calls += 1;
        if (calls === 1) throw new Error('listener bug');
        rec.onUpdate(o);
      },
    });
    cleanup.push(() => stop?.());
    await rec.connections(1);
    await placeAtFake(fake, 'throw-1');
    await eventually(async () => (calls >= 1 ? true : undefined), 5_000, 'the first update');
    fake.fill('throw-1', 10, 100);
    await rec.update('throw-1', (o) => o.status === 'filled', 'the update after the throw');
    expect(logger.lines.some((l) => l.level === 'error' && /update listener threw/.test(l.msg))).toBe(true);
    expect(rec.states).toEqual([{ connected: true }]);
  });
});

describe('stopping', () => {
  async function noNewConnection(fake: FakeAlpaca, rec: Recorder, reports: number): Promise<void> {
    await eventually(async () => (fake.streamStats().open === 0 ? true : undefined), 5_000, 'the connection closed');
    const connections = fake.streamStats().connections;
    // Several times the backoff cap (160 ms): a reconnect would have happened by now.
    await sleep(800);
    expect(fake.streamStats().connections).toBe(connections);
    expect(rec.states).toHaveLength(reports);
  }

  test('the unsubscribe function closes the connection; nothing reconnects or reports afterwards', async () => {
    const fake = await fakeWith();
    const rec = recorder();
    const stop = streamConnector(fake).subscribe?.(rec);
    await rec.connections(1);
    stop?.();
    await noNewConnection(fake, rec, 1);
  });

  test('close() stops every subscription, also one waiting to retry', async () => {
    const fake = await fakeWith();
    const connector = streamConnector(fake);
    const up = recorder();
    connector.subscribe?.(up);
    await up.connections(1);
    fake.refuseStream(true, 'connection');
    const retrying = recorder();
    connector.subscribe?.(retrying);
    await eventually(async () => (retrying.states.length >= 2 ? true : undefined), 5_000, 'a refused attempt or two');
    await connector.close?.();
    const reports = retrying.states.length;
    await noNewConnection(fake, up, 1);
    expect(retrying.states).toHaveLength(reports);
  });

  test('stopped while the connection is still opening: no crash, no report', async () => {
    const fake = await fakeWith();
    const rec = recorder();
    const stop = streamConnector(fake).subscribe?.(rec);
    stop?.();
    await sleep(800);
    // The upgrade request may have left before the stop; nothing after it.
    expect(fake.streamStats()).toMatchObject({ open: 0 });
    expect(fake.streamStats().connections).toBeLessThanOrEqual(1);
    expect(rec.states).toEqual([]);
  });
});

describe('a server that names the keys', () => {
  test('a close reason or an in-stream error carrying a key reaches no reason and no log line', async () => {
    const key_id = 'PKECHOKEY000000000001';
    const secret_key = 'echoSecret000000000000000000000000000001';
    const http: Server = createServer();
    const wss = new WebSocketServer({ server: http });
    let n = 0;
    wss.on('connection', (ws) => {
      n += 1;
      ws.on('message', () => {
        if (n === 1) ws.close(4001, `bad key ${key_id} / ${secret_key}`);
        else ws.send(JSON.stringify({ action: 'error', data: { error_message: `refused ${secret_key}` } }), () => ws.close());
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
    cleanup.push(async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
    const port = (http.address() as AddressInfo).port;
    const fakeKeys = { url: `http://127.0.0.1:${port}`, key_id, secret_key };
    const rec = recorder();
    const logger = recordingLogger();
    const stop = streamConnector(fakeKeys, { logger }).subscribe?.(rec);
    cleanup.push(() => stop?.());
    await eventually(async () => (rec.states.length >= 2 ? true : undefined), 5_000, 'two failed attempts');
    expect(rec.states[0]?.reason).toBe('closed by the server (4001: bad key [redacted] / [redacted])');
    expect(rec.states[1]?.reason).toBe('stream error: refused [redacted]');
    expectNoKeys(fakeKeys, rec, logger);
  });
});
