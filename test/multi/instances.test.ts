/**
 * Several sluice processes on one PostgreSQL database (docs/README.md#what-sluice-is, docs/guarantees.md#several-instances-on-postgresql): the same delivery at
 * all of them at once executes once; an instance killed while it holds executing work is taken
 * over after its lease without a second order, before anything newer of its lane runs; a mode change on one is obeyed by the others for
 * the very next signal.
 */
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../helpers/postgres.js';
import { adminFetch, eventually, sendTo, spawnSluice, tempDir, WEBHOOK_SECRET, writeConfig, type Child } from '../helpers/server.js';

const suite = POSTGRES_URL === undefined ? describe.skip : describe;

const children: Child[] = [];
let db: TestDatabase | null = null;

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
  }
  await db?.drop();
  db = null;
});

async function startInstances(n: number, config: Record<string, unknown>, perInstance: (i: number) => Record<string, unknown> = () => ({})): Promise<Child[]> {
  if (db === null) db = await createTestDatabase();
  const url = db.url;
  const out: Child[] = [];
  // The first one migrates; the rest start once the schema exists.
  for (let i = 0; i < n; i += 1) {
    const dir = tempDir();
    const configPath = writeConfig(dir, { ...config, ...perInstance(i) });
    const child = await spawnSluice({ dir, configPath, env: { DATABASE_URL: url, SLUICE_INSTANCE_ID: `inst-${i}` } });
    children.push(child);
    out.push(child);
  }
  return out;
}

const baseConfig = {
  sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } },
  policy: { max_orders_per_minute: null, max_order_notional: null, max_position_notional: { default: null }, max_gross_exposure: null, max_daily_loss: null },
};

async function finalStatus(url: string, id: string): Promise<string> {
  return eventually(async () => {
    const body = (await (await adminFetch(url, `/signals/${id}`)).json()) as { status: string };
    return ['executed', 'rejected', 'failed'].includes(body.status) ? body.status : undefined;
  }, 30_000, `signal ${id} final`);
}

