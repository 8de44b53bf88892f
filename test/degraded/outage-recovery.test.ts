/**
 * Coming back from a database outage (docs/guarantees.md#ordering, #degraded-mode), against a
 * PostgreSQL cluster of the test's own that it stops and starts under a running sluice:
 * - deliveries spooled during the outage are recorded and executed before any delivery that
 *   arrives after the database is back: live `close`s sent the moment it is back, racing the
 *   replay of the spooled `buy`s, close them (final positions 0); a spooled delivery whose key
 *   another body holds becomes a refused delivery;
 * - the outage is alerted while it lasts (the event log cannot take `degraded.entered` then),
 *   and the event is appended with its own time when the database is back, before
 *   `degraded.exited`, without a second alert.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { PG_BIN, startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { adminFetch, durabilityConfig, eventually, killChild, sendTo, spawnSluice, tempDir, type Child } from '../helpers/server.js';

const suite = PG_BIN === null ? describe.skip : describe;
let cluster: PgCluster | null = null;
let child: Child | null = null;
let receiver: Server | null = null;

afterEach(async () => {
  await killChild(child);
  child = null;
  cluster?.destroy();
  cluster = null;
  const r = receiver;
  receiver = null;
  if (r !== null) {
    r.closeAllConnections();
    await new Promise<void>((resolve) => r.close(() => resolve()));
  }
});

interface EventView {
  seq: number;
  at: string;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
}

async function allEvents(url: string): Promise<EventView[]> {
  const out: EventView[] = [];
  for (let after = 0; ; ) {
    const page = (await (await adminFetch(url, `/events?after=${after}&limit=1000`)).json()) as { items: EventView[]; next_after: number | null };
    out.push(...page.items);
    if (page.items.length < 1000 || page.next_after === null) return out;
    after = page.next_after;
  }
}

async function send(url: string, body: Record<string, unknown>): Promise<{ status: number; kind: string }> {
  const res = await sendTo(url, body);
  const json = (await res.json()) as { status?: string; error?: { code: string } };
  return { status: res.status, kind: json.status ?? json.error?.code ?? '' };
}

suite('coming back from a database outage', () => {
  test('spooled deliveries run before later ones: a live close racing the spooled buy closes it; a reused key in the spool is refused', async () => {
    cluster = await startPgCluster();
    const dir = tempDir();
    child = await spawnSluice({ dir, configPath: durabilityConfig(dir), env: { DATABASE_URL: cluster.url } });
    const url = child.url;
    const run = Date.now().toString(36);

    // Before: an executed position elsewhere and a key the outage will reuse with another body.
    expect(await send(url, { id: `${run}-before`, action: 'buy', instrument: 'OLDR', quantity: 2, price: 10 })).toMatchObject({ status: 202 });
    expect(await send(url, { id: `${run}-reused`, action: 'buy', instrument: 'OLDR', quantity: 1, price: 10 })).toMatchObject({ status: 202 });

    cluster.stop();
    // During: the buy to be closed, the reused key, and others.
    const lanes = [0, 1, 2];
    for (const i of lanes) expect(await send(url, { id: `${run}-buy-${i}`, action: 'buy', instrument: `ORDR${i}`, quantity: 10, price: 10 })).toEqual({ status: 202, kind: 'deferred' });
    expect(await send(url, { id: `${run}-reused`, action: 'sell', instrument: 'OLDR', quantity: 5, price: 10 })).toEqual({ status: 202, kind: 'deferred' });
    for (let k = 0; k < 3; k += 1) expect(await send(url, { id: `${run}-during-${k}`, action: 'buy', instrument: `DUR${k}`, quantity: 1, price: 10 })).toEqual({ status: 202, kind: 'deferred' });

    // Back: the closes go out the moment the database answers, before sluice's probe saw it.
    cluster.start();
    const closes = await Promise.all(lanes.map((i) => send(url, { id: `${run}-close-${i}`, action: 'close', instrument: `ORDR${i}`, price: 10 })));
    expect(closes.map((c) => c.status)).toEqual([202, 202, 202]);
    for (let k = 0; k < 3; k += 1) expect((await send(url, { id: `${run}-after-${k}`, action: 'buy', instrument: `AFT${k}`, quantity: 1, price: 10 })).status).toBe(202);

    const keys = ['before', 'buy-0', 'buy-1', 'buy-2', 'close-0', 'close-1', 'close-2', 'during-0', 'during-1', 'during-2', 'after-0', 'after-1', 'after-2'].map((k) => `${run}-${k}`);
    const final = await eventually(
      async () => {
        // Right after the outage an answer may still be a 503: wait for a 200 like for the rest.
        const res = await adminFetch(url, '/signals?limit=500');
        if (res.status !== 200) return undefined;
        const page = (await res.json()) as { items: Array<{ signal_id: string; idempotency_key: string; status: string; result: { filled_quantity: number } | null }> };
        const mine = page.items.filter((s) => keys.includes(s.idempotency_key));
        return mine.length === keys.length && mine.every((s) => s.status === 'executed') ? mine : undefined;
      },
      40_000,
      'every delivery executed',
    );
    const byKey = new Map(final.map((s) => [s.idempotency_key, s]));
    expect(lanes.map((i) => byKey.get(`${run}-close-${i}`)?.result?.filled_quantity)).toEqual([10, 10, 10]);
    const positions = (await (await adminFetch(url, '/positions')).json()) as { connectors: { mock: { positions: Array<{ instrument: string; quantity: number }> } } };
    expect(lanes.map((i) => positions.connectors.mock.positions.find((p) => p.instrument === `ORDR${i}`)?.quantity ?? 0)).toEqual([0, 0, 0]);

    // Each buy executed before its close was even decided.
    const events = await allEvents(url);
    const seqOf = (key: string, type: string) => events.find((e) => e.signal_id === byKey.get(key)?.signal_id && e.type === type)?.seq ?? Number.NaN;
    for (const i of lanes) expect(seqOf(`${run}-buy-${i}`, 'signal.executed')).toBeLessThan(seqOf(`${run}-close-${i}`, 'signal.executing'));

    // The reused key: one signal (the first body), and the spooled one refused.
    const deliveries = (await (await adminFetch(url, '/deliveries')).json()) as { items: Array<{ reason: string; issues: Array<{ message: string }> }> };
    const reused = deliveries.items.filter((d) => d.reason === 'idempotency key reused');
    expect(reused).toHaveLength(1);
    expect(reused[0]?.issues[0]?.message).toMatch(new RegExp(`^idempotency_key_reused: .*key "${run}-reused" belongs to sig_`));
    const audit = (await (await adminFetch(url, '/audit/verify')).json()) as { ok: boolean };
    expect(audit.ok).toBe(true);
  }, 120_000);

  test('the outage is alerted while it lasts; degraded.entered is appended with its own time when the database is back, then degraded.exited, with no second alert', async () => {
    const posts: string[] = [];
    const r = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posts.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string }).text);
        res.writeHead(200).end('ok');
      });
    });
    receiver = r;
    await new Promise<void>((resolve) => r.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(r.address() as AddressInfo).port}/alerts`;

    cluster = await startPgCluster();
    const dir = tempDir();
    child = await spawnSluice({ dir, configPath: durabilityConfig(dir, { alerts: { webhook_url: hook, backoff: { base_ms: 50, cap_ms: 200 } } }), env: { DATABASE_URL: cluster.url } });
    const url = child.url;

    cluster.stop();
    // A delivery finds the database down at once (no need to wait for the periodic ping).
    expect(await send(url, { id: `alert-${Date.now()}`, action: 'buy', instrument: 'ALRT', quantity: 1, price: 10 })).toEqual({ status: 202, kind: 'deferred' });
    const downAlert = await eventually(async () => posts.find((p) => p.includes('degraded: database:')), 15_000, 'the outage alert while the database is down');
    // Sent before the event had a place in the log: no seq, its own time.
    const alertedAt = /^\[sluice ([^\]# ]+)\] degraded: database: /.exec(downAlert)?.[1];
    expect(alertedAt).toBeDefined();

    cluster.start();
    await eventually(async () => (posts.some((p) => p.includes('recovered: database')) ? true : undefined), 30_000, 'the recovery alert');
    const events = await allEvents(url);
    const entered = events.filter((e) => e.type === 'degraded.entered' && e.data.component === 'database');
    const exited = events.filter((e) => e.type === 'degraded.exited' && e.data.component === 'database');
    expect(entered.length).toBeGreaterThanOrEqual(1);
    const first = entered[0];
    expect(first).toMatchObject({ at: alertedAt, data: { component: 'database', alerted: true } });
    expect(exited[0]?.seq).toBeGreaterThan(first?.seq ?? Number.POSITIVE_INFINITY);
    // One alert per entered event, however it was sent.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(posts.filter((p) => p.includes('degraded: database:'))).toHaveLength(entered.length);
    const audit = (await (await adminFetch(url, '/audit/verify')).json()) as { ok: boolean };
    expect(audit.ok).toBe(true);
  }, 120_000);
});
