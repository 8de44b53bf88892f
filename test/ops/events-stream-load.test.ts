/**
 * Event streams that start far behind (docs/http-api.md#event-stream, docs/configuration.md#server):
 * 50 clients of `GET /admin/events/stream?after=0` on a 100k-event log must not freeze the
 * process: a signal sent meanwhile is answered (202) while they still catch up, and every stream
 * still gets every event, in order. Streams over `server.max_event_streams` are refused with
 * `503` and `Retry-After`; a client that stops reading is dropped after
 * `server.event_stream_stall_seconds` instead of holding its slot and its buffers.
 *
 * sluice runs as a child process (the built CLI) so that the test's own clients, which parse
 * millions of frames, do not share its event loop. The log is filled beforehand through the store.
 */
import { execFile } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { ADMIN_TOKEN, eventually, killChild, spawnSluice, startTestServer, tempDir, WEBHOOK_SECRET, writeConfig, type Child } from '../helpers/server.js';
import { bearer, nextKey, opsConfig, readJson, type EventsPage } from './helpers.js';

const run = promisify(execFile);
const EVENTS = 100_000;
const STREAMS = 50;

let child: Child | null = null;

afterEach(async () => {
  await killChild(child);
  child = null;
});

/** Appends `n` events through the store, in batches (one group commit each), then closes it. */
async function fillEventLog(databaseUrl: string, n: number): Promise<void> {
  const store = await openStore(databaseUrl);
  try {
    const batch = 5_000;
    for (let from = 1; from <= n; from += batch) {
      const appends: Array<Promise<unknown>> = [];
      for (let i = from; i < Math.min(n + 1, from + batch); i += 1) appends.push(store.appendEvent({ type: 'load.filler', data: { i } }));
      await Promise.all(appends);
    }
  } finally {
    await store.close();
  }
}

let happened = 0;

/**
 * One event stream read over its own connection, tallying only the `id:` lines: each must be
 * the previous one + 1, starting at 1 (in order, nothing skipped, nothing twice).
 */
class StreamTally {
  last = 0;
  error: string | null = null;
  ended = false;
  /** Positions in the order of what happened across every tally: first event seen, `until` reached. */
  startedAt: number | null = null;
  doneAt: number | null = null;
  private carry = '';
  readonly response: Promise<IncomingMessage>;

  constructor(url: string, opts: { after?: number; until?: number } = {}) {
    const until = opts.until ?? Number.MAX_SAFE_INTEGER;
    this.response = new Promise((resolve, reject) => {
      const req = request(`${url}/admin/events/stream?after=${opts.after ?? 0}`, { headers: bearer(), agent: false }, (res) => {
        res.setEncoding('latin1');
        res.on('data', (chunk: string) => {
          this.take(chunk);
          if (this.last > 0) this.startedAt ??= (happened += 1);
          if (this.last >= until) this.doneAt ??= (happened += 1);
        });
        res.on('end', () => {
          this.ended = true;
        });
        res.on('error', () => {
          this.ended = true;
        });
        res.on('close', () => {
          this.ended = true;
        });
        resolve(res);
      });
      req.on('error', reject);
      req.end();
    });
  }

  private take(chunk: string): void {
    const text = this.carry + chunk;
    const end = text.lastIndexOf('\n');
    this.carry = text.slice(end + 1);
    for (let at = 0; at <= end; ) {
      const nl = text.indexOf('\n', at);
      if (text.startsWith('id: ', at)) {
        const id = Number(text.slice(at + 4, nl));
        if (id !== this.last + 1 && this.error === null) this.error = `id ${id} after ${this.last}`;
        this.last = id;
      }
      at = nl + 1;
    }
  }

  async close(): Promise<void> {
    (await this.response).destroy();
  }
}

function rssKb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

/**
 * One request made and timed by curl, in a process of its own: the test's event loop is busy
 * reading 50 streams and would add its own delay to a latency measured here.
 */
async function curlTimed(url: string, args: string[] = []): Promise<{ status: number; ms: number }> {
  const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', ...args, url]);
  const [status, seconds] = stdout.trim().split(' ');
  return { status: Number(status), ms: Math.round(Number(seconds) * 1000) };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: Math.round(performance.now() - started) };
}

async function startOnFilledLog(server: Record<string, unknown>): Promise<Child> {
  const dir = tempDir();
  const databaseUrl = `file:${join(dir, 'sluice.db')}`;
  await fillEventLog(databaseUrl, EVENTS);
  const configPath = writeConfig(dir, opsConfig({ server, execution: { reconcile_interval_seconds: 3600 } }));
  return spawnSluice({ dir, configPath, env: { DATABASE_URL: databaseUrl } });
}

