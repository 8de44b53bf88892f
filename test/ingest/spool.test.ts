/**
 * The spool (docs/guarantees.md#degraded-mode): lines are checked when read back; a line that can
 * never be recorded is quarantined and refused instead of holding back the rest; a reused key is
 * refused; replay drains what is appended meanwhile, in order.
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { describe, expect, test } from 'vitest';
import { parseSpoolLine } from '../../src/ingest/spool-line.js';
import { QUARANTINE, Spool, type ReplayHandlers } from '../../src/ingest/spool.js';
import type { NewSignal, RecordOutcome, RefusedDelivery, SignalRecord } from '../../src/store/store.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../helpers/server.js';
import { SPOOL_AT, spoolInput } from '../helpers/spool.js';

const at = SPOOL_AT;
const input = (n: number): NewSignal => spoolInput(n);

function logged(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { logger, lines };
}

describe('parseSpoolLine', () => {
  test('a line as append wrote it reads back as the same store input', () => {
    const line = JSON.stringify({ ...input(1), delivery_id: 'dlv_1', received_at: at.toISOString() });
    expect(parseSpoolLine(line)).toEqual({ ok: true, input: input(1) });
  });

  const TRACE_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const traced: Array<{ name: string; trace_parent: unknown; read: string | null | undefined }> = [
    { name: 'a traceparent is kept', trace_parent: TRACE_PARENT, read: TRACE_PARENT },
    { name: 'none (tracing off) reads as null', trace_parent: null, read: null },
    { name: 'a line from before tracing has none', trace_parent: undefined, read: undefined },
    { name: 'a malformed one is dropped, the delivery kept', trace_parent: '00-zz-1', read: null },
    { name: 'a non-string is dropped, the delivery kept', trace_parent: 42, read: null },
  ];
  test.each(traced)('trace context: $name', ({ trace_parent, read }) => {
    const parsed = parseSpoolLine(JSON.stringify({ ...input(1), delivery_id: 'dlv_1', received_at: at.toISOString(), trace_parent }));
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.input.trace_parent).toBe(read);
  });

  const bad: Array<{ name: string; line: string; reason: RegExp }> = [
    { name: 'a torn line', line: '{"signal_id":"sig_1","sou', reason: /^not JSON/ },
    { name: 'a missing field', line: JSON.stringify({ ...input(1), delivery_id: 'dlv_1', received_at: at.toISOString(), source: undefined }), reason: /^source: / },
    { name: 'a bad key kind', line: JSON.stringify({ ...input(1), delivery_id: 'dlv_1', received_at: at.toISOString(), key_kind: 'other' }), reason: /^key_kind: / },
    { name: 'a bad time', line: JSON.stringify({ ...input(1), delivery_id: 'dlv_1', received_at: 'yesterday' }), reason: /^received_at: expected an ISO time/ },
    {
      name: 'a signal that is not valid',
      line: JSON.stringify({ ...input(1), delivery_id: 'dlv_1', received_at: at.toISOString(), signal: { action: 'buy', instrument: 'AAPL' } }),
      reason: /^signal: quantity: buy needs exactly one of quantity or notional/,
    },
  ];
  test.each(bad)('$name is refused with a reason', ({ line, reason }) => {
    const parsed = parseSpoolLine(line);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});

/** Replay handlers that record into a map keyed like the store (source + key), and what they saw. */
function handlers(opts: { fail?: (x: NewSignal) => unknown } = {}) {
  const byKey = new Map<string, NewSignal>();
  const recorded: NewSignal[] = [];
  const accepted: string[] = [];
  const refused: RefusedDelivery[] = [];
  const h: ReplayHandlers = {
    record: async (x) => {
      const failure = opts.fail?.(x);
      if (failure !== undefined) throw failure;
      recorded.push(x);
      const holder = byKey.get(`${x.source}\0${x.idempotency_key}`);
      const record = (s: NewSignal) => ({ signal_id: s.signal_id }) as SignalRecord;
      if (holder !== undefined) return { kind: holder.fingerprint === x.fingerprint ? 'duplicate' : 'conflict', record: record(holder) } satisfies RecordOutcome;
      byKey.set(`${x.source}\0${x.idempotency_key}`, x);
      return { kind: 'inserted', record: record(x) };
    },
    accepted: (r) => accepted.push(r.signal_id),
    refused: async (d) => {
      refused.push(d);
    },
  };
  return { h, recorded, accepted, refused };
}

