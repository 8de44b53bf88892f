/**
 * `--postgres URL`: a fresh database per run on the server `URL` points at, so that no run sees
 * another's rows, and its size once sluice is done with it.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export interface BenchDatabase {
  /** URL of the fresh database (the given URL with its database name replaced). */
  url: string;
  /** `pg_database_size` of the fresh database, bytes. */
  bytes(): Promise<number>;
  /** Drops the fresh database, ending any connection still on it. */
  drop(): Promise<void>;
}

const quiet = { max: 1, onnotice: () => undefined };

export async function createDatabase(url: string): Promise<BenchDatabase> {
  const name = `sluice_bench_${randomBytes(6).toString('hex')}`;
  const admin = postgres(url, quiet);
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const fresh = new URL(url);
  fresh.pathname = `/${name}`;
  return {
    url: fresh.toString(),
    async bytes() {
      const sql = postgres(fresh.toString(), quiet);
      try {
        const [row] = await sql<Array<{ bytes: string }>>`select pg_database_size(current_database()) as bytes`;
        return Number(row?.bytes ?? 0);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
    async drop() {
      const sql = postgres(url, quiet);
      try {
        // FORCE (PostgreSQL 13+): a sluice killed mid-run may leave its connections behind.
        await sql.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