describe('event streams far behind', () => {
  test(`${STREAMS} streams from after=0 on a ${EVENTS}-event log: a signal is answered 202 while they catch up, and every stream gets every event in order`, async () => {
    child = await startOnFilledLog({});
    const url = child.url;
    const backlog = (await readJson<EventsPage>(await fetch(`${url}/admin/events?after=${EVENTS - 1}`, { headers: bearer() }))).next_after;
    const streams = Array.from({ length: STREAMS }, () => new StreamTally(url, { until: backlog }));
    await eventually(async () => (streams.some((s) => s.last > 0) ? true : undefined), 60_000, 'the catch-up under way');

    // Five rounds of /healthz then a signal, each timed by curl, while the streams catch up.
    const samples: Array<{ health: number; signal: number; behind: number }> = [];
    for (let round = 0; round < 5; round += 1) {
      const health = await curlTimed(`${url}/healthz`);
      expect(health.status).toBe(200);
      const body = JSON.stringify({ id: nextKey('load'), action: 'buy', instrument: 'LOAD', quantity: 1, price: 10 });
      const signal = await curlTimed(`${url}/webhooks/default`, ['-H', `Authorization: Bearer ${WEBHOOK_SECRET}`, '-H', 'Content-Type: application/json', '--data-binary', body]);
      expect(signal.status).toBe(202);
      samples.push({ health: health.ms, signal: signal.ms, behind: streams.filter((s) => s.last < backlog).length });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const behind = samples[samples.length - 1]?.behind ?? 0;
    const rssDuring = rssKb(child.proc.pid);
    console.log(
      `[measure] ${STREAMS} streams × ${backlog} events, 5 rounds (curl): signal answered in ${samples.map((x) => x.signal).join(', ')} ms; ` +
        `/healthz in ${samples.map((x) => x.health).join(', ')} ms; streams still catching up after each: ${samples.map((x) => x.behind).join(', ')}; sluice RSS ${Math.round(rssDuring / 1024)} MiB`,
    );
    // Answered while the streams were still catching up, not after they finished.
    expect(behind, 'streams still catching up when the signal was answered').toBeGreaterThan(0);
    for (const s of streams) expect((await s.response).statusCode).toBe(200);

    const caughtUp = await timed(() => eventually(async () => (streams.every((s) => s.last >= backlog || s.error !== null || s.ended) ? true : undefined), 600_000, 'every stream at the head'));
    // The catch-up is shared: every stream had its first events before any had all of them
    // (served one client after another, the last would wait for all the others).
    const lastStart = Math.max(...streams.map((s) => s.startedAt ?? Infinity));
    const firstDone = Math.min(...streams.map((s) => s.doneAt ?? Infinity));
    expect(lastStart, 'every stream started before the first one finished').toBeLessThan(firstDone);
    // The signals' own events arrive live after the backlog.
    const head = await eventually(async () => {
      const page = await readJson<EventsPage>(await fetch(`${url}/admin/events?after=${EVENTS}&limit=1000`, { headers: bearer(ADMIN_TOKEN) }));
      return page.items.filter((e) => e.type === 'signal.executed').length === samples.length ? page.next_after : undefined;
    }, 30_000, 'the signals executed');
    await eventually(async () => (streams.every((s) => s.last >= head || s.error !== null || s.ended) ? true : undefined), 60_000, 'every stream at the live head');
    for (const s of streams) {
      expect(s.error).toBeNull();
      expect(s.ended).toBe(false);
      expect(s.last).toBeGreaterThanOrEqual(head);
    }
    console.log(`[measure] every stream had the ${backlog} events ${caughtUp.ms} ms after the signal's answer`);
    await Promise.all(streams.map((s) => s.close()));
  }, 900_000);

  test('a client that stops reading is dropped after event_stream_stall_seconds; its slot is free again', async () => {
    child = await startOnFilledLog({ max_event_streams: 1, event_stream_stall_seconds: 1 });
    const url = child.url;
    const output = child.output;
    // Reads nothing after the headers: the kernel's buffers fill, then sluice's.
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET /admin/events/stream?after=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`);
    socket.pause();
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    await eventually(async () => (output.some((l) => l.includes('event stream dropped')) ? true : undefined), 60_000, 'the stalled stream dropped');
    // Its slot (the only one) is free: a new stream is accepted and reads to the end of the log.
    const next = await eventually(async () => {
      const s = new StreamTally(url, { after: EVENTS - 10 });
      const res = await s.response;
      if (res.statusCode === 200) return s;
      res.destroy();
      return undefined;
    }, 10_000, 'a new stream in the freed slot');
    await eventually(async () => (next.last >= EVENTS ? true : undefined), 10_000, 'the new stream at the head');
    await next.close();
    // The dropped connection ends once its buffered bytes are read: it does not go on forever.
    socket.resume();
    socket.on('data', () => undefined);
    await eventually(async () => (closed ? true : undefined), 30_000, 'the dropped connection closed');
  }, 300_000);

  test('the 65th stream over max_event_streams 64 is refused with 503 and Retry-After; a closed one frees its slot', async () => {
    const s = await startTestServer({ config: opsConfig() });
    const open: StreamTally[] = [];
    try {
      for (let i = 0; i < 64; i += 1) {
        const t = new StreamTally(s.url);
        expect((await t.response).statusCode).toBe(200);
        open.push(t);
      }
      const refused = await fetch(`${s.url}/admin/events/stream`, { headers: bearer() });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_streams');
      await open.pop()?.close();
      const again = await eventually(async () => {
        const res = await fetch(`${s.url}/admin/events/stream`, { headers: bearer() });
        if (res.status === 200) return res;
        await res.body?.cancel();
        return undefined;
      }, 10_000, 'a stream in the freed slot');
      await again.body?.cancel();
    } finally {
      await Promise.all(open.map((t) => t.close()));
      await s.close();
    }
  });
});
