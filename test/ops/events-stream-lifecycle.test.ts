/**
 * The end of an event stream (docs/http-api.md#event-stream `GET /admin/events/stream`, docs/guarantees.md#shutdown): a client
 * that goes away leaves nothing running behind it, and a shutdown ends open streams instead of
 * waiting for them until the deadline. A file of its own: the first check counts the process's
 * active timers, which no other test's streams may disturb.
 */
import { describe, expect, test } from 'vitest';
import { eventually, startTestServer } from '../helpers/server.js';
import { bearer, opsConfig } from './helpers.js';

/** Active (ref'd) timers of this process: the stream's heartbeat is one per waiting stream. */
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

async function openAndReadFirstChunk(url: string): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const res = await fetch(`${url}/admin/events/stream`, { headers: bearer() });
  expect(res.status).toBe(200);
  if (res.body === null) throw new Error('no body');
  const reader = res.body.getReader();
  const first = await reader.read();
  expect(first.done).toBe(false);
  return reader;
}

describe('event stream lifecycle', () => {
  test('a client that disconnects leaves no heartbeat timer behind', async () => {
    const s = await startTestServer({ config: opsConfig() });
    try {
      const baseline = activeTimers();
      for (let i = 0; i < 10; i += 1) {
        const reader = await openAndReadFirstChunk(s.url);
        await reader.cancel();
      }
      await eventually(
        async () => (s.logs.filter((l) => l.includes('"msg":"event stream closed"')).length >= 10 ? true : undefined),
        5_000,
        'the server noticing the 10 disconnects',
      );
      // Bounded poll: the server's cancel already ran (logged above); what is left must go now,
      // not at the next 15 s heartbeat.
      const left = await eventually(async () => (activeTimers() <= baseline ? activeTimers() : undefined), 2_000, 'no timers left by closed streams').catch(
        () => activeTimers(),
      );
      expect(left, 'ref\'d timers still pending after 10 streams were closed by their clients').toBeLessThanOrEqual(baseline);
    } finally {
      await s.close();
    }
  });

  test('a shutdown ends an open stream cleanly instead of holding it until the deadline', async () => {
    // A short deadline so that this check costs at most 3 s when the stream is held.
    const s = await startTestServer({ config: opsConfig({ server: { shutdown_timeout_seconds: 3 } }) });
    const reader = await openAndReadFirstChunk(s.url);
    const closing = s.close();
    let outcome: string;
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) {
          outcome = 'ended';
          break;
        }
      }
    } catch (err) {
      outcome = `connection dropped: ${(err as Error).message}`;
    }
    await closing;
    expect(outcome).toBe('ended');
  });
});
