/**
 * The event log's hash chain (docs/guarantees.md#event-log): canonical JSON, entry hashing, the streaming
 * verifier against every kind of tampering, and a real SQLite file tampered with behind the
 * store's back.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { canonicalJson, chainEntry, createChainVerifier, GENESIS_HASH, hashEntry, type ChainEntry, type ChainVerdict } from '../../src/events/chain.js';
import { verifyAuditChain } from '../../src/ops/audit.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { allow, gateInput, must, newSignal } from '../store/contract.js';

type Row = ChainEntry & { prev_hash: string; hash: string };

/** A valid chain of `n` rows, built the way a store builds it. */
function buildChain(n: number): Row[] {
  const rows: Row[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq += 1) {
    const entry: ChainEntry = {
      seq,
      at: new Date(Date.UTC(2026, 10, 23, 15, 0, seq)).toISOString(),
      type: seq % 2 === 0 ? 'signal.executing' : 'signal.accepted',
      signal_id: seq % 3 === 0 ? null : `sig_${seq}`,
      data: { n: seq, nested: { list: [seq, 'x'] } },
    };
    const hash = hashEntry(prev, entry);
    rows.push({ ...entry, prev_hash: prev, hash });
    prev = hash;
  }
  return rows;
}

function verify(rows: readonly Row[]): ChainVerdict {
  const verifier = createChainVerifier();
  for (const row of rows) {
    const broken = verifier.push(row);
    if (broken !== null) return broken;
  }
  return verifier.finish();
}

function row(rows: readonly Row[], seq: number): Row {
  return must(rows.find((r) => r.seq === seq), `row ${seq}`);
}

