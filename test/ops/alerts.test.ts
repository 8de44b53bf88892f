/**
 * Alerts (docs/configuration.md#alerts, docs/guarantees.md#event-log): a Slack-compatible `{text}` POST per mode change and breaker
 * transition, fed from the event log at least once with a stored consumer offset. Retried with
 * `alerts.backoff` until the receiver confirms (2xx); a confirmed alert is never sent again after
 * a restart; history before the first start is not news; a receiver that is down never holds up
 * signals.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { eventsAfter, opsConfig, readJson, sendFinal } from './helpers.js';

interface Post {
  status: number;
  body: unknown;
  /** The event's seq, from the `[sluice #seq …]` prefix of the text. */
  seq: number | null;
}

interface Receiver {
  url: string;
  posts: Post[];
  /** How many POSTs (counted from the first) are answered 500; the rest get 200. */
  failFirst: number;
  close: () => Promise<void>;
}

/** A local alert receiver on 127.0.0.1 that answers 500 to its first `failFirst` POSTs, then 200. */
async function startReceiver(failFirst: number): Promise<Receiver> {
  const posts: Post[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        // kept as text: the assertions on the shape will say so
      }
      const status = req.method === 'POST' && posts.length >= receiver.failFirst ? 200 : 500;
      const seqMatch = /^\[sluice #(\d+) /.exec(textOf(body));
      posts.push({ status, body, seq: seqMatch?.[1] === undefined ? null : Number(seqMatch[1]) });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'boom');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/hooks/alerts`,
    posts,
    failFirst,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}

function textOf(body: unknown): string {
  if (body !== null && typeof body === 'object' && 'text' in body && typeof body.text === 'string') return body.text;
  return '';
}

function alertConfig(webhookUrl: string): Record<string, unknown> {
  return opsConfig({
    alerts: { webhook_url: webhookUrl, backoff: { base_ms: 10, cap_ms: 50 } },
    // One attempt and a threshold of one: a single failed signal opens the breaker.
    execution: { max_attempts: 1, backoff: { base_ms: 5, cap_ms: 20 }, breaker: { failure_threshold: 1 } },
  });
}

async function setMode(s: TestServer, mode: string, reason: string): Promise<void> {
  await readJson<unknown>(await s.admin('/mode', { body: { mode, reason } }));
}

const isAlertType = (type: string) => type.startsWith('breaker.') || type === 'mode.changed' || type.startsWith('degraded.') || type === 'order.rejected' || type === 'order.expired';

describe('alerts', () => {
  test('retried until confirmed, one per event, never resent after a restart; the first start begins at the head', async () => {
    const receiver = await startReceiver(2);
    const dir = tempDir('sluice-alerts-');
    let s = await startTestServer({ dir, config: alertConfig(receiver.url) });
    try {
      // 1. A mode change: two 500s, then the third POST is confirmed; every body is the same {text}.
      await setMode(s, 'paused', 'alert test');
      await eventually(async () => (receiver.posts.length >= 3 ? true : undefined), 10_000, 'three POSTs for the mode change');
      const modeEvent = (await eventsAfter(s, 0)).find((e) => e.type === 'mode.changed' && e.data.reason === 'alert test');
      if (modeEvent === undefined) throw new Error('no mode.changed event for the operator change');
      expect(receiver.posts.map((p) => p.status)).toEqual([500, 500, 200]);
      for (const post of receiver.posts) {
        expect(post.body).toEqual({ text: expect.stringMatching(/mode enabled → paused by operator: alert test$/) });
        expect(post.seq).toBe(modeEvent.seq);
      }
      // The initial mode (seq 1) was history when alerts first started: never sent.
      expect(modeEvent.seq).toBeGreaterThan(1);

      // 2. A breaker opening: one failed signal with threshold 1.
      await setMode(s, 'enabled', 'alert test done');
      await readJson<unknown>(await s.admin('/connectors/mock/faults', { body: { failure_rate: 1 } }));
      expect((await sendFinal(s, { instrument: 'ALRT' })).status).toBe('failed');
      const breakerPost = await eventually(
        async () => receiver.posts.find((p) => /breaker opened for connector mock/.test(textOf(p.body))),
        10_000,
        'the breaker alert',
      );
      expect(breakerPost.status).toBe(200);
      expect(Object.keys(breakerPost.body as object)).toEqual(['text']);

      // Every alert-type event after the first start's head was confirmed exactly once, in order.
      const alertSeqs = (await eventsAfter(s, 1)).filter((e) => isAlertType(e.type)).map((e) => e.seq);
      await eventually(
        async () => (receiver.posts.filter((p) => p.status === 200).length >= alertSeqs.length ? true : undefined),
        10_000,
        'every alert confirmed',
      );
      expect(receiver.posts.filter((p) => p.status === 200).map((p) => p.seq)).toEqual(alertSeqs);
      expect(receiver.posts.map((p) => textOf(p.body))).toContainEqual(expect.stringMatching(/mode paused → enabled by operator: alert test done$/));

      // 3. Restart on the same database with the same receiver.
      await s.close();
      const confirmedBefore = receiver.posts.length;
      s = await startTestServer({ dir, config: alertConfig(receiver.url) });
      // A bounded wait cannot prove that nothing is ever resent; it is acceptable because a
      // resend would start at once (the loop reads its stored offset at start and retries within
      // the 50 ms backoff cap), so 500 ms is ten cap-lengths. The sentinel below makes it
      // conclusive anyway: alerts go out in seq order, so a replay of the confirmed ones would
      // have to arrive before the new mode change's alert.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(receiver.posts.length).toBe(confirmedBefore);

      await setMode(s, 'exit_only', 'after restart');
      const fresh = await eventually(
        async () => (receiver.posts.length > confirmedBefore ? receiver.posts.slice(confirmedBefore) : undefined),
        10_000,
        'the alert for a mode change after the restart',
      );
      expect(fresh[0]?.status).toBe(200);
      expect(fresh[0]?.body).toEqual({ text: expect.stringMatching(/mode enabled → exit_only by operator: after restart$/) });
      const last = (await eventsAfter(s, 0)).filter((e) => e.type === 'mode.changed').pop();
      expect(fresh[0]?.seq).toBe(last?.seq);
      expect(fresh).toHaveLength(1);
    } finally {
      await s.close();
      await receiver.close();
    }
  });

  test('an alert not confirmed before a shutdown is sent after the restart (at least once)', async () => {
    const receiver = await startReceiver(Number.POSITIVE_INFINITY);
    const dir = tempDir('sluice-alerts-');
    let s = await startTestServer({ dir, config: alertConfig(receiver.url) });
    try {
      await setMode(s, 'paused', 'unconfirmed');
      await eventually(async () => (receiver.posts.length >= 2 ? true : undefined), 10_000, 'the alert being refused twice');
      const modeEvent = (await eventsAfter(s, 0)).find((e) => e.type === 'mode.changed' && e.data.reason === 'unconfirmed');
      if (modeEvent === undefined) throw new Error('no mode.changed event for the operator change');
      expect(new Set(receiver.posts.map((p) => `${p.status} #${String(p.seq)}`))).toEqual(new Set([`500 #${modeEvent.seq}`]));
      await s.close();

      receiver.failFirst = 0;
      const refused = receiver.posts.length;
      s = await startTestServer({ dir, config: alertConfig(receiver.url) });
      const confirmed = await eventually(async () => receiver.posts.slice(refused).find((p) => p.status === 200), 10_000, 'the alert after the restart');
      expect(confirmed.seq).toBe(modeEvent.seq);
      expect(confirmed.body).toEqual({ text: expect.stringMatching(/mode enabled → paused by operator: unconfirmed$/) });
    } finally {
      await s.close();
      await receiver.close();
    }
  });

  test('a receiver that is down never blocks signals: they execute while the alert retries', async () => {
    // A port that was free a moment ago: connections are refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const s = await startTestServer({ config: alertConfig(`http://127.0.0.1:${port}/down`) });
    const failures = () => s.logs.filter((line) => line.includes('"msg":"alert delivery failed; retrying"')).length;
    try {
      await setMode(s, 'enabled', 'alert to a dead receiver');
      await eventually(async () => (failures() >= 2 ? true : undefined), 10_000, 'the alert being retried');
      const retriedBefore = failures();
      for (let i = 0; i < 3; i += 1) expect((await sendFinal(s, { instrument: `DOWN${i}` })).status).toBe('executed');
      // Still retrying (nothing confirmed it), and never given up.
      await eventually(async () => (failures() > retriedBefore ? true : undefined), 10_000, 'more retries');
      const status = await readJson<{ mode: string; last_signal: { status: string } }>(await s.admin('/status'));
      expect(status).toMatchObject({ mode: 'enabled', last_signal: { status: 'executed' } });
    } finally {
      await s.close();
    }
  });
});
