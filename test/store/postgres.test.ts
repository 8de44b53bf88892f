/**
 * The PostgreSQL store: the shared contract suite, each test in a fresh schema of the database
 * named by SLUICE_TEST_POSTGRES_URL, then what only a shared database has: two instances (two
 * pools) on one schema racing for one key, appending to one chain, feeding each other's
 * subscribers, sharing an exposure cap, booking an order's fill reports once; and reconnecting
 * after the server dropped the pool's connections. Without the variable the whole file is
 * reported as skipped.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import type { Decision } from '../../src/domain/types.js';
import { verifyAuditChain } from '../../src/ops/audit.js';
import { onFailure } from '../../src/domain/breaker.js';
import { PG_BIN, startPgCluster } from '../helpers/pg-cluster.js';
import type { StoredGateState } from '../../src/domain/gate-state.js';
import { createPostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/store.js';
import type { EventRecord, SignalRecord, Store } from '../../src/store/store.js';
import { allow, DAY, gateInput, must, newSignal, redelivery, reject, storeContractTests } from './contract.js';
import { placeOpen, reportOf } from './contract/orders-helpers.js';

const POSTGRES_URL = process.env.SLUICE_TEST_POSTGRES_URL;

const freshSchema = (): string => `sluice_t_${randomBytes(6).toString('hex')}`;
const freshApp = (): string => `sluice-test-${randomBytes(4).toString('hex')}`;

if (POSTGRES_URL === undefined || POSTGRES_URL === '') {
  describe.skip('postgres store (set SLUICE_TEST_POSTGRES_URL to run)', () => {
    test('contract suite and multi-instance tests', () => {});
  });
} else {
  const url = POSTGRES_URL;
  // One admin connection for the whole file: drops the test schemas, terminates backends.
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  afterAll(async () => {
    await admin.end({ timeout: 5 });
  });
  const dropSchema = async (schema: string): Promise<void> => {
    await admin.unsafe(`drop schema if exists "${schema}" cascade`);
  };
  const open = (schema: string, o: Partial<PostgresStoreOptions> = {}): Promise<Store> =>
    createPostgresStore({ url, schema, max: 4, ...o });

  storeContractTests('postgres', async ({ now }) => {
    const schema = freshSchema();
    const store = await open(schema, { now });
    const raw = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
    return {
      store,
      raw: {
        run: async (statement) => {
          await raw.unsafe(statement);
        },
        query: async (statement) => [...(await raw.unsafe<Array<Record<string, unknown>>>(statement))],
      },
      cleanup: async () => {
        await raw.end({ timeout: 5 });
        await store.close();
        await dropSchema(schema);
      },
    };
  });

  describe('postgres specifics', () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** Two stores (two pools) on one fresh schema: two sluice instances sharing a database. */
    async function twoInstances(o: Partial<PostgresStoreOptions> = {}): Promise<{ a: Store; b: Store; schema: string }> {
      const schema = freshSchema();
      cleanups.push(() => dropSchema(schema));
      // Opened concurrently: migrations serialize on their advisory lock.
      const [a, b] = await Promise.all([open(schema, o), open(schema, o)]);
      cleanups.push(() => a.close(), () => b.close());
      return { a, b, schema };
    }

    test('50 concurrent deliveries of one key across two instances insert exactly one signal', async () => {
      const { a, b } = await twoInstances({ max: 10 });
      const first = newSignal();
      const deliveries = [first, ...Array.from({ length: 49 }, () => redelivery(first))];
      const outcomes = await Promise.all(deliveries.map((d, i) => (i % 2 === 0 ? a : b).recordSignal(d)));
      const inserted = outcomes.filter((o) => o.kind === 'inserted');
      expect(inserted).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'duplicate')).toHaveLength(49);
      const winner = must(inserted[0], 'the inserted outcome').record.signal_id;
      expect(new Set(outcomes.map((o) => o.record.signal_id))).toEqual(new Set([winner]));
      expect((await b.listSignals({ limit: 100 })).items.map((r) => r.signal_id)).toEqual([winner]);
      expect((await a.listEvents(0, 100)).filter((e) => e.type === 'signal.accepted')).toHaveLength(1);
    });

    test('body-hash deliveries past the window racing on two instances insert one new signal', async () => {
      const { a, b } = await twoInstances();
      const first = newSignal({ key_kind: 'body_hash', idempotency_key: `sha256:${'ef'.repeat(32)}`, window_ms: 60_000 });
      expect((await a.recordSignal(first)).kind).toBe('inserted');
      const late = Array.from({ length: 10 }, () => redelivery(first, { received_at: new Date(first.received_at.getTime() + 120_000) }));
      const outcomes = await Promise.all(late.map((d, i) => (i % 2 === 0 ? a : b).recordSignal(d)));
      expect(outcomes.filter((o) => o.kind === 'inserted')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'duplicate')).toHaveLength(9);
      expect((await a.listSignals({ limit: 100 })).items).toHaveLength(2);
    });

    test('events appended concurrently by two instances form one gap-free chain that verifies', async () => {
      const { a, b } = await twoInstances();
      const appended = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).appendEvent({ type: 'probe', data: { i, by: i % 2 === 0 ? 'a' : 'b' } })),
      );
      expect(appended.map((e) => e.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      // Verbs that append along with their writes take part in the same chain.
      await Promise.all([a.recordSignal(newSignal()), b.recordSignal(newSignal()), a.setMode('paused', 'x', 'admin', new Date()), b.appendEvent({ type: 'probe', data: {} })]);
      const events = await b.listEvents(0, 1000);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
      const last = must(events[events.length - 1], 'the head');
      expect(await verifyAuditChain(a)).toEqual({ ok: true, entries: 64, head: last.hash });
      expect(await verifyAuditChain(b, 7)).toEqual({ ok: true, entries: 64, head: last.hash });
    });

    test('a subscriber on one instance receives the events of both, once each, in seq order', async () => {
      const { a, b } = await twoInstances();
      await a.appendEvent({ type: 'before', data: {} });
      const seen: EventRecord[] = [];
      const off = a.subscribe((event) => seen.push(event));
      // A's own events committed after subscribe() are always delivered; once one has arrived,
      // the subscription is established and the other instance's events follow.
      await a.appendEvent({ type: 'from-a', data: {} });
      await vi.waitFor(() => expect(seen).toHaveLength(1));
      for (let i = 0; i < 5; i += 1) await b.appendEvent({ type: 'from-b', data: { i } });
      await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).appendEvent({ type: 'mixed', data: { i } })));
      const rec = (await b.recordSignal(newSignal())).record;
      await b.gateSignal(gateInput(rec, allow()));
      await vi.waitFor(() => expect(seen).toHaveLength(18), { timeout: 5000 });
      expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 18 }, (_, i) => i + 2));
      expect(seen).toEqual(await a.listEvents(1, 100));
      off();
      await b.appendEvent({ type: 'after', data: {} });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen).toHaveLength(18);
    });

    test('20 concurrent gates across two instances under a 1000 exposure cap allow exactly 10', async () => {
      const { a, b } = await twoInstances({ max: 10 });
      const records: SignalRecord[] = [];
      for (let i = 0; i < 20; i += 1) records.push((await a.recordSignal(newSignal())).record);
      const cap = (state: StoredGateState): Decision =>
        state.reserved_exposure + 100 <= 1000
          ? allow({ quantity: 1, reserved_notional: 100 })
          : reject([{ rule: 'max_gross_exposure', limit: 1000, actual: state.reserved_exposure + 100, message: 'over the cap' }]);
      const outcomes = await Promise.all(records.map((r, i) => (i % 2 === 0 ? a : b).gateSignal(gateInput(r, cap))));
      expect(outcomes.filter((o) => o.kind === 'executing')).toHaveLength(10);
      expect(outcomes.filter((o) => o.kind === 'rejected')).toHaveLength(10);
      expect((await b.getLedger('mock', DAY)).reserved_exposure).toBe(1000);
      expect(await verifyAuditChain(a)).toMatchObject({ ok: true, entries: 40 });
    });

    test('the same fill report applied by two instances at once is booked once, 20 rounds', async () => {
      const { a, b } = await twoInstances({ max: 4 });
      for (let round = 1; round <= 20; round += 1) {
        const { placed } = await placeOpen(a, { instrument: 'AAPL', quantity: 3, price: 100 });
        const report = reportOf(placed, { status: 'filled', filled_quantity: 3, fill_price: 100 }, 2);
        const outcomes = await Promise.all([a.applyOrderUpdate(report), b.applyOrderUpdate(report)]);
        expect(outcomes.filter((o) => o.fill !== null).map((o) => o.fill?.quantity)).toEqual([3]);
        expect(outcomes.filter((o) => o.changed)).toHaveLength(1);
        expect((await b.getLedger('mock', DAY)).positions).toEqual([{ instrument: 'AAPL', quantity: 3 * round, avg_price: 100, last_price: 100 }]);
      }
      expect((await a.getLedger('mock', DAY)).reserved_exposure).toBe(0);
      expect((await a.listEvents(0, 1000)).filter((e) => e.type === 'order.filled')).toHaveLength(20);
      expect(await verifyAuditChain(a)).toMatchObject({ ok: true });
    });

    test('a partial and the final report racing on two instances book the order’s quantity exactly, 20 rounds', async () => {
      const { a, b } = await twoInstances({ max: 4 });
      for (let round = 1; round <= 20; round += 1) {
        const { rec, placed } = await placeOpen(b, { instrument: 'MSFT', quantity: 10, price: 50 });
        const partial = reportOf(placed, { status: 'partially_filled', filled_quantity: 4, fill_price: 50 }, 2);
        const filled = reportOf(placed, { status: 'filled', filled_quantity: 10, fill_price: 50 }, 3);
        const outcomes = await Promise.all([a.applyOrderUpdate(partial), b.applyOrderUpdate(filled), b.applyOrderUpdate(partial), a.applyOrderUpdate(filled)]);
        expect(outcomes.reduce((sum, o) => sum + (o.fill?.quantity ?? 0), 0)).toBe(10);
        expect(await a.ordersOfSignal(rec.signal_id)).toEqual([expect.objectContaining({ status: 'filled', filled_quantity: 10 })]);
      }
      expect((await a.getLedger('mock', DAY)).positions).toEqual([{ instrument: 'MSFT', quantity: 200, avg_price: 50, last_price: 50 }]);
      expect((await a.getLedger('mock', DAY)).reserved_exposure).toBe(0);
    });

    test('concurrent breaker failures from two instances are all counted', async () => {
      const { a, b } = await twoInstances();
      const now = new Date();
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).updateBreaker('mock', (c) => onFailure(c, now, { failure_threshold: 100 }), now, 'timeout')),
      );
      expect((await a.getBreakers()).mock).toEqual({ state: 'closed', consecutive_failures: 20 });
    });

    // Retried: under a loaded suite (three sluice processes and a test cluster on the same two
    // cores) reconnecting after the mass termination can hit the 10 s connect timeout; a
    // genuine failure to reconnect fails every attempt.
    test('after the server terminated its connections, verbs still work and the subscriber still hears', { retry: 2 }, async () => {
      const app = freshApp();
      const { a, b } = await twoInstances({ applicationName: app });
      const seen: EventRecord[] = [];
      a.subscribe((event) => seen.push(event));
      await a.appendEvent({ type: 'subscribed', data: {} });
      await vi.waitFor(() => expect(seen).toHaveLength(1));
      // Warm both pools so that every connection they hold is one the server will drop.
      await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).recordSignal(newSignal())));
      await vi.waitFor(() => expect(seen).toHaveLength(9));

      for (let round = 0; round < 2; round += 1) {
        const killed = await admin<{ pid: number }[]>`
          select pid, pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and application_name = ${app}`;
        // Both pools and the LISTEN connection.
        expect(killed.length).toBeGreaterThanOrEqual(3);
        // At once, without waiting for anything: each verb lands on a dropped connection or a new one.
        const recorded = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).recordSignal(newSignal())));
        expect(recorded.map((o) => o.kind)).toEqual(Array.from({ length: 6 }, () => 'inserted'));
        const first = must(recorded[0], 'a recorded signal').record;
        expect(await b.getSignal(first.signal_id)).toEqual(first);
        expect((await a.listSignals({ limit: 100 })).items.length).toBe(8 + 6 * (round + 1));
        await a.ping();
      }

      // The LISTEN connection came back too: the other instance's events reach the subscriber,
      // and none was lost or repeated meanwhile.
      await vi.waitFor(async () => {
        await b.appendEvent({ type: 'probe', data: {} });
        expect(seen.some((e) => e.type === 'probe')).toBe(true);
      }, { timeout: 10_000, interval: 300 });
      await vi.waitFor(async () => expect(seen.map((e) => e.seq)).toEqual((await a.listEvents(0, 1000)).map((e) => e.seq)));
      expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1));
      expect(await verifyAuditChain(a)).toMatchObject({ ok: true });
    });

    // A server of the test's own, stopped and started again (the shared one must not be).
    test.skipIf(PG_BIN === null)('after a server restart, verbs work again and the subscriber hears the other instance again', async () => {
      const cluster = await startPgCluster();
      cleanups.push(async () => cluster.destroy());
      const schema = freshSchema();
      const [a, b] = await Promise.all([
        createPostgresStore({ url: cluster.url, schema, max: 2 }),
        createPostgresStore({ url: cluster.url, schema, max: 2 }),
      ]);
      cleanups.push(() => a.close(), () => b.close());
      const seen: EventRecord[] = [];
      a.subscribe((event) => seen.push(event));
      await a.appendEvent({ type: 'before', data: {} });
      await vi.waitFor(() => expect(seen).toHaveLength(1));

      cluster.stop();
      await expect(b.appendEvent({ type: 'lost', data: {} })).rejects.toThrow();
      // Longer than postgres.js's own single re-LISTEN attempt.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      cluster.start();

      await vi.waitFor(() => b.appendEvent({ type: 'after', data: {} }), { timeout: 10_000, interval: 200 });
      await vi.waitFor(() => expect(seen.map((e) => e.type)).toEqual(['before', 'after']), { timeout: 10_000 });
      expect(await verifyAuditChain(a)).toMatchObject({ ok: true, entries: 2 });
    });

    test('statement_timeout bounds a gate waiting for its connector’s lock; other connectors go on', async () => {
      const schema = freshSchema();
      cleanups.push(() => dropSchema(schema));
      const store = await open(schema, { statementTimeoutMs: 300 });
      cleanups.push(() => store.close());
      const held = (await store.recordSignal(newSignal())).record;
      const free = (await store.recordSignal(newSignal({ connector: 'alpaca' }))).record;
      // Another session holds the connector lock the gates of `mock` serialize on.
      await admin`select pg_advisory_lock(hashtext(${`sluice:${schema}`}), hashtext('mock'))`;
      try {
        const started = Date.now();
        await expect(store.gateSignal(gateInput(held, allow()))).rejects.toMatchObject({ code: '57014' });
        expect(Date.now() - started).toBeLessThan(3000);
        expect((await store.gateSignal(gateInput(free, allow()))).kind).toBe('executing');
      } finally {
        await admin`select pg_advisory_unlock(hashtext(${`sluice:${schema}`}), hashtext('mock'))`;
      }
      // Rolled back whole: still accepted, no decision, no event; and it goes through now.
      expect(await store.getSignal(held.signal_id)).toEqual(held);
      expect((await store.listSignalEvents(held.signal_id)).map((e) => e.type)).toEqual(['signal.accepted']);
      expect((await store.gateSignal(gateInput(held, allow()))).kind).toBe('executing');
    });

    test('the migrations table lives in the store’s schema, and reopening applies nothing twice', async () => {
      const schema = freshSchema();
      cleanups.push(() => dropSchema(schema));
      const first = await open(schema);
      await first.appendEvent({ type: 'probe', data: {} });
      await first.close();
      const second = await open(schema);
      cleanups.push(() => second.close());
      expect(await second.lastEventSeq()).toBe(1);
      const tables = await admin`select table_name from information_schema.tables where table_schema = ${schema} order by table_name`;
      expect(tables.map((r) => r.table_name)).toContain('__drizzle_migrations');
      expect(tables.map((r) => r.table_name)).toContain('signals');
      const applied = await admin.unsafe(`select count(*)::int as n from "${schema}".__drizzle_migrations`);
      // Every migration drizzle-kit generated, once.
      const journal = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'drizzle', 'postgres', 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
      expect(applied[0]?.n).toBe(journal.entries.length);
    });
  });
}
