/**
 * SIGTERM when stdout is a closed pipe (docs/guarantees.md#shutdown): `sluice start | head -c 1`
 * after head has exited. Every log line then fails with EPIPE; one SIGTERM must still stop the
 * process with exit code 0 (the exit-time log flush used to retry the broken pipe forever).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ADMIN_TOKEN, eventually, tempDir, WEBHOOK_SECRET } from '../helpers/server.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

test('stdout piped into a process that exits: one SIGTERM, exit code 0', async () => {
  const dir = tempDir();
  const port = await freePort();
  // The reader: takes the first byte of the first log line and exits, closing the pipe.
  const reader = spawn('head', ['-c', '1'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const readerExited = new Promise<void>((resolve) => reader.once('exit', () => resolve()));
  const sluice = spawn(process.execPath, [CLI, 'start'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `file:${join(dir, 'sluice.db')}`,
      SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
      SLUICE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', reader.stdin, 'pipe'],
  });
  // Only sluice writes into the pipe now.
  reader.stdin.destroy();
  let stderr = '';
  sluice.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => sluice.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 20_000, 'sluice ready');
    await readerExited;
    // The shutdown's own log lines are the first to meet the closed pipe.
    sluice.kill('SIGTERM');
    const outcome = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))]);
    expect(outcome, stderr).toEqual({ code: 0, signal: null });
  } finally {
    sluice.kill('SIGKILL');
  }
}, 60_000);
