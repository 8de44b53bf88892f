/**
 * Start-up guards (docs/guarantees.md#several-instances-on-postgresql, docs/configuration.md#database):
 * a second process on the same SQLite file is refused with a message while the first keeps
 * serving, and a start after kill -9 of the holder works (the OS lock died with it); an
 * unreachable PostgreSQL is retried with backoff for a bounded time, then named by host:port and
 * never by its password; an error that waiting cannot cure ends the start at once; a config file
 * without sources warns that every webhook will be 404.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { connectRetryDelayMs, DatabaseInUseError, lockSqliteFile, openStoreForServing, postgresTarget } from '../../src/store/open.js';
import { POSTGRES_URL } from '../helpers/postgres.js';
import { ADMIN_TOKEN, adminFetch, sendTo, spawnSluice, startTestServer, tempDir, WEBHOOK_SECRET, writeConfig } from '../helpers/server.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

function captureLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) }));
  return { logger, lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('one process per SQLite file', () => {
  test('a second start on the same file is refused with a clear message; the first keeps serving; after kill -9 of the first, a start works', async () => {
    const dir = tempDir();
    const first = await spawnSluice({ dir });
    try {
      const second = await runCli(['start'], {
        PORT: '0',
        HOST: '127.0.0.1',
        // The same file by another spelling of its path.
        DATABASE_URL: `file:${dir}/./sluice.db`,
        SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
        SLUICE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      });
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(/^sluice: another sluice is running on the SQLite database .*sluice\.db \(it holds .*sluice\.db\.lock\): one SQLite file serves one process\./);
      expect(second.stderr).toContain('several instances need PostgreSQL');
      expect(second.stdout).not.toContain('sluice ready');

      // The first is untouched: ready, and accepting.
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
      const res = await sendTo(first.url, { id: 'lock-1', action: 'buy', instrument: 'AAPL', quantity: 1, price: 10 });
      expect(res.status).toBe(202);
      const { signal_id } = (await res.json()) as { signal_id: string };

      first.proc.kill('SIGKILL');
      await first.exited;
      // The lock file is still there; the lock is not (the OS dropped it with the process).
      const third = await spawnSluice({ dir });
      try {
        expect((await adminFetch(third.url, `/signals/${signal_id}`)).status).toBe(200);
      } finally {
        third.proc.kill('SIGTERM');
        expect(await third.exited).toBe(0);
      }
    } finally {
      first.proc.kill('SIGKILL');
    }
  }, 60_000);

  test('in one process: a second lock on the file is refused until the first is released', () => {
    const path = join(tempDir(), 'x.db');
    const lock = lockSqliteFile(path);
    expect(() => lockSqliteFile(path)).toThrow(DatabaseInUseError);
    lock.release();
    lockSqliteFile(path).release();
  });

  test('a test server closed cleanly releases the lock for the next start on the same directory', async () => {
    const dir = tempDir();
    await (await startTestServer({ dir })).close();
    await (await startTestServer({ dir })).close();
  });
});

describe('an unreachable PostgreSQL at start', () => {
  const PASSWORD = 'pa55-word-never-shown';

  test('connect retry delays: 0.5 s doubling, at most 5 s', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(connectRetryDelayMs)).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });

  test('host:port of a URL, never the user or password', () => {
    expect(postgresTarget(`postgres://u:${PASSWORD}@db.internal:6543/x`)).toBe('db.internal:6543');
    expect(postgresTarget(`postgresql://u:${PASSWORD}@db.internal/x`)).toBe('db.internal:5432');
  });

  test('refused connections are retried with backoff until the timeout, then named by host:port without the password', async () => {
    // A port nothing listens on: every connect is refused at once. The clock is injected.
    let clock = 0;
    const sleeps: number[] = [];
    const { logger, lines } = captureLogger();
    const err = await openStoreForServing(`postgres://sluice:${PASSWORD}@127.0.0.1:1/sluice`, {
      logger,
      connectTimeoutMs: 10_000,
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('DatabaseOpenError');
    expect(sleeps).toEqual([500, 1000, 2000, 4000]);
    expect(err?.message).toMatch(/^cannot reach PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED.*\); gave up after 5 attempts over 10 s \(database\.connect_timeout_seconds\)/);
    const warnings = lines().filter((l) => l.msg === 'database unreachable at start; retrying');
    expect(warnings.map((w) => [w.database, w.attempt, w.retry_in_ms])).toEqual([
      ['127.0.0.1:1', 1, 500],
      ['127.0.0.1:1', 2, 1000],
      ['127.0.0.1:1', 3, 2000],
      ['127.0.0.1:1', 4, 4000],
    ]);
    expect(JSON.stringify(lines())).not.toContain(PASSWORD);
    expect(err?.message).not.toContain(PASSWORD);
  });

  test('sluice start: exit 2 naming host:port and the timeout, never the password', async () => {
    const dir = tempDir();
    const configPath = writeConfig(dir, { database: { connect_timeout_seconds: 1 } });
    const out = await runCli(['start', '--config', configPath], { PORT: '0', DATABASE_URL: `postgres://sluice:${PASSWORD}@127.0.0.1:1/sluice`, SLUICE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^sluice: cannot reach PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED.*\); gave up after \d+ attempts? over 1 s/);
    expect(out.stdout).toContain('database unreachable at start; retrying');
    expect(out.stdout + out.stderr).not.toContain(PASSWORD);
  });

  test.skipIf(POSTGRES_URL === undefined)('an error waiting cannot cure (no such database) ends the start at once, without the password', async () => {
    const url = new URL(POSTGRES_URL ?? 'postgres://x@127.0.0.1/x');
    url.password = PASSWORD;
    url.pathname = '/sluice_no_such_database';
    const sleeps: number[] = [];
    const err = await openStoreForServing(url.toString(), { logger: captureLogger().logger, connectTimeoutMs: 60_000, sleep: async (ms) => void sleeps.push(ms) }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(sleeps).toEqual([]);
    expect(err?.message).toMatch(/^cannot use PostgreSQL at [^ ]+: 3D000: database "sluice_no_such_database" does not exist \(check DATABASE_URL/);
    expect(err?.message).not.toContain(PASSWORD);
  });
});

describe('a config file without sources', () => {
  test('warns at start that every webhook will be 404, and it is', async () => {
    const s = await startTestServer({ config: { policy: { max_orders_per_minute: 10 } } });
    try {
      const warning = s.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.startsWith('the config file defines no sources'));
      expect(warning?.level).toBe(40);
      expect(warning?.msg).toContain('every POST /webhooks/… will answer 404 unknown_source');
      expect((await s.send({ id: 'x', action: 'buy', instrument: 'AAPL', quantity: 1 })).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  test('no warning with sources, nor without a config file', async () => {
    for (const config of [undefined, { sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } } }]) {
      const s = await startTestServer(config === undefined ? {} : { config });
      try {
        expect(s.logs.some((l) => l.includes('defines no sources'))).toBe(false);
      } finally {
        await s.close();
      }
    }
  });
});
