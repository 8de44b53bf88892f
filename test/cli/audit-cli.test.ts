/**
 * `sluice audit verify` end to end (docs/configuration.md#commands, docs/guarantees.md#event-log): the built CLI reads DATABASE_URL, walks the
 * event log's hash chain, exits 0 printing `ok …` on an untouched database and 1 naming the
 * first bad sequence number after a row was changed or deleted behind sluice's back. Needs
 * `npm run build` first (as `npm test` does).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, tempDir } from '../helpers/server.js';
import { eventsAfter, opsConfig, sendFinal } from '../ops/helpers.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function auditVerify(dir: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'audit', 'verify'],
      { timeout: 15_000, env: { PATH: process.env.PATH ?? '', DATABASE_URL: `file:${join(dir, 'sluice.db')}` } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A stopped server's directory with a log of the initial mode and two executed signals. */
async function populatedDir(): Promise<{ dir: string; entries: number; head: string }> {
  const dir = tempDir('sluice-audit-cli-');
  const s = await startTestServer({ dir, config: opsConfig() });
  try {
    await sendFinal(s, { instrument: 'CLI' });
    await sendFinal(s, { instrument: 'CLI' });
    const events = await eventsAfter(s, 0);
    const last = events[events.length - 1];
    if (last === undefined) throw new Error('empty event log');
    return { dir, entries: last.seq, head: last.hash };
  } finally {
    await s.close();
  }
}

function tamper(dir: string, sql: string): void {
  const db = new Database(join(dir, 'sluice.db'), { fileMustExist: true });
  try {
    expect(db.prepare(sql).run().changes).toBe(1);
  } finally {
    db.close();
  }
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
});

describe('sluice audit verify', () => {
  test('exits 0 with `ok`, the entry count and the head on an untouched database', async () => {
    const { dir, entries, head } = await populatedDir();
    const result = await auditVerify(dir);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`ok ${entries} entries, head ${head}\n`);
    expect(result.code).toBe(0);
  });

  test('exits 1 naming seq 3 after that row was changed', async () => {
    const { dir } = await populatedDir();
    tamper(dir, `UPDATE events SET data = '{"x":1}' WHERE seq = 3`);
    const result = await auditVerify(dir);
    expect(result.stdout).toBe('broken at seq 3\n');
    expect(result.code).toBe(1);
  });

  test('exits 1 naming seq 4 after that row was deleted', async () => {
    const { dir } = await populatedDir();
    tamper(dir, 'DELETE FROM events WHERE seq = 4');
    const result = await auditVerify(dir);
    expect(result.stdout).toBe('broken at seq 4\n');
    expect(result.code).toBe(1);
  });
});
