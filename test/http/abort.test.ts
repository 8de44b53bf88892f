/**
 * A client that hangs up mid-upload (docs/http-api.md#webhook-responses) is a client event: real
 * sockets send the headers and half of the declared body (or an unfinished chunked body) and
 * destroy themselves. sluice logs it at info, counts it as outcome `aborted`, never as an
 * error: no error line, no `internal` outcome, nothing in `recent_errors`, and the server keeps
 * answering.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ADMIN_TOKEN, eventually, startTestServer, WEBHOOK_SECRET, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

/** Sends the headers and part of a body over a raw socket, then destroys it. */
function abortMidUpload(chunked: boolean): Promise<void> {
  const { port } = new URL(s.url);
  const body = JSON.stringify({ action: 'buy', instrument: 'AAPL', quantity: 1, price: 100, pad: 'x'.repeat(2000) });
  const half = body.slice(0, body.length / 2);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${Buffer.byteLength(body)}`;
      socket.write(
        `POST /webhooks/default HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${WEBHOOK_SECRET}\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`,
      );
      socket.write(chunked ? `${Buffer.byteLength(half).toString(16)}\r\n${half}\r\n` : half, () => {
        // Give the server the time to start reading the body, then hang up.
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 30);
      });
    });
    socket.on('error', reject);
  });
}

const logLines = (): Record<string, unknown>[] =>
  s.logs.flatMap((chunk) => chunk.split('\n')).filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

async function metric(outcome: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('sluice_deliveries_total{') && l.includes(`outcome="${outcome}"`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

test('100 uploads cut off half way: info lines and outcome aborted, never an error', { timeout: 60_000 }, async () => {
  const N = 100;
  for (let i = 0; i < N; i += 1) await abortMidUpload(i % 2 === 1);
  await eventually(async () => ((await metric('aborted')) >= N ? true : undefined), 10_000, 'every abort counted');
  expect(await metric('aborted')).toBe(N);
  expect(await metric('internal')).toBe(0);

  const lines = logLines();
  expect(lines.filter((l) => typeof l.level === 'number' && l.level >= 50)).toEqual([]);
  const aborted = lines.filter((l) => l.msg === 'client hung up before the body was read');
  expect(aborted).toHaveLength(N);
  expect(aborted.every((l) => l.level === 30 && l.err === undefined && l.stack === undefined)).toBe(true);

  const status = (await (await s.admin('/status')).json()) as { recent_errors: unknown[] };
  expect(status.recent_errors).toEqual([]);

  // The server is unharmed.
  expect((await s.send({ action: 'buy', instrument: 'AAPL', quantity: 1, price: 100 })).status).toBe(202);
});
