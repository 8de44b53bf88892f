/**
 * `GET /admin/audit/verify` (docs/http-api.md#audit, docs/guarantees.md#event-log): the hash chain of an untouched log verifies with
 * its entry count and head hash; a row changed or removed behind sluice's back (through the
 * SQLite file, with the server stopped) is reported at the first bad sequence number after a
 * restart on the same file.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { READ_TOKEN, bearer, eventsAfter, opsConfig, readJson, sendFinal } from './helpers.js';

type Verdict = { ok: true; entries: number; head: string } | { ok: false; broken_at: number };

async function verify(s: TestServer): Promise<Verdict> {
  return readJson<Verdict>(await fetch(`${s.url}/admin/audit/verify`, { headers: bearer(READ_TOKEN) }));
}

const start = (dir: string) => startTestServer({ dir, config: opsConfig(), env: { SLUICE_READ_TOKEN: READ_TOKEN } });

/** A log of at least 9 entries: the initial mode, two executed signals (4 each). */
async function populatedServer(): Promise<{ dir: string; head: number }> {
  const dir = tempDir('sluice-audit-');
  const s = await start(dir);
  try {
    await sendFinal(s, { instrument: 'AUD' });
    await sendFinal(s, { instrument: 'AUD' });
    const events = await eventsAfter(s, 0);
    const last = events[events.length - 1];
    if (last === undefined) throw new Error('empty event log');
    expect(last.seq).toBeGreaterThanOrEqual(9);
    expect(await verify(s)).toEqual({ ok: true, entries: last.seq, head: last.hash });
    return { dir, head: last.seq };
  } finally {
    await s.close();
  }
}

/** Runs one statement on the stopped server's database file. */
function tamper(dir: string, sql: string): void {
  const db = new Database(join(dir, 'sluice.db'), { fileMustExist: true });
  try {
    expect(db.prepare(sql).run().changes).toBe(1);
  } finally {
    db.close();
  }
}

async function verdictAfterRestart(dir: string): Promise<Verdict> {
  const s = await start(dir);
  try {
    return await verify(s);
  } finally {
    await s.close();
  }
}

describe('GET /admin/audit/verify', () => {
  test('ok with entries and head on an untouched log, also after a restart', async () => {
    const { dir, head } = await populatedServer();
    const again = await verdictAfterRestart(dir);
    expect(again).toMatchObject({ ok: true, entries: head });
  });

  test('a changed row is reported at its seq', async () => {
    const { dir } = await populatedServer();
    tamper(dir, `UPDATE events SET data = '{"x":1}' WHERE seq = 3`);
    expect(await verdictAfterRestart(dir)).toEqual({ ok: false, broken_at: 3 });
  });

  test('a deleted row is reported at its seq', async () => {
    const { dir } = await populatedServer();
    tamper(dir, 'DELETE FROM events WHERE seq = 4');
    expect(await verdictAfterRestart(dir)).toEqual({ ok: false, broken_at: 4 });
  });
});
