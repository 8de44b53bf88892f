/**
 * Prepared statements on PostgreSQL (store.ts `preparing`). drizzle runs every query through
 * postgres.js's `unsafe`, which does not prepare. Inside a transaction or savepoint (a reserved
 * connection) `preparing` makes it prepare: the statement shows in the session's own
 * pg_prepared_statements. Pooled queries outside a transaction are left unprepared (a prepared
 * one lets postgres.js pipeline a BEGIN onto a busy connection). A statement the server refuses
 * after another instance's migration changed its table fails the transaction with an error
 * `isStalePreparedStatement` recognizes, and `transact` runs it again. One pooled connection, so
 * every query of a test runs in the same session. Statements built once (statements.ts `run`) run on
 * the connection they are given: a transaction's, prepared, or the pool's, unprepared.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { isStalePreparedStatement } from '../../src/store/postgres/connection.js';
import { advisoryLocks, readState, writeState } from '../../src/store/postgres/context.js';
import { builder, run, statement, type Db } from '../../src/store/postgres/statements.js';
import { ph } from '../../src/store/placeholders.js';
import * as schema from '../../src/store/postgres/schema.js';
import { createPostgresStore, preparing } from '../../src/store/postgres/store.js';
import { createTransact } from '../../src/store/postgres/transact.js';
import { verifyAuditChain } from '../../src/ops/audit.js';

const POSTGRES_URL = process.env.SLUICE_TEST_POSTGRES_URL;

test('statement() refuses a prepared query that does not keep its client where run() sets it', () => {
  expect(() => statement({ execute: async () => [] })).toThrow(/`client` and `prepare`/);
});

if (POSTGRES_URL === undefined) {
  describe.skip('prepared statements (set SLUICE_TEST_POSTGRES_URL to run)', () => {
    test('skipped', () => undefined);
  });
} else {
  const url = POSTGRES_URL;
  const clients: postgres.Sql[] = [];
  const client = () => {
    const c = postgres(url, { max: 1, onnotice: () => undefined });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end({ timeout: 5 })));
  });

  /** The statements prepared in the (one) session, but postgres.js's own type lookup and this query. */
  const preparedIn = async (c: postgres.Sql | postgres.TransactionSql): Promise<string[]> =>
    (
      await c.unsafe<Array<{ statement: string }>>(
        "select statement from pg_prepared_statements where statement not like '%pg_prepared_statements%' and statement not like '%pg_catalog.pg_type%'",
      )
    ).map((r) => r.statement);

  const QUERY = 'select $1::int + 1 as n';

  describe('preparing(client)', () => {
    test('outside a transaction nothing is prepared, as with the plain client', async () => {
      const plain = client();
      const wrapped = preparing(plain);
      expect((await wrapped.unsafe(QUERY, [1]))[0]).toEqual({ n: 2 });
      expect((await plain.unsafe(QUERY, [1]))[0]).toEqual({ n: 2 });
      expect(await preparedIn(plain)).toEqual([]);
    });

    test('inside a transaction and a nested savepoint, statements are prepared once and reused', async () => {
      const wrapped = preparing(client());
      const seen = await wrapped.begin(async (tx) => {
        expect((await tx.unsafe(QUERY, [1]))[0]).toEqual({ n: 2 });
        expect((await tx.unsafe(QUERY, [2]))[0]).toEqual({ n: 3 });
        await tx.savepoint(async (sp) => sp.unsafe('select $1::text as s', ['x']));
        return preparedIn(tx);
      });
      expect(seen).toEqual(expect.arrayContaining([QUERY, 'select $1::text as s']));
      expect(seen.filter((s) => s === QUERY)).toHaveLength(1);
    });

    test('drizzle transactions go through it', async () => {
      const plain = client();
      const db = drizzle(preparing(plain));
      const seen = await db.transaction(async (tx) => {
        await tx.execute(sql`select ${7}::int as seven`);
        return tx.execute(sql`select statement from pg_prepared_statements where statement like '%as seven%' and statement not like '%pg_prepared_statements%'`);
      });
      expect(seen).toHaveLength(1);
    });
  });

  describe('a statement a migration made stale', () => {
    test('fails its transaction with an error isStalePreparedStatement knows; transact runs the transaction again', async () => {
      const table = `prep_stale_${randomBytes(4).toString('hex')}`;
      const admin = client();
      await admin.unsafe(`create table ${table} (id int primary key, v int not null)`);
      try {
        await admin.unsafe(`insert into ${table} values (1, 41)`);
        const db = drizzle(preparing(client()), { schema });
        const read = sql`select v from ${sql.identifier(table)} where id = ${1}`;
        // Prepared on the one connection of `db`.
        expect(await db.transaction((tx) => tx.execute(read))).toEqual([{ v: 41 }]);
        await admin.unsafe(`alter table ${table} alter column v type bigint`);
        const failure = await db.transaction((tx) => tx.execute(read)).catch((e: unknown) => e);
        const cause = (failure as { cause?: unknown }).cause ?? failure;
        expect(cause).toMatchObject({ code: '0A000' });
        expect(isStalePreparedStatement(cause)).toBe(true);

        // transact: the statement (prepared afresh: bigint reads as a string), made stale again by
        // another change, fails once and is run again.
        const { transact } = createTransact({ db, locks: advisoryLocks('public'), feed: { began: () => () => undefined, committed: () => undefined }, channel: 'unused', attempts: 3 });
        expect(await transact((tx) => tx.execute(read))).toEqual([{ v: '41' }]);
        await admin.unsafe(`alter table ${table} alter column v type int`);
        expect(await transact((tx) => tx.execute(read))).toEqual([{ v: 41 }]);
      } finally {
        await admin.unsafe(`drop table if exists ${table}`);
      }
    });

    test("the event log's insert made stale: the append runs again and the chain continues", async () => {
      const schemaName = `prep_events_${randomBytes(4).toString('hex')}`;
      // One pooled connection: the second append reuses the insert prepared by the first.
      const store = await createPostgresStore({ url, schema: schemaName, max: 1 });
      const admin = client();
      try {
        await store.appendEvent({ type: 'probe', data: { n: 1 } });
        await store.appendEvent({ type: 'probe', data: { n: 2 } });
        await admin.unsafe(`alter table "${schemaName}".events alter column data type jsonb using data::jsonb`);
        const third = await store.appendEvent({ type: 'probe', data: { n: 3 } });
        expect(third.seq).toBe(3);
        // Back to text, which the store reads (jsonb keeps the same values, so the hashes hold).
        await admin.unsafe(`alter table "${schemaName}".events alter column data type text using data::text`);
        expect(await verifyAuditChain(store)).toMatchObject({ ok: true, entries: 3 });
      } finally {
        await store.close();
        await admin.unsafe(`drop schema if exists "${schemaName}" cascade`);
      }
    });
  });

  describe('statements built once (run)', () => {
    test("run on a transaction executes on the transaction's connection, prepared; on the pool, unprepared", async () => {
      const schemaName = `prep_run_${randomBytes(4).toString('hex')}`;
      const store = await createPostgresStore({ url, schema: schemaName, max: 1 });
      await store.close();
      const plain = postgres(url, { max: 2, onnotice: () => undefined, connection: { search_path: schemaName } });
      clients.push(plain);
      const db: Db = drizzle(preparing(plain), { schema });
      const { transact } = createTransact({ db, locks: advisoryLocks(schemaName), feed: { began: () => () => undefined, committed: () => undefined }, channel: 'unused', attempts: 1 });
      const now = new Date();
      try {
        const seen = await transact(async (tx) => {
          await writeState(tx, 'probe', { n: 1 }, now);
          // Not committed: the pool's other connection does not see it, the transaction does.
          return { inside: await readState(tx, 'probe'), outside: await readState(db, 'probe'), prepared: await preparedIn(tx.$client) };
        });
        expect(seen.inside).toBe('{"n":1}');
        expect(seen.outside).toBeNull();
        expect(seen.prepared).toEqual(expect.arrayContaining([expect.stringContaining('insert into "runtime_state"'), expect.stringContaining('select "value" from "runtime_state"')]));

        // Rolled back with its transaction.
        await expect(
          transact(async (tx) => {
            await writeState(tx, 'rolled', { n: 2 }, now);
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        expect(await readState(db, 'rolled')).toBeNull();
        expect(await readState(db, 'probe')).toBe('{"n":1}');

        // On the pool: nothing prepared, in either of its sessions (two transactions at once hold both).
        const probe = statement(builder.select({ key: schema.runtimeState.key }).from(schema.runtimeState).where(sql`${schema.runtimeState.key} = ${ph('key')}`).prepare('probe'));
        expect(await Promise.all([run(probe, db, { key: 'probe' }), run(probe, db, { key: 'probe' })])).toEqual([[{ key: 'probe' }], [{ key: 'probe' }]]);
        const sessions = await Promise.all([plain.begin(async (tx) => preparedIn(tx)), plain.begin(async (tx) => preparedIn(tx))]);
        expect(sessions.flat().filter((s) => s.startsWith('select "key" from "runtime_state"'))).toEqual([]);
      } finally {
        await plain.unsafe(`drop schema if exists "${schemaName}" cascade`);
      }
    });
  });
}
