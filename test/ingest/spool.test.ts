/** The spool (docs/guarantees.md#degraded-mode): lines are checked when read back, and a bad one is reported and skipped. */
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { describe, expect, test } from 'vitest';
import { parseSpoolLine, Spool } from '../../src/ingest/spool.js';
import type { NewSignal, RecordOutcome, SignalRecord } from '../../src/store/store.js';
import { tempDir } from '../helpers/server.js';

const at = new Date('2025-01-02T03:04:05.678Z');
const input = (n: number): NewSignal => ({
  signal_id: `sig_${n.toString(16).padStart(28, '0')}`,
  source: 'default',
  idempotency_key: `k-${n}`,
  key_kind: 'explicit',
  window_ms: 60_000,
  fingerprint: 'f'.repeat(64),
  connector: 'mock',
  instrument: 'AAPL',
  client_order_id: `sl-${n}`,
  signal: { id: `k-${n}`, action: 'buy', instrument: 'AAPL', quantity: 1, order_type: 'market', price: 100, time_in_force: 'day', meta: { unknown_fields: { note: 'x' } } },
  request_id: `req-${n}`,
  received_at: at,
});

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

describe('Spool.replay', () => {
  test('valid lines are recorded, a bad line is logged with its segment and line number and skipped, the segment goes', async () => {
    const dir = tempDir('sluice-spool-');
    const { logger, lines: logs } = logged();
    const spool = new Spool({ dir, maxBytes: 1_000_000, logger });
    spool.open();
    expect(spool.append(input(1)).ok).toBe(true);
    const [segment] = readdirSync(dir);
    if (segment === undefined) throw new Error('no segment written');
    appendFileSync(join(dir, segment), '{"not":"a delivery"}\n');
    expect(spool.append(input(2)).ok).toBe(true);
    appendFileSync(join(dir, segment), '{"torn');
    expect(spool.pending).toBe(2);

    const recorded: NewSignal[] = [];
    const record = async (x: NewSignal): Promise<RecordOutcome> => {
      recorded.push(x);
      return { kind: 'inserted', record: { signal_id: x.signal_id } as SignalRecord };
    };
    const submitted: RecordOutcome[] = [];
    expect(await spool.replay(record, (o) => submitted.push(o))).toBe(2);
    spool.close();

    expect(recorded).toEqual([input(1), input(2)]);
    expect(submitted).toHaveLength(2);
    const skipped = logs.filter((l) => l.msg !== undefined && String(l.msg).includes('is not a valid delivery'));
    expect(skipped.map((l) => [l.segment, l.line])).toEqual([
      [segment, 2],
      [segment, 4],
    ]);
    expect(skipped[0]?.msg).toBe(`spool line ${segment}:2 is not a valid delivery: skipped`);
    expect(readdirSync(dir)).toEqual([]);
    expect(spool.pending).toBe(0);
  });
});
