/**
 * A database that is up but busy (docs/http-api.md#error-body, docs/http-api.md#status): on a real
 * PostgreSQL, another connection holds a lock that an admin write needs, so the write ends on
 * sluice's `statement_timeout` (57014) or, with a `lock_timeout` set on the database, on
 * `lock_not_available` (55P03). Either answers `503 unavailable` with `Retry-After`, never a 500.
 * `GET /admin/status` meanwhile answers what it last read, with the time it read it, or `null`
 * for what it never read: it never makes a mode up.
 */
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const suite = POSTGRES_URL === undefined ? describe.skip : describe;

let db: TestDatabase | null = null;
let server: TestServer | null = null;
let locker: postgres.Sql | null = null;

afterEach(async () => {
  await locker?.end({ timeout: 1 });
  locker = null;
  await server?.close();
  server = null;
  await db?.drop();
  db = null;
});

/**
 * Takes `runtime_state` (mode and breakers live there) in ACCESS EXCLUSIVE mode on a connection
 * of the test's own and holds it until `release()`: every read or write of the mode waits.
 */
async function holdModeLock(url: string): Promise<{ release: () => Promise<void> }> {
  locker ??= postgres(url, { max: 1, onnotice: () => undefined });
  const conn = await locker.reserve();
  await conn`begin`;
  await conn`lock table runtime_state in access exclusive mode`;
  return {
    release: async () => {
      await conn`rollback`;
      conn.release();
    },
  };
}

interface ErrorAnswer {
  error: { code: string; message: string };
}

interface StatusAnswer {
  status: string;
  mode: string | null;
  mode_changed_at: string | null;
  read_at: string | null;
  queue: { accepted: number } | null;
  breakers: Record<string, unknown>;
  degraded: Array<{ component: string }>;
}

const setMode = (s: TestServer, mode: string) => s.admin('/mode', { body: { mode, reason: 'busy database test' } });

suite('a busy PostgreSQL on admin routes', () => {
  test('an admin write that runs into statement_timeout on a held lock: 503 unavailable with Retry-After, then 200 once the lock is gone', async () => {
    db = await createTestDatabase();
    server = await startTestServer({ env: { DATABASE_URL: db.url } });
    const lock = await holdModeLock(db.url);
    const res = await setMode(server, 'paused');
    const text = await res.text();
    expect(res.status, text).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    const body = JSON.parse(text) as ErrorAnswer;
    expect(body.error.code).toBe('unavailable');
    expect(body.error.message).toMatch(/busy/);
    expect(server.logs.some((l) => l.includes('"code":"57014"'))).toBe(true);
    await lock.release();
    const after = await setMode(server, 'paused');
    expect(after.status, await after.text()).toBe(200);
  });

  test('with lock_timeout set on the database, the same write fails with 55P03 lock_not_available: 503 with Retry-After', async () => {
    db = await createTestDatabase();
    const admin = postgres(db.url, { max: 1, onnotice: () => undefined });
    const name = new URL(db.url).pathname.slice(1);
    // Sessions opened from now on (all of sluice's) give up on a lock after 200 ms.
    await admin.unsafe(`alter database ${name} set lock_timeout = '200ms'`);
    await admin.end();
    server = await startTestServer({ env: { DATABASE_URL: db.url } });
    const lock = await holdModeLock(db.url);
    const res = await server.admin('/breakers/mock/reset', { method: 'POST' });
    const text = await res.text();
    expect(res.status, text).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((JSON.parse(text) as ErrorAnswer).error.code).toBe('unavailable');
    expect(server.logs.some((l) => l.includes('"code":"55P03"'))).toBe(true);
    await lock.release();
  });

  test('GET /admin/status cannot read the mode: null (never read), then the last read with its time, status degraded', async () => {
    db = await createTestDatabase();
    server = await startTestServer({ env: { DATABASE_URL: db.url } });
    // Nothing read yet: no mode, no queue, no breakers are made up.
    let lock = await holdModeLock(db.url);
    const first = (await (await server.admin('/status')).json()) as StatusAnswer;
    expect(first).toMatchObject({ status: 'degraded', mode: null, mode_changed_at: null, read_at: null, queue: null, breakers: {} });
    expect(first.degraded.map((d) => d.component)).toContain('database');
    await lock.release();

    const good = (await (await server.admin('/status')).json()) as StatusAnswer;
    expect(good.mode).toBe('enabled');
    expect(good.read_at).not.toBeNull();

    lock = await holdModeLock(db.url);
    const stale = (await (await server.admin('/status')).json()) as StatusAnswer;
    await lock.release();
    // The last values read, and when they were read.
    expect(stale).toMatchObject({ status: 'degraded', mode: 'enabled', mode_changed_at: good.mode_changed_at, read_at: good.read_at, queue: good.queue });
    expect(stale.degraded.map((d) => d.component)).toContain('database');
  });
});
