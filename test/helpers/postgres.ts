/**
 * PostgreSQL for tests: a fresh database per test on the server named by
 * SLUICE_TEST_POSTGRES_URL (dropped afterwards). Tests that need it are skipped, visibly, when
 * the variable is unset.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export const POSTGRES_URL = process.env.SLUICE_TEST_POSTGRES_URL;

export interface TestDatabase {
  url: string;
  drop: () => Promise<void>;
}

/** A new, empty database on the test server; `drop()` removes it even if connections remain. */
export async function createTestDatabase(prefix = 'sluice_t'): Promise<TestDatabase> {
  if (POSTGRES_URL === undefined) throw new Error('SLUICE_TEST_POSTGRES_URL is not set');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = postgres(POSTGRES_URL, { max: 1, onnotice: () => undefined });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
