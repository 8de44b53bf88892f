/**
 * SQLite on a full disk, for real (docs/guarantees.md#durability): a group-commit batch whose
 * job makes SQLite roll back the whole transaction (the page cache spills into a WAL that the
 * full disk refuses) fails whole. No job of it is reported done, none of it is on disk, and the
 * hash chain goes on from the rows that are: after a restart on a disk with room, every write
 * that was acknowledged is there, none that failed is, and the audit verifies.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { verifyAuditChain } from '../../src/ops/audit.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { NewSignal, Store } from '../../src/store/store.js';
import { mountSmallDisk } from '../helpers/small-disk.js';
import { at, newSignal, T0 } from './contract.js';

const disk = mountSmallDisk(64 * 1024 * 1024);
const refused = 'refused' in disk ? disk.refused : null;
afterAll(() => {
  if (!('refused' in disk)) disk.unmount();
});

/** A signal whose row takes ~`kb` KiB: a batch of them outgrows the page cache (16 MB in better-sqlite3). */
const heavy = (kb: number): NewSignal => newSignal({ signal: { meta: { pad: 'x'.repeat(kb * 1024) } } });

describe.skipIf(refused !== null)(`SQLite on a full tmpfs${refused === null ? '' : ` (skipped: ${refused})`}`, () => {
  test('a batch that SQLite rolls back whole fails whole; after a restart with room, what was acknowledged is there and nothing else', async () => {
    if ('refused' in disk) throw new Error(disk.refused);
    const path = join(disk.dir, 'sluice.db');
    let clock = T0;
    const now = () => clock;
    let store: Store = createSqliteStore({ path, now });
    try {
      const before = [newSignal(), newSignal(), newSignal()];
      for (const s of before) expect((await store.recordSignal(s)).kind).toBe('inserted');

      // Room for the small writes of a turn, not for the ~19 MB that a batch of heavy jobs spills.
      disk.fill(2 * 1024 * 1024);
      clock = at(10);
      const attempted: NewSignal[] = [];
      const writes: Array<Promise<unknown>> = [];
      for (let i = 0; i < 64; i += 1) {
        const input = i % 4 === 0 ? newSignal() : heavy(400);
        attempted.push(input);
        writes.push(store.recordSignal(input));
      }
      writes.push(store.setMode('paused', 'disk test', 'tester', at(10)));
      writes.push(store.appendEvent({ type: 'probe', data: { turn: 1 } }));
      const settled = await Promise.allSettled(writes);

      // The next turn, on the same full disk, writes small things on the chain the file holds.
      clock = at(20);
      const after = newSignal();
      expect((await store.recordSignal(after)).kind).toBe('inserted');
      expect(await verifyAuditChain(store)).toMatchObject({ ok: true, entries: before.length + 1 });

      await store.close();
      disk.unfill();
      store = createSqliteStore({ path, now });
      expect(await verifyAuditChain(store)).toMatchObject({ ok: true, entries: before.length + 1 });
      const failedButThere: string[] = [];
      const acknowledgedButMissing: string[] = [];
      for (const [i, s] of attempted.entries()) {
        const there = (await store.getSignal(s.signal_id)) !== null;
        if (settled[i]?.status === 'rejected' && there) failedButThere.push(s.signal_id);
        if (settled[i]?.status === 'fulfilled' && !there) acknowledgedButMissing.push(s.signal_id);
      }
      expect(failedButThere).toEqual([]);
      expect(acknowledgedButMissing).toEqual([]);
      for (const s of [...before, after]) expect(await store.getSignal(s.signal_id), s.signal_id).not.toBeNull();
      expect((await store.getMode()).mode).not.toBe('paused');
      // The fault hit in the middle of the batch (the page cache spilled), and every job went
      // down with it as a disk failure (not a bad value).
      const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code?: string }] : []));
      expect(failures.length).toBe(settled.length);
      expect(failures.map((e) => e.code).filter((c) => c !== 'SQLITE_FULL')).toEqual([]);
      // The chain continues from the head on disk.
      await store.appendEvent({ type: 'probe', data: { turn: 2 } });
      expect(await verifyAuditChain(store)).toMatchObject({ ok: true, entries: before.length + 2 });
    } finally {
      await store.close();
    }
  });
});