describe('canonicalJson', () => {
  const cases: { name: string; value: unknown; want: string }[] = [
    { name: 'sorts keys', value: { b: 1, a: 2, c: 3 }, want: '{"a":2,"b":1,"c":3}' },
    { name: 'sorts by code unit: upper case before lower case', value: { b: 1, B: 2, a: 3, _: 4 }, want: '{"B":2,"_":4,"a":3,"b":1}' },
    { name: 'sorts nested objects, keeps array order', value: { z: { y: 1, x: [3, { b: 1, a: 2 }, 1] }, a: null }, want: '{"a":null,"z":{"x":[3,{"a":2,"b":1},1],"y":1}}' },
    { name: 'no whitespace', value: { 'a b': ' c ', list: [1, 2] }, want: '{"a b":" c ","list":[1,2]}' },
    { name: 'unicode is kept as is', value: { é: '日本語', emoji: '🚀' }, want: '{"emoji":"🚀","é":"日本語"}' },
    { name: 'escapes like JSON', value: { q: 'say "hi"\n\\' }, want: '{"q":"say \\"hi\\"\\n\\\\"}' },
    { name: 'drops undefined members', value: { a: undefined, b: 1 }, want: '{"b":1}' },
    { name: 'undefined in an array is null', value: [undefined, 1], want: '[null,1]' },
    { name: 'scalars', value: [true, false, null, 0, -1.5, 'x'], want: '[true,false,null,0,-1.5,"x"]' },
    { name: 'non-finite numbers are null, as in JSON', value: { a: Number.NaN, b: Number.POSITIVE_INFINITY }, want: '{"a":null,"b":null}' },
    { name: 'empty containers', value: { a: {}, b: [] }, want: '{"a":{},"b":[]}' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(canonicalJson(c.value)).toBe(c.want);
    });
  }

  test('key order and spacing never make two values differ', () => {
    const a = JSON.parse('{ "x": 1, "y": { "b": [1, 2], "a": "s" } }') as unknown;
    const b = JSON.parse('{"y":{"a":"s","b":[1,2]},"x":1}') as unknown;
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  test('equals its own JSON round trip for plain JSON values', () => {
    const value = { b: [1, { d: 'é', c: null }], a: { z: true, y: 2.5 } };
    expect(canonicalJson(JSON.parse(JSON.stringify(value)) as unknown)).toBe(canonicalJson(value));
  });

  // BUG (src/events/chain.ts canonicalJson): stores persist `data` with JSON.stringify, which
  // honours toJSON (a Date becomes its ISO string), but canonicalJson walks Object.entries and
  // renders a Date as `{}`. The hash is computed over one text and verified over the other.
  test('honours toJSON like the JSON the store persists (a Date)', () => {
    const value = { at: new Date('2026-11-23T15:00:00.000Z') };
    expect(canonicalJson(value)).toBe('{"at":"2026-11-23T15:00:00.000Z"}');
  });
});

describe('hashEntry', () => {
  const entry: ChainEntry = { seq: 1, at: '2026-11-23T15:00:00.000Z', type: 'signal.accepted', signal_id: 'sig_1', data: { b: 1, a: 'é' } };

  test('is sha256 of prev_hash followed by the canonical entry', () => {
    const want = createHash('sha256')
      .update(GENESIS_HASH + '{"at":"2026-11-23T15:00:00.000Z","data":{"a":"é","b":1},"seq":1,"signal_id":"sig_1","type":"signal.accepted"}')
      .digest('hex');
    expect(hashEntry(GENESIS_HASH, entry)).toBe(want);
  });

  test('is deterministic and independent of key order', () => {
    const reordered: ChainEntry = { data: { a: 'é', b: 1 }, type: 'signal.accepted', signal_id: 'sig_1', at: entry.at, seq: 1 };
    expect(hashEntry(GENESIS_HASH, entry)).toBe(hashEntry(GENESIS_HASH, entry));
    expect(hashEntry(GENESIS_HASH, reordered)).toBe(hashEntry(GENESIS_HASH, entry));
    expect(hashEntry(GENESIS_HASH, entry)).toMatch(/^[0-9a-f]{64}$/);
  });

  test('changes with every field and with prev_hash', () => {
    const base = hashEntry(GENESIS_HASH, entry);
    const variants: ChainEntry[] = [
      { ...entry, seq: 2 },
      { ...entry, at: '2026-11-23T15:00:00.001Z' },
      { ...entry, type: 'signal.rejected' },
      { ...entry, signal_id: null },
      { ...entry, data: { b: 2, a: 'é' } },
    ];
    for (const v of variants) expect(hashEntry(GENESIS_HASH, v)).not.toBe(base);
    expect(hashEntry('f'.repeat(64), entry)).not.toBe(base);
  });
});

describe('chainEntry', () => {
  // chainEntry assembles the entry's canonical JSON around its data's; it must be the same text
  // canonicalJson gives for the whole entry, whatever the entry holds.
  const entries: { name: string; entry: ChainEntry }[] = [
    { name: 'a plain entry', entry: { seq: 1, at: '2026-11-23T15:00:00.000Z', type: 'signal.accepted', signal_id: 'sig_1', data: { b: 1, a: 'é' } } },
    { name: 'no signal', entry: { seq: 42, at: '2026-11-23T15:00:00.001Z', type: 'mode.changed', signal_id: null, data: { mode: 'paused', by: 'operator' } } },
    { name: 'empty data', entry: { seq: 7, at: '2026-11-23T15:00:00.002Z', type: 'x', signal_id: 's', data: {} } },
    { name: 'nested, undefined members, a Date', entry: { seq: 9_007_199_254_740_991, at: 'a"t', type: 'ty\npe', signal_id: 'sig "q"', data: { z: [1, { y: undefined, x: 2 }], d: new Date(0), u: undefined } } },
    { name: 'unicode everywhere', entry: { seq: 3, at: '2026-11-23T15:00:00.000Z', type: 'т', signal_id: '日本', data: { '🚀': '\u2028' } } },
  ];
  for (const { name, entry } of entries) {
    test(`${name}: the hash is sha256 of prev_hash and canonicalJson(entry); the data stored is canonicalJson(data)`, () => {
      const prev = 'a'.repeat(64);
      const want = createHash('sha256').update(prev + canonicalJson(entry)).digest('hex');
      expect(chainEntry(prev, entry)).toEqual({ hash: want, data: canonicalJson(entry.data) });
      expect(hashEntry(prev, entry)).toBe(want);
    });
  }

  // Computed by the code before chainEntry (sha256 over canonicalJson of the entry, data stored
  // with JSON.stringify): chains already on disk must verify unchanged.
  const written = { seq: 1, at: '2026-11-23T15:00:00.000Z', type: 'signal.executed', signal_id: 'sig_7', data: { z: [1, { y: 'é', x: null }], a: 2.5, m: '\u2028' } };
  const WRITTEN_HASH = 'd59c146c653522ca5a3f1a8cb6364f3c6eb00db3d6eceb85cacd5040a721295d';

  test('the hash is the one the earlier code wrote for the same entry', () => {
    expect(chainEntry(GENESIS_HASH, written).hash).toBe(WRITTEN_HASH);
  });

  test('a row the earlier code stored (data by JSON.stringify, keys unsorted) still verifies', () => {
    const stored = JSON.stringify(written.data);
    expect(stored).not.toBe(chainEntry(GENESIS_HASH, written).data);
    const read = { ...written, data: JSON.parse(stored) as Record<string, unknown>, prev_hash: GENESIS_HASH, hash: WRITTEN_HASH };
    expect(verify([read])).toEqual({ ok: true, entries: 1, head: WRITTEN_HASH });
  });

  test('the data stored parses back to what was hashed: a verifier reading the row agrees', () => {
    const { entry } = must(entries[3], 'the nested entry');
    const { hash, data } = chainEntry(GENESIS_HASH, entry);
    const read = { ...entry, data: JSON.parse(data) as Record<string, unknown>, prev_hash: GENESIS_HASH, hash };
    expect(hashEntry(GENESIS_HASH, read)).toBe(hash);
  });
});

describe('createChainVerifier', () => {
  const chain = buildChain(6);
  const head = must(chain[chain.length - 1], 'the head row').hash;

  test('an intact chain is ok with its entry count and head', () => {
    expect(verify(chain)).toEqual({ ok: true, entries: 6, head });
  });

  test('an empty log is ok with 0 entries and the genesis head', () => {
    expect(verify([])).toEqual({ ok: true, entries: 0, head: GENESIS_HASH });
  });

  const tampered: { name: string; rows: () => Row[]; broken_at: number }[] = [
    {
      name: 'a changed data field breaks at that seq',
      rows: () => chain.map((r) => (r.seq === 3 ? { ...r, data: { ...r.data, n: 300 } } : r)),
      broken_at: 3,
    },
    { name: 'a changed type breaks at that seq', rows: () => chain.map((r) => (r.seq === 4 ? { ...r, type: 'signal.rejected' } : r)), broken_at: 4 },
    { name: 'a changed at breaks at that seq', rows: () => chain.map((r) => (r.seq === 2 ? { ...r, at: '2030-01-01T00:00:00.000Z' } : r)), broken_at: 2 },
    { name: 'a changed hash breaks at that seq', rows: () => chain.map((r) => (r.seq === 3 ? { ...r, hash: 'e'.repeat(64) } : r)), broken_at: 3 },
    {
      name: 'a row re-hashed after its change breaks at the next seq (prev_hash no longer links)',
      rows: () =>
        chain.map((r) => {
          if (r.seq !== 3) return r;
          const changed = { ...r, data: { forged: true } };
          return { ...changed, hash: hashEntry(r.prev_hash, changed) };
        }),
      broken_at: 4,
    },
    { name: 'a changed prev_hash breaks at that seq', rows: () => chain.map((r) => (r.seq === 5 ? { ...r, prev_hash: GENESIS_HASH } : r)), broken_at: 5 },
    { name: 'a removed row leaves a gap, broken at the missing seq', rows: () => chain.filter((r) => r.seq !== 3), broken_at: 3 },
    { name: 'a removed first row, broken at 1', rows: () => chain.filter((r) => r.seq !== 1), broken_at: 1 },
    {
      name: 'a reordered pair breaks at the first seq out of place',
      rows: () => [row(chain, 1), row(chain, 3), row(chain, 2), row(chain, 4), row(chain, 5), row(chain, 6)],
      broken_at: 2,
    },
    {
      name: 'a pair swapped and renumbered breaks at the first of them',
      rows: () => [row(chain, 1), { ...row(chain, 3), seq: 2 }, { ...row(chain, 2), seq: 3 }, row(chain, 4), row(chain, 5), row(chain, 6)],
      broken_at: 2,
    },
  ];
  for (const c of tampered) {
    test(c.name, () => {
      expect(verify(c.rows())).toEqual({ ok: false, broken_at: c.broken_at });
    });
  }
});

describe('verifyAuditChain on a real SQLite file', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  function openStore(): { store: Store; path: string } {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-chain-'));
    const path = join(dir, 'sluice.db');
    const store = createSqliteStore({ path });
    cleanups.push(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { store, path };
  }

  async function fiveEvents(store: Store): Promise<void> {
    const a = await store.recordSignal(newSignal()); // 1
    await store.recordSignal(newSignal()); // 2
    await store.gateSignal(gateInput(a.record, allow())); // 3
    await store.setMode('paused', 'test', 'tester', new Date('2026-11-23T15:00:05Z')); // 4
    await store.appendEvent({ type: 'breaker.opened', data: { connector: 'mock' } }); // 5
  }

  test('a row changed through another connection is reported at its seq', async () => {
    const { store, path } = openStore();
    await fiveEvents(store);
    const before = await verifyAuditChain(store);
    expect(before).toMatchObject({ ok: true, entries: 5 });

    const tamper = new Database(path);
    try {
      const changed = tamper.prepare('UPDATE events SET data = ? WHERE seq = 3').run(JSON.stringify({ decision: { allowed: false } }));
      expect(changed.changes).toBe(1);
    } finally {
      tamper.close();
    }
    expect(await verifyAuditChain(store)).toEqual({ ok: false, broken_at: 3 });
    // Small pages find the same break.
    expect(await verifyAuditChain(store, 2)).toEqual({ ok: false, broken_at: 3 });
  });

  test('a row deleted through another connection is reported at the missing seq', async () => {
    const { store, path } = openStore();
    await fiveEvents(store);
    const tamper = new Database(path);
    try {
      expect(tamper.prepare('DELETE FROM events WHERE seq = 2').run().changes).toBe(1);
    } finally {
      tamper.close();
    }
    expect(await verifyAuditChain(store)).toEqual({ ok: false, broken_at: 2 });
  });

  // BUG (see canonicalJson above): an untampered log whose event data holds a Date fails
  // `audit verify`, because the hash covered `{}` and the stored row holds the ISO string.
  test('an untampered event carrying a Date verifies', async () => {
    const { store } = openStore();
    await store.appendEvent({ type: 'degraded.entered', data: { component: 'database', since: new Date('2026-11-23T15:00:00Z') } });
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true, entries: 1 });
  });
});
