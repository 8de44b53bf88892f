/**
 * A disk that refuses writes under a running sluice (docs/guarantees.md#durability): the child
 * runs with a file-size limit (`ulimit -f`), so a delivery large enough to spill SQLite's page
 * cache into the WAL makes SQLite roll back the whole group-commit transaction, in the middle
 * of a stream of small deliveries and the executor's own writes. Every answer is 202 or 503;
 * after a restart without the limit the audit verifies, every 202 is in the database, and no
 * 503 is (with `on_database_down: reject` a 503 promises that nothing was recorded).
 */
import { request } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { fileSizeLimited } from '../helpers/small-disk.js';
import { adminFetch, durabilityConfig, killChild, spawnSluice, tempDir, WEBHOOK_SECRET, type Child } from '../helpers/server.js';

let child: Child | null = null;
afterEach(async () => {
  await killChild(child);
  child = null;
});

const MB = 1024 * 1024;

/**
 * One delivery on a connection of its own: the child is slow while it chews 18 MB bodies, and a
 * reused keep-alive connection can be closed by the server just as a request goes out on it.
 */
function post(url: string, body: unknown): Promise<{ status: number; body: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/webhooks/default`,
      { method: 'POST', agent: false, headers: { authorization: `Bearer ${WEBHOOK_SECRET}`, 'content-type': 'application/json', 'content-length': payload.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('SQLite on a disk that refuses writes', () => {
  test('a write that fails fails whole: 202 or 503 only, and after a restart every 202 is there, no 503 is, and the audit verifies', async () => {
    const dir = tempDir();
    const configPath = durabilityConfig(dir, {
      server: { body_limit_bytes: 64 * MB, shutdown_timeout_seconds: 2 },
      degraded: { on_database_down: 'reject' },
    });
    // No file of the child may outgrow 8 MB: room for small writes, not for an 18 MB spill.
    child = await spawnSluice({ dir, configPath, wrap: (argv) => ({ command: 'sh', args: fileSizeLimited(8 * MB, argv) }) });
    const url = child.url;
    const run = Date.now().toString(36);
    const answers: Array<{ key: string; status: number; code: string }> = [];
    const send = async (key: string, extra: Record<string, unknown>) => {
      const res = await post(url, { id: key, action: 'buy', instrument: `D${answers.length % 32}`, quantity: 1, price: 10, ...extra });
      const body = JSON.parse(res.body) as { status?: string; error?: { code: string } };
      answers.push({ key, status: res.status, code: body.status ?? body.error?.code ?? '' });
    };
    let stop = false;
    const small = Array.from({ length: 16 }, async (_, lane) => {
      for (let k = 0; !stop; k += 1) await send(`df-${run}-${lane}-${k}`, {});
    });
    const huge = (async () => {
      for (let k = 0; k < 4; k += 1) await send(`df-${run}-huge-${k}`, { pad: 'x'.repeat(18 * MB) });
    })();
    await huge;
    stop = true;
    await Promise.all(small);

    expect(answers.filter((a) => a.status !== 202 && a.status !== 503)).toEqual([]);
    expect(answers.filter((a) => a.status === 503).every((a) => a.code === 'unavailable')).toBe(true);
    // The huge ones could not be written; the small ones mostly could.
    expect(answers.filter((a) => a.key.includes('huge')).map((a) => a.status)).toEqual([503, 503, 503, 503]);
    expect(answers.filter((a) => a.status === 202).length).toBeGreaterThan(5);

    child.proc.kill('SIGTERM');
    await child.exited;
    child = await spawnSluice({ dir, configPath });
    const verify = (await (await adminFetch(child.url, '/audit/verify')).json()) as { ok: boolean };
    expect(verify).toMatchObject({ ok: true });
    child.proc.kill('SIGTERM');
    await child.exited;

    const db = new Database(join(dir, 'sluice.db'), { readonly: true });
    try {
      const stored = new Set(db.prepare('SELECT idempotency_key FROM signals').all().map((r) => (r as { idempotency_key: string }).idempotency_key));
      expect(answers.filter((a) => a.status === 202 && !stored.has(a.key)).map((a) => a.key)).toEqual([]);
      expect(answers.filter((a) => a.status === 503 && stored.has(a.key)).map((a) => a.key)).toEqual([]);
    } finally {
      db.close();
    }
  }, 120_000);
});
