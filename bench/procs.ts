/**
 * The benchmark's processes: the servers pinned to core 0, this process (the load generator)
 * pinned to core 1, their resident memory, and sluice's start with its own config.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Compiled to build/bench/ (tsconfig.bench.json); sluice itself runs from the shipped dist/. */
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const CEILING = fileURLToPath(new URL('./ceiling.js', import.meta.url));
export const ADMIN = 'bench-admin-token';

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
/** Pinning needs two cores and taskset; without them the figures say so. */
export const PINNED = hasTaskset && cpus().length >= 2;

/** Pins this process (every thread) to core 1: the load generator never shares the server's core. */
export function pinSelf(): void {
  if (PINNED) spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
}

export interface Proc {
  child: ChildProcess;
  url: string;
  readyMs: number;
}

/** Spawns node on core 0 and waits until `url` answers `path`. */
async function spawnServer(args: string[], env: Record<string, string>, url: string, path: string): Promise<Proc> {
  const [cmd, argv] = PINNED ? ['taskset', ['-c', '0', process.execPath, ...args]] : [process.execPath, args];
  const t0 = performance.now();
  const child = spawn(cmd, argv, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 3000; i += 1) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}${path}`)).ok) return { child, url, readyMs: performance.now() - t0 };
    } catch {
      // not listening yet
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`${args.join(' ')} did not become ready`);
}

export async function startCeiling(): Promise<Proc> {
  const port = await freePort();
  return spawnServer([CEILING, String(port)], {}, `http://127.0.0.1:${port}`, '/');
}

export type SluiceOptions = {
  /** Holds the config file (and the SQLite database). */
  dir: string;
  secret: string;
  logLevel: 'info' | 'warn';
} & (
  | {
      /** SQLite: database file name inside `dir`. */
      db: string;
    }
  | {
      /** Any other database sluice takes as DATABASE_URL (a `postgres://` URL). */
      databaseUrl: string;
    }
);

/** Starts sluice (mock connector, one standard-webhooks source) and waits for /readyz. */
export async function startSluice(o: SluiceOptions): Promise<Proc> {
  const port = await freePort();
  const databaseUrl = 'databaseUrl' in o ? o.databaseUrl : `file:${join(o.dir, o.db)}`;
  return spawnServer(
    [join(DIST, 'cli.js'), 'start', '--config', sluiceConfig(o.dir, o.secret)],
    { PORT: String(port), DATABASE_URL: databaseUrl, SLUICE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: o.logLevel },
    `http://127.0.0.1:${port}`,
    '/readyz',
  );
}

export async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.kill('SIGTERM');
  await exited;
}

function sluiceConfig(dir: string, secret: string): string {
  const path = join(dir, 'bench.json');
  writeFileSync(
    path,
    JSON.stringify({
      sources: { bench: { auth: { scheme: 'standard-webhooks', secrets: [secret] } } },
      policy: {
        max_signal_age_seconds: null,
        max_orders_per_minute: null,
        max_order_notional: null,
        max_position_notional: { default: null },
        max_gross_exposure: null,
        max_daily_loss: null,
      },
      execution: { reconcile_interval_seconds: 3600 },
    }),
  );
  return path;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function status(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number {
  if (pid === undefined) return 0;
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return m?.[1] === undefined ? 0 : Number(m[1]) / 1024;
  } catch {
    return 0;
  }
}
/** Peak resident set (Linux VmHWM), MB. */
export const peakRssMb = (p: Proc): number => status(p.child.pid, 'VmHWM');
/** Resident set now, MB. */
export const rssMb = (p: Proc): number => status(p.child.pid, 'VmRSS');

/** CPU seconds (user + system) the process used so far (Linux /proc/PID/stat). */
export function cpuSeconds(p: Proc): number {
  try {
    const fields = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Bytes of a SQLite database and its WAL. */
export function databaseBytes(dir: string, db: string): number {
  return [db, `${db}-wal`].reduce((sum, f) => {
    try {
      return sum + statSync(join(dir, f)).size;
    } catch {
      return sum;
    }
  }, 0);
}
