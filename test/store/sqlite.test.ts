/**
 * The SQLite store: the shared contract suite against a real file in a fresh temp dir, then what
 * only SQLite has: WAL with synchronous FULL, group commit whose failing job rolls back alone,
 * and durability across close and reopen.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import { verifyAuditChain } from '../../src/ops/audit.js';
import { createSqliteStore, openSqlite, sqlitePathFromUrl } from '../../src/store/sqlite/store.js';
import type { EventRecord, Store } from '../../src/store/store.js';
import { allow, at, DAY, finishInput, gateInput, must, newSignal, redelivery, storeContractTests, T0 } from './contract.js';

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-sqlite-'));
}

storeContractTests('sqlite', async ({ now }) => {
  const dir = freshDir();
  const path = join(dir, 'sluice.db');
  const store = createSqliteStore({ path, now });
  // A connection of its own: what it commits, the store's connection reads.
  const raw = new Database(path);
  raw.pragma('busy_timeout = 5000');
  return {
    store,
    raw: {
      run: async (statement) => {
        raw.prepare(statement).run();
      },
      query: async (statement) => raw.prepare(statement).all() as Array<Record<string, unknown>>,
    },
    cleanup: async () => {
      raw.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite specifics', () => {
  const dirs: string[] = [];
  const closers: Array<() => void> = [];
  const newPath = (): string => {
    const dir = freshDir();
    dirs.push(dir);
    return join(dir, 'nested', 'sluice.db');
  };
  afterEach(() => {
    for (const close of closers.splice(0)) close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  test('sqlitePathFromUrl strips the file: scheme', () => {
    expect(sqlitePathFromUrl('file:./data/sluice.db')).toBe('./data/sluice.db');
    expect(sqlitePathFromUrl('file:///var/lib/sluice.db')).toBe('/var/lib/sluice.db');
  });

  test('the database file is in WAL mode with synchronous FULL, temp_store MEMORY', async () => {
    const path = newPath();
    const store = createSqliteStore({ path });
    await store.recordSignal(newSignal());

    // journal_mode is a property of the file: any connection sees it.
    const observer = new Database(path, { readonly: true });
    closers.push(() => observer.close());
    expect(observer.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(existsSync(`${path}-wal`)).toBe(true);
    await store.close();

    // synchronous is per connection, so another connection cannot observe the store's; read it
    // on a connection opened exactly as the store opens its own (openSqlite).
    const own = openSqlite({ path });
    closers.push(() => own.sqlite.close());
    expect(own.sqlite.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(own.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(own.sqlite.pragma('busy_timeout', { simple: true })).toBe(5000);
    // The writer's per-job savepoints journal their pages in memory, not in a spilled temp file.
    expect(own.sqlite.pragma('temp_store', { simple: true })).toBe(2); // MEMORY
    const relaxed = openSqlite({ path, synchronous: 'NORMAL' });
    closers.push(() => relaxed.sqlite.close());
    expect(relaxed.sqlite.pragma('synchronous', { simple: true })).toBe(1); // NORMAL, only when asked
  });

  test('a job that throws inside a group-commit batch rolls back alone; the rest of the turn commits', async () => {
    const store = createSqliteStore({ path: newPath() });
    closers.push(() => void store.close());
    const bodyKey = newSignal({ key_kind: 'body_hash', idempotency_key: `sha256:${'cd'.repeat(32)}`, window_ms: 60_000 });
    expect((await store.recordSignal(bodyKey)).kind).toBe('inserted');
    const published: EventRecord[] = [];
    store.subscribe((event) => published.push(event));

    // All of these are queued in the same tick, so they run in one transaction.
    const other = newSignal();
    const batch = await Promise.allSettled([
      store.recordSignal(other),
      // Throws before writing anything.
      store.finishSignal(finishInput(fakeRecord('sig_missing'), null)),
      // Past the window: archives the old row's key (a write), then the insert hits the unique
      // signal id and throws; the archive must be undone with it.
      store.recordSignal(redelivery(bodyKey, { signal_id: bodyKey.signal_id, received_at: at(120) })),
      // Throws on the bad time after or while writing the attempt row.
      store.recordAttempt(other.signal_id, { n: 1, at: 'not a time', outcome: 'x', error: null }),
      // Within the first delivery's window: still a duplicate only if the archive was undone.
      store.recordSignal(redelivery(bodyKey, { received_at: at(30) })),
      store.setMode('paused', 'batch', 'tester', at(1)),
    ]);
    expect(batch.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    const [inserted, missing, , , duplicate] = batch;
    expect(inserted?.status === 'fulfilled' && inserted.value.kind).toBe('inserted');
    expect(missing?.status === 'rejected' && String(missing.reason)).toMatch(/no signal sig_missing/);
    expect(duplicate?.status === 'fulfilled' && duplicate.value.kind).toBe('duplicate');
    expect(duplicate?.status === 'fulfilled' && duplicate.value.record.signal_id).toBe(bodyKey.signal_id);

    expect(await store.listAttempts(other.signal_id)).toEqual([]);
    expect((await store.getMode()).mode).toBe('paused');
    const events = await store.listEvents(0, 100);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'signal.accepted'],
      [2, 'signal.accepted'],
      [3, 'mode.changed'],
    ]);
    expect(published).toEqual(events.slice(1));
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true, entries: 3 });

    // The next turn continues the chain where the committed rows left it.
    await store.appendEvent({ type: 'probe', data: {} });
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true, entries: 4 });
  });

  test('reopening the file keeps everything, and the chain continues from its head', async () => {
    const path = newPath();
    const first: Store = createSqliteStore({ path });
    const executed = must(
      await first.gateSignal(gateInput((await first.recordSignal(newSignal({ instrument: 'AAPL' }))).record, allow())),
      'a gate outcome',
    );
    if (executed.kind !== 'executing') throw new Error(`expected executing, got ${executed.kind}`);
    await first.recordAttempt(executed.record.signal_id, { n: 1, at: at(1).toISOString(), outcome: 'filled', error: null });
    await first.finishSignal(finishInput(executed.record, { side: 'buy', quantity: 10, price: 100 }));
    const reserved = (await first.recordSignal(newSignal({ instrument: 'MSFT' }))).record;
    await first.gateSignal(gateInput(reserved, allow({ reserved_notional: 700 })));
    await first.setMode('exit_only', 'daily_loss', 'guardrails', at(2));
    expect((await first.recordSignalWithNonce(newSignal({ source: 'tv', instrument: 'NONCE' }), { nonce: 'n-1', expires_at: at(300) })).kind).toBe('inserted');
    const mockOrder: Order = {
      client_order_id: 'tv-k1',
      order_id: 'mock-1',
      instrument: 'AAPL',
      side: 'buy',
      quantity: 3,
      order_type: 'market',
      limit_price: null,
      status: 'filled',
      filled_quantity: 3,
      fill_price: 50,
    };
    await first.mock.placeOrder('mock', mockOrder, T0);
    await first.recordRefusedDelivery({ at: T0.toISOString(), source: 'tv', code: 'unauthorized', reason: 'unauthorized', issues: [], request_id: 'r1', body_excerpt: '{}' }, 1000);
    // Queued, not awaited: close() must drain it before closing the file.
    const pending = first.appendEvent({ type: 'flatten', data: { reason: 'closing' } });

    const signalsBefore = await first.listSignals({ limit: 100 });
    const ledgerBefore = await first.getLedger('mock', DAY);
    await first.close();
    const last = await pending;
    expect(last.type).toBe('flatten');

    const second = createSqliteStore({ path });
    closers.push(() => void second.close());
    expect(await second.listSignals({ limit: 100 })).toEqual(signalsBefore);
    expect(await second.getLedger('mock', DAY)).toEqual(ledgerBefore);
    expect(ledgerBefore.reserved_exposure).toBe(700);
    expect(ledgerBefore.positions).toEqual([{ instrument: 'AAPL', quantity: 10, avg_price: 100, last_price: 100 }]);
    expect(await second.listAttempts(executed.record.signal_id)).toHaveLength(1);
    expect((await second.getMode()).mode).toBe('exit_only');
    expect(await second.nonceSeen('tv', 'n-1', at(5))).toBe(true);
    expect(await second.mock.getOrder('mock', 'tv-k1')).toEqual(mockOrder);
    expect(await second.mock.getPositions('mock')).toEqual([{ instrument: 'AAPL', quantity: 3, avg_price: 50 }]);
    expect((await second.listRefusedDeliveries(10)).items.map((d) => d.reason)).toEqual(['unauthorized']);
    const dupe = await second.recordSignal(redelivery(newSignal({ idempotency_key: executed.record.idempotency_key, fingerprint: executed.record.fingerprint })));
    expect(dupe.kind).toBe('duplicate');

    expect(await verifyAuditChain(second)).toEqual({ ok: true, entries: last.seq, head: last.hash });
    const next = await second.appendEvent({ type: 'probe', data: {} });
    expect(next.seq).toBe(last.seq + 1);
    expect(next.prev_hash).toBe(last.hash);
    expect(await verifyAuditChain(second)).toEqual({ ok: true, entries: next.seq, head: next.hash });
  });
});

/** The fields finishInput reads, for a signal that does not exist. */
function fakeRecord(signalId: string): Parameters<typeof finishInput>[0] {
  return {
    signal_id: signalId,
    source: 'tv',
    idempotency_key: 'k',
    fingerprint: 'f',
    status: 'executing',
    connector: 'mock',
    instrument: 'AAPL',
    client_order_id: 'tv-k',
    request_id: null,
    received_at: T0.toISOString(),
    updated_at: T0.toISOString(),
    signal: newSignal().signal,
    decision: null,
    result: null,
    trace_parent: null,
  };
}