suite('several instances on one PostgreSQL database', () => {
  test('the same delivery sent to three instances at once, for 100 keys: exactly one mock order per key', async () => {
    const instances = await startInstances(3, baseConfig);
    const run = Date.now().toString(36);
    const statuses: number[] = [];
    const ids = new Map<string, Set<string>>();
    for (let k = 0; k < 100; k += 1) {
      const body = { id: `multi-${run}-${k}`, action: 'buy', instrument: `M${k % 7}`, quantity: 1, price: 10 };
      const responses = await Promise.all(instances.map((inst) => sendTo(inst.url, body)));
      for (const res of responses) {
        statuses.push(res.status);
        const json = (await res.json()) as { signal_id: string };
        const set = ids.get(body.id) ?? new Set<string>();
        set.add(json.signal_id);
        ids.set(body.id, set);
      }
    }
    // Every answer is 202 (the one that recorded it) or 200 duplicate.
    expect(statuses.filter((s) => s !== 202 && s !== 200)).toEqual([]);
    expect(statuses.filter((s) => s === 202)).toHaveLength(100);
    for (const set of ids.values()) expect(set.size).toBe(1);

    const first = instances[0];
    if (first === undefined) throw new Error('no instance');
    for (const set of ids.values()) for (const id of set) expect(await finalStatus(first.url, id)).toBe('executed');
    const orders = (await (await adminFetch(first.url, '/connectors/mock/orders?limit=500')).json()) as { items: Array<{ client_order_id: string }> };
    const perOrderId = new Map<string, number>();
    for (const o of orders.items) perOrderId.set(o.client_order_id, (perOrderId.get(o.client_order_id) ?? 0) + 1);
    expect(perOrderId.size).toBe(100);
    expect([...perOrderId.values()].every((n) => n === 1)).toBe(true);
  }, 120_000);

  test('an instance killed while it holds executing work: another finishes it after the lease, with no second order', async () => {
    // Instance 0's mock is slow, so its signals sit executing when it is killed.
    const instances = await startInstances(2, { ...baseConfig, execution: { lease_seconds: 1.5 } }, (i) => ({
      connectors: { mock: { type: 'mock', latency_ms: i === 0 ? 4000 : 0 } },
    }));
    const [slow, other] = instances;
    if (slow === undefined || other === undefined || db === null) throw new Error('no instances');
    const run = Date.now().toString(36);
    const signalIds: string[] = [];
    for (let k = 0; k < 5; k += 1) {
      const res = await sendTo(slow.url, { id: `lease-${run}-${k}`, action: 'buy', instrument: `L${k}`, quantity: 1, price: 10 });
      expect(res.status).toBe(202);
      signalIds.push(((await res.json()) as { signal_id: string }).signal_id);
    }
    const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
    try {
      await eventually(async () => {
        const rows = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM signals WHERE status = 'executing' AND lease_owner = 'inst-0'`;
        return (rows[0]?.n ?? 0) >= 5 ? true : undefined;
      }, 10_000, 'signals executing at instance 0');
      slow.proc.kill('SIGKILL');
      await slow.exited;
      for (const id of signalIds) expect(await finalStatus(other.url, id)).toBe('executed');
      const orders = await sql<Array<{ client_order_id: string; n: number }>>`SELECT client_order_id, count(*)::int AS n FROM mock_orders GROUP BY client_order_id`;
      expect(orders).toHaveLength(5);
      expect(orders.every((o) => o.n === 1)).toBe(true);
      const owners = await sql<Array<{ lease_owner: string | null }>>`SELECT lease_owner FROM signals WHERE id = ANY(${signalIds})`;
      expect(owners.every((o) => o.lease_owner === null)).toBe(true);
    } finally {
      await sql.end();
    }
  }, 120_000);

  test('an instance killed while its order is held at the connector: the other takes it over and recovers it, one order, and the newer signal of the lane runs only after', async () => {
    // Instance 0's mock holds every order for 4 s before placing it.
    const instances = await startInstances(2, { ...baseConfig, execution: { lease_seconds: 1.5 } }, (i) => ({
      connectors: { mock: { type: 'mock', latency_ms: i === 0 ? 4000 : 0 } },
    }));
    const [slow, other] = instances;
    if (slow === undefined || other === undefined || db === null) throw new Error('no instances');
    const run = Date.now().toString(36);
    const idOf = async (res: Response): Promise<string> => {
      expect(res.status).toBe(202);
      return ((await res.json()) as { signal_id: string }).signal_id;
    };
    const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
    try {
      const older = await idOf(await sendTo(slow.url, { id: `held-${run}-1`, action: 'buy', instrument: 'HELD', quantity: 1, price: 10 }));
      await eventually(async () => {
        const rows = await sql<Array<{ status: string; lease_owner: string | null }>>`SELECT status, lease_owner FROM signals WHERE id = ${older}`;
        return rows[0]?.status === 'executing' && rows[0].lease_owner === 'inst-0' ? true : undefined;
      }, 10_000, 'the older signal executing at instance 0');
      const newer = await idOf(await sendTo(other.url, { id: `held-${run}-2`, action: 'buy', instrument: 'HELD', quantity: 2, price: 10 }));
      // Instance 0 lives and renews its lease: instance 1 keeps the newer signal waiting.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const waiting = await sql<Array<{ status: string }>>`SELECT status FROM signals WHERE id = ${newer}`;
      expect(waiting[0]?.status).toBe('accepted');

      slow.proc.kill('SIGKILL');
      await slow.exited;
      expect(await finalStatus(other.url, older)).toBe('executed');
      expect(await finalStatus(other.url, newer)).toBe('executed');

      const signals = await sql<Array<{ id: string; client_order_id: string; decided_at: string; updated_at: string; lease_owner: string | null }>>`
        SELECT id, client_order_id, decided_at::text, updated_at::text, lease_owner FROM signals WHERE id IN (${older}, ${newer})`;
      const byId = new Map(signals.map((r) => [r.id, r]));
      const o = byId.get(older);
      const n = byId.get(newer);
      if (o === undefined || n === undefined) throw new Error('signals missing');
      // The newer one was decided only after the older one was finished.
      expect(Number(n.decided_at)).toBeGreaterThanOrEqual(Number(o.updated_at));
      const orders = await sql<Array<{ client_order_id: string; n: number; created_at: string }>>`
        SELECT client_order_id, count(*)::int AS n, min(created_at)::text AS created_at FROM mock_orders
        WHERE client_order_id IN (${o.client_order_id}, ${n.client_order_id}) GROUP BY client_order_id`;
      expect(orders.map((r) => [r.client_order_id, r.n]).sort()).toEqual([[o.client_order_id, 1], [n.client_order_id, 1]].sort());
      const created = new Map(orders.map((r) => [r.client_order_id, Number(r.created_at)]));
      expect(created.get(n.client_order_id) ?? 0).toBeGreaterThanOrEqual(created.get(o.client_order_id) ?? Infinity);
      const attempts = await sql<Array<{ n: number; outcome: string }>>`SELECT n, outcome FROM attempts WHERE signal_id = ${older} ORDER BY n`;
      expect(attempts.map((a) => a.outcome)).toEqual(['ok']);
      expect(signals.every((r) => r.lease_owner === null)).toBe(true);
    } finally {
      await sql.end();
    }
  }, 120_000);

  test('a mode change on one instance is obeyed by the others for the very next signal', async () => {
    const instances = await startInstances(3, baseConfig);
    const [a, b, c] = instances;
    if (a === undefined || b === undefined || c === undefined) throw new Error('no instances');
    const res = await adminFetch(a.url, '/mode', { body: { mode: 'paused', reason: 'maintenance' } });
    expect(res.status).toBe(200);
    for (const inst of [b, c]) {
      const sent = await sendTo(inst.url, { id: `mode-${Date.now()}-${inst.url}`, action: 'buy', instrument: 'MODE', quantity: 1, price: 1 }, { prefer: 'wait=10' });
      expect(sent.status).toBe(200);
      const body = (await sent.json()) as { status: string; decision: { failures: Array<{ rule: string; code?: string }> } };
      expect(body.status).toBe('rejected');
      expect(body.decision.failures).toContainEqual(expect.objectContaining({ rule: 'mode', code: 'paused' }));
      const status = (await (await adminFetch(inst.url, '/status')).json()) as { mode: string };
      expect(status.mode).toBe('paused');
    }
  }, 120_000);
});
