/**
 * The spool on a nearly full disk, for real (docs/guarantees.md#durability): a tmpfs of the
 * test's own, filled up to a few KiB, so the disk takes part of a line and then refuses. An
 * append is acknowledged only when its whole line is on disk; a refused one is cut off again, so
 * the segment holds whole lines only and replay records exactly what was acknowledged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, test } from 'vitest';
import { parseSpoolLine } from '../../src/ingest/spool-line.js';
import { Spool } from '../../src/ingest/spool.js';
import type { NewSignal, SignalRecord } from '../../src/store/store.js';
import { mountSmallDisk } from '../helpers/small-disk.js';
import { spoolInput } from '../helpers/spool.js';

const disk = mountSmallDisk(1024 * 1024);
const refused = 'refused' in disk ? disk.refused : null;
afterAll(() => {
  if (!('refused' in disk)) disk.unmount();
});

/** A delivery whose line is ~3 KiB: lines straddle the 4 KiB pages of the tmpfs. */
const input = (n: number): NewSignal => spoolInput(n, { note: 'n'.repeat(3000) });

describe.skipIf(refused !== null)(`the spool on a nearly full tmpfs${refused === null ? '' : ` (skipped: ${refused})`}`, () => {
  test('never acknowledges a line that is not whole on disk; the segment keeps whole lines only; replay gets exactly the acknowledged ones', async () => {
    if ('refused' in disk) throw new Error(disk.refused);
    const dir = join(disk.dir, 'spool');
    const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024, logger: pino({ level: 'silent' }) });
    spool.open();
    expect(spool.append(input(0)).ok).toBe(true);
    disk.fill(10 * 1024);

    const acknowledged: string[] = [];
    const reasons: string[] = [];
    for (let n = 1; n <= 20; n += 1) {
      const answer = spool.append(input(n));
      if (answer.ok) acknowledged.push(answer.delivery_id);
      else reasons.push(answer.reason);
    }
    expect(reasons.length).toBeGreaterThan(0);
    expect(reasons.every((r) => r === 'spool not writable: ENOSPC')).toBe(true);

    // Every byte on disk belongs to a whole line, and every acknowledged line is one of them.
    const [segment, ...others] = readdirSync(dir);
    expect(others).toEqual([]);
    const text = readFileSync(join(dir, segment ?? ''), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const ids = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        expect(parseSpoolLine(l).ok).toBe(true);
        return (JSON.parse(l) as { delivery_id: string }).delivery_id;
      });
    expect(ids.slice(1)).toEqual(acknowledged);
    expect(spool.pending).toBe(acknowledged.length + 1);

    disk.unfill();
    const recorded: string[] = [];
    const counts = await spool.replay({
      record: async (x) => {
        recorded.push(x.signal_id);
        return { kind: 'inserted', record: { signal_id: x.signal_id } as SignalRecord };
      },
      accepted: () => undefined,
      refused: async () => undefined,
    });
    spool.close();
    expect(counts).toEqual({ recorded: acknowledged.length + 1, duplicates: 0, refused: 0, quarantined: 0 });
    expect(recorded).toHaveLength(acknowledged.length + 1);
  });
});