const codeError = (code: string) => Object.assign(new Error(`failed with ${code}`), { code });

describe('Spool.replay', () => {
  test('valid lines are recorded; a bad line is quarantined with its segment and line number and refused; the segment goes', async () => {
    const dir = tempDir('sluice-spool-');
    const { logger, lines: logs } = logged();
    const spool = new Spool({ dir, maxBytes: 1_000_000, logger, now: () => at });
    spool.open();
    expect(spool.append(input(1)).ok).toBe(true);
    const [segment] = readdirSync(dir);
    if (segment === undefined) throw new Error('no segment written');
    appendFileSync(join(dir, segment), '{"not":"a delivery","source":"tv","request_id":"req-x"}\n');
    expect(spool.append(input(2)).ok).toBe(true);
    appendFileSync(join(dir, segment), '{"torn');
    expect(spool.pending).toBe(2);

    const { h, recorded, accepted, refused } = handlers();
    expect(await spool.replay(h)).toEqual({ recorded: 2, duplicates: 0, refused: 0, quarantined: 2 });
    spool.close();

    expect(recorded).toEqual([input(1), input(2)]);
    expect(accepted).toEqual([input(1).signal_id, input(2).signal_id]);
    const quarantinedLogs = logs.filter((l) => String(l.msg).includes('can never be recorded'));
    expect(quarantinedLogs.map((l) => l.line)).toEqual([`${segment}:2`, `${segment}:4`]);
    expect(quarantinedLogs[0]?.msg).toBe(`spool line ${segment}:2 can never be recorded: quarantined`);
    expect(readFileSync(join(dir, QUARANTINE), 'utf8')).toBe('{"not":"a delivery","source":"tv","request_id":"req-x"}\n{"torn\n');
    expect(refused.map((r) => [r.source, r.request_id, r.reason.split(':')[0]])).toEqual([
      ['tv', 'req-x', 'spooled delivery quarantined'],
      ['(unknown)', '', 'spooled delivery quarantined'],
    ]);
    expect(refused[0]).toMatchObject({ at: at.toISOString(), body_excerpt: '{"not":"a delivery","source":"tv","request_id":"req-x"}' });
    expect(readdirSync(dir)).toEqual([QUARANTINE]);
    expect(spool.pending).toBe(0);
  });

  test('a line the store refuses as a bad value is quarantined and the lines after it replay; an outage stops the replay and keeps the segment', async () => {
    const dir = tempDir('sluice-spool-');
    const spool = new Spool({ dir, maxBytes: 1_000_000, logger: logged().logger, maxSegmentLines: 2 });
    spool.open();
    for (const n of [1, 2, 3, 4]) expect(spool.append(input(n)).ok).toBe(true);
    expect(readdirSync(dir)).toHaveLength(2);

    // Down again at the third line: nothing of its segment is lost, the first segment is done.
    const down = handlers({ fail: (x) => (x.signal_id === input(2).signal_id ? codeError('SQLITE_CONSTRAINT_PRIMARYKEY') : x.signal_id === input(3).signal_id ? codeError('ECONNREFUSED') : undefined) });
    await expect(spool.replay(down.h)).rejects.toThrow(/ECONNREFUSED/);
    expect(down.accepted).toEqual([input(1).signal_id]);
    expect(down.refused.map((r) => r.reason)).toEqual(['spooled delivery quarantined: the store refused it: SQLITE_CONSTRAINT_PRIMARYKEY: failed with SQLITE_CONSTRAINT_PRIMARYKEY']);
    expect(spool.pending).toBe(2);
    expect(readdirSync(dir).filter((n) => n !== QUARANTINE)).toHaveLength(1);

    const back = handlers();
    expect(await spool.replay(back.h)).toMatchObject({ recorded: 2, quarantined: 0 });
    expect(back.accepted).toEqual([input(3).signal_id, input(4).signal_id]);
    expect(spool.pending).toBe(0);
    expect(readFileSync(join(dir, QUARANTINE), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { signal_id: string }).signal_id)).toEqual([input(2).signal_id]);
  });

  test('with a real store: a line whose signal id is taken (a constraint error) is quarantined and kept as a refused delivery; the next line replays', async () => {
    const dir = tempDir('sluice-spool-');
    const store = createSqliteStore({ path: join(dir, 'sluice.db'), now: () => at });
    try {
      expect((await store.recordSignal(input(1))).kind).toBe('inserted');
      const spool = new Spool({ dir: join(dir, 'spool'), maxBytes: 1_000_000, logger: logged().logger, now: () => at });
      spool.open();
      expect(spool.append({ ...input(7), signal_id: input(1).signal_id }).ok).toBe(true);
      expect(spool.append(input(2)).ok).toBe(true);
      const accepted: string[] = [];
      const counts = await spool.replay({
        record: (x) => store.recordSignal(x),
        accepted: (r) => accepted.push(r.signal_id),
        refused: (d) => store.recordRefusedDelivery(d, 1000),
      });
      spool.close();
      expect(counts).toEqual({ recorded: 1, duplicates: 0, refused: 0, quarantined: 1 });
      expect(accepted).toEqual([input(2).signal_id]);
      const { items } = await store.listRefusedDeliveries(10);
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ source: 'default', request_id: input(7).request_id });
      expect(items[0]?.reason).toMatch(/^spooled delivery quarantined: the store refused it: SQLITE_CONSTRAINT/);
      expect(readFileSync(join(dir, 'spool', QUARANTINE), 'utf8')).toContain('"idempotency_key":"k-7"');
      expect(await store.getSignal(input(2).signal_id)).not.toBeNull();
    } finally {
      await store.close();
    }
  });

  test('a spooled delivery whose key another body holds becomes a refused delivery (idempotency_key_reused); a same-body repeat is a duplicate', async () => {
    const dir = tempDir('sluice-spool-');
    const spool = new Spool({ dir, maxBytes: 1_000_000, logger: logged().logger, now: () => at });
    spool.open();
    const reused: NewSignal = { ...input(9), signal_id: 'sig_other', fingerprint: 'e'.repeat(64), request_id: 'req-reused' };
    for (const x of [input(1), input(1), reused, input(9)]) expect(spool.append(x).ok).toBe(true);
    // input(9)'s key is held by `reused` (spooled first, same key, other body).
    const { h, accepted, refused } = handlers();
    expect(await spool.replay(h)).toEqual({ recorded: 2, duplicates: 1, refused: 1, quarantined: 0 });
    expect(accepted).toEqual([input(1).signal_id, 'sig_other']);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ at: at.toISOString(), source: 'default', reason: 'idempotency key reused', request_id: input(9).request_id });
    expect(refused[0]?.issues[0]?.message).toMatch(/^idempotency_key_reused: spooled delivery spool-.*:4; key "k-9" belongs to sig_other$/);
    expect(refused[0]?.body_excerpt).toBe(JSON.stringify(input(9).signal));
  });

  test('onAppended listeners hear of each line once it is written, not while append runs; a refused line is not announced', async () => {
    const dir = tempDir('sluice-spool-');
    const spool = new Spool({ dir, maxBytes: 3_000, logger: logged().logger });
    spool.open();
    const heard: number[] = [];
    const off = spool.onAppended(() => heard.push(spool.pending));
    expect(spool.append(input(1)).ok).toBe(true);
    expect(heard).toEqual([]);
    await Promise.resolve();
    expect(heard).toEqual([1]);
    while (spool.append(input(2)).ok);
    await Promise.resolve();
    expect(heard.length).toBe(spool.pending);
    off();
  });

  test('lines appended while a replay runs are replayed by it, after the older ones, in order', async () => {
    const dir = tempDir('sluice-spool-');
    const spool = new Spool({ dir, maxBytes: 1_000_000, logger: logged().logger });
    spool.open();
    expect(spool.append(input(1)).ok).toBe(true);
    expect(spool.append(input(2)).ok).toBe(true);
    const { h, recorded } = handlers();
    const record = h.record;
    let added = false;
    h.record = async (x) => {
      // A live delivery lands in the spool while the first line is being recorded.
      if (!added) {
        added = true;
        expect(spool.append(input(3)).ok).toBe(true);
      }
      return record(x);
    };
    expect(await spool.replay(h)).toMatchObject({ recorded: 3 });
    expect(recorded.map((x) => x.signal_id)).toEqual([1, 2, 3].map((n) => input(n).signal_id));
    expect(spool.pending).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });
});
