/**
 * Crash safety (docs/guarantees.md#durability): sluice is killed with SIGKILL five times during a stream of 500
 * deliveries and restarted each time. Every delivery that was answered 2xx ends final, and the
 * mock broker holds at most one order per key.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { adminFetch, eventually, sendTo, spawnSluice, tempDir, WEBHOOK_SECRET, writeConfig, type Child } from '../helpers/server.js';

test('five SIGKILLs during 500 deliveries: every 2xx ends final, at most one order per key', async () => {
  const dir = tempDir();
  const configPath = writeConfig(dir, {
    sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } },
    connectors: { mock: { type: 'mock', latency_ms: 5 } },
    policy: { max_orders_per_minute: null, max_order_notional: null, max_position_notional: { default: null }, max_gross_exposure: null, max_daily_loss: null },
  });
  const acknowledged = new Map<string, string>(); // key → signal_id
  const run = Date.now().toString(36);
  let child: Child = await spawnSluice({ dir, configPath });
  const killAt = new Set([80, 170, 260, 350, 440]);
  let sent = 0;
  let kills = 0;
  for (let k = 0; k < 100; k += 1) {
    const key = `k9-${run}-${k}`;
    // Several in flight at once, so kills land mid-request and mid-execution.
    const batch = [0, 1, 2, 3, 4].map(async (j) => {
      const id = `${key}-${j}`;
      try {
        const res = await sendTo(child.url, { id, action: 'buy', instrument: `K${(k + j) % 9}`, quantity: 1, price: 10 });
        if (res.status === 202 || res.status === 200) acknowledged.set(id, ((await res.json()) as { signal_id: string }).signal_id);
      } catch {
        // The connection died with the process: not acknowledged, nothing promised.
      }
    });
    sent += 5;
    // At these points the kill lands while this batch is in flight (five kills in all).
    if (killAt.has(sent)) {
      await new Promise((resolve) => setTimeout(resolve, 3));
      child.proc.kill('SIGKILL');
      await child.exited;
      kills += 1;
      await Promise.all(batch);
      child = await spawnSluice({ dir, configPath });
    } else {
      await Promise.all(batch);
    }
  }
  try {
    expect(kills).toBe(5);
    expect(acknowledged.size).toBeGreaterThan(400);
    for (const [id, signalId] of acknowledged) {
      await eventually(async () => {
        const res = await adminFetch(child.url, `/signals/${signalId}`);
        if (res.status === 404) throw new Error(`acknowledged signal ${signalId} (${id}) is lost`);
        const body = (await res.json()) as { status: string };
        return ['executed', 'rejected', 'failed'].includes(body.status) ? body.status : undefined;
      }, 30_000, `${id} final`);
    }
  } finally {
    child.proc.kill('SIGTERM');
    await child.exited;
  }
  const db = new Database(join(dir, 'sluice.db'), { readonly: true });
  try {
    const doubled = db.prepare('SELECT client_order_id, count(*) AS n FROM mock_orders GROUP BY client_order_id HAVING n > 1').all();
    expect(doubled).toEqual([]);
    const statuses = db.prepare("SELECT status, count(*) AS n FROM signals GROUP BY status").all() as Array<{ status: string; n: number }>;
    expect(statuses.filter((s) => s.status === 'accepted' || s.status === 'executing')).toEqual([]);
    // Every executed signal has its order at the broker, exactly once.
    const missing = db.prepare("SELECT s.id FROM signals s LEFT JOIN mock_orders o ON o.client_order_id = s.client_order_id WHERE s.status = 'executed' AND o.client_order_id IS NULL").all();
    expect(missing).toEqual([]);
  } finally {
    db.close();
  }
}, 180_000);
