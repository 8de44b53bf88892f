/**
 * `/readyz` (docs/http-api.md#health) when the database answers reads but refuses writes: a real full
 * disk (the SQLite file on a small tmpfs, filled up) turns it 503 while webhooks cannot be
 * recorded, and 200 again once space is freed. Mounting needs root (as on CI); without it the
 * test is skipped with that reason in its name.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers/server.js';

function tryMountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const mountPoint = join(tempDir('sluice-readyz-'), 'disk');
mkdirSync(mountPoint);
const mounted = tryMountTmpfs(mountPoint, '4m');

/** Writes zeros until the file system refuses (ENOSPC): a full disk, not a simulated one. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

describe('/readyz when writes fail', () => {
  let s: TestServer;
  beforeAll(async () => {
    if (!mounted) return;
    s = await startTestServer({
      env: { DATABASE_URL: `file:${join(mountPoint, 'sluice.db')}` },
      // The spool is off so that a refused write is a 503 to the sender too.
      config: { sources: { default: { auth: { scheme: 'token', secrets: ['test-webhook-secret'] } } }, degraded: { on_database_down: 'reject' } },
    });
  });
  afterAll(async () => {
    if (mounted) {
      rmSync(join(mountPoint, 'filler'), { force: true });
      await s?.close();
      execFileSync('umount', [mountPoint]);
    }
  });

  test.skipIf(!mounted)(
    mounted ? 'a full disk: /readyz 503 "database writes fail" while reads still work; 200 again once space is freed' : 'SKIPPED: cannot mount a tmpfs here (needs root) to fill a disk — a full disk turns /readyz 503',
    async () => {
      expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
      fillDisk(join(mountPoint, 'filler'));

      const refused = await eventually(async () => {
        const res = await fetch(`${s.url}/readyz`);
        return res.status === 503 ? ((await res.json()) as { status: string; reason: string }) : undefined;
      }, 10_000, '/readyz 503 on a full disk');
      expect(refused).toEqual({ status: 'unavailable', reason: 'database writes fail' });
      // Reads still work: this is not "the database is down".
      expect((await s.admin('/signals?limit=1')).status).toBe(200);
      // And a delivery cannot be recorded, which is what readiness promises.
      expect((await s.send({ id: 'full-1', action: 'buy', instrument: 'AAPL', quantity: 1, price: 10 })).status).toBe(503);

      rmSync(join(mountPoint, 'filler'));
      await eventually(async () => ((await fetch(`${s.url}/readyz`)).status === 200 ? true : undefined), 15_000, '/readyz 200 after space is freed');
    },
    40_000,
  );
});
