/**
 * The spool (docs/http-api.md#webhook-responses `deferred`, docs/guarantees.md#degraded-mode): while the database is down, a delivery that passed
 * authentication and validation is appended to an NDJSON segment file and fsynced before its
 * `202 deferred` answer. When the database is back, segments are replayed in order through the
 * store's normal `recordSignal` (so dedupe applies) and a segment file is deleted only after
 * every line of it is in the database. Nothing spooled executes before that: the executor only
 * ever sees signals from the database.
 *
 * Lines hold the validated signal (passphrase already removed), never the raw body or headers,
 * so no secret reaches the disk. A line is checked again when it is read back: a file on disk
 * is input like any other.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import * as v from 'valibot';
import type { NewSignal, RecordOutcome } from '../store/store.js';
import { parseNativeSignal } from './formats/native.js';

/** One spooled delivery: the store input exactly as ingest built it (dates as ISO strings). */
interface SpoolLine extends Omit<NewSignal, 'received_at'> {
  delivery_id: string;
  received_at: string;
}

const nonEmpty = v.pipe(v.string(), v.minLength(1));
/** A spooled line read back: the store input, with the signal checked by the one native schema. */
const spoolLineSchema = v.object({
  delivery_id: nonEmpty,
  signal_id: nonEmpty,
  source: nonEmpty,
  idempotency_key: nonEmpty,
  key_kind: v.picklist(['explicit', 'body_hash']),
  window_ms: v.pipe(v.number(), v.integer(), v.minValue(0)),
  fingerprint: nonEmpty,
  connector: nonEmpty,
  instrument: nonEmpty,
  client_order_id: nonEmpty,
  signal: v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = parseNativeSignal(dataset.value);
      if (parsed.ok) return parsed.signal;
      for (const issue of parsed.issues) addIssue({ message: `${issue.path}: ${issue.message}` });
      return NEVER;
    }),
  ),
  request_id: nonEmpty,
  received_at: v.pipe(
    v.string(),
    v.check((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO time'),
    v.transform((s) => new Date(s)),
  ),
});

type ParsedLine = { ok: true; input: NewSignal } | { ok: false; reason: string };

/** Parses and checks one spooled line; never throws. */
export function parseSpoolLine(raw: string): ParsedLine {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = v.safeParse(spoolLineSchema, json);
  if (!parsed.success) {
    return { ok: false, reason: parsed.issues.map((i) => `${v.getDotPath(i) ?? ''}: ${i.message}`).join('; ') };
  }
  const { delivery_id: _id, ...input } = parsed.output;
  return { ok: true, input };
}

export type SpoolAppend = { ok: true; delivery_id: string } | { ok: false; reason: string };

const SEGMENT = /^spool-\d{16}-\d{8}-[0-9a-f]{8}\.ndjson$/;
/** Orders segments created within one millisecond. */
let segmentSeq = 0;

export class Spool {
  private pendingCount = 0;
  private bytes = 0;
  private current: { path: string; fd: number; lines: number } | null = null;

  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly maxSegmentLines: number;
  private readonly logger: Logger;

  constructor(opts: { dir: string; maxBytes: number; logger: Logger; maxSegmentLines?: number }) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.logger = opts.logger;
    this.maxSegmentLines = opts.maxSegmentLines ?? 1000;
  }

  /** Counts what a previous run left behind; call once at start. */
  open(): void {
    mkdirSync(this.dir, { recursive: true });
    this.pendingCount = 0;
    this.bytes = 0;
    for (const name of this.segments()) {
      const path = join(this.dir, name);
      this.bytes += statSync(path).size;
      this.pendingCount += readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
    }
  }

  get pending(): number {
    return this.pendingCount;
  }

  /** True when not even a small delivery would fit any more. */
  get full(): boolean {
    return this.bytes + 1024 > this.maxBytes;
  }

  /** Appends and fsyncs one delivery; refuses when the spool is full or cannot be written. */
  append(input: NewSignal): SpoolAppend {
    const delivery_id = `dlv_${input.received_at.getTime().toString(16)}${randomBytes(6).toString('hex')}`;
    const line: SpoolLine = { ...input, delivery_id, received_at: input.received_at.toISOString() };
    const text = `${JSON.stringify(line)}\n`;
    const size = Buffer.byteLength(text);
    if (this.bytes + size > this.maxBytes) return { ok: false, reason: `spool full (${this.bytes} of ${this.maxBytes} bytes)` };
    try {
      mkdirSync(this.dir, { recursive: true });
      if (this.current === null || this.current.lines >= this.maxSegmentLines) this.rotate();
      const segment = this.current;
      if (segment === null) return { ok: false, reason: 'spool segment could not be opened' };
      writeSync(segment.fd, text);
      // The 202 promises durability: the line is on disk before we answer.
      fsyncSync(segment.fd);
      segment.lines += 1;
    } catch (err) {
      return { ok: false, reason: `spool not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    this.bytes += size;
    this.pendingCount += 1;
    return { ok: true, delivery_id };
  }

  /**
   * Replays every segment, oldest first, through `record` (the store's recordSignal) and hands
   * each newly recorded signal to `submitted`. A segment is deleted only after all its lines are
   * recorded; if `record` throws (the database went away again) replay stops and resumes later
   * from the start of that segment, which dedupe makes harmless. A line that is not a valid
   * delivery is logged with its segment and line number and skipped.
   */
  async replay(record: (input: NewSignal) => Promise<RecordOutcome>, submitted: (outcome: RecordOutcome) => void): Promise<number> {
    this.closeCurrent();
    let replayed = 0;
    for (const name of this.segments()) {
      const path = join(this.dir, name);
      const text = readFileSync(path, 'utf8');
      const lines = text.split('\n');
      let count = 0;
      for (const [index, raw] of lines.entries()) {
        if (raw.trim() === '') continue;
        count += 1;
        const parsed = parseSpoolLine(raw);
        if (!parsed.ok) {
          // A torn last line from a crash mid-append was never acknowledged; anything else is
          // damage to the file. Either way it cannot be recorded.
          this.logger.error({ segment: name, line: index + 1, reason: parsed.reason }, `spool line ${name}:${index + 1} is not a valid delivery: skipped`);
          continue;
        }
        submitted(await record(parsed.input));
        replayed += 1;
      }
      unlinkSync(path);
      this.bytes = Math.max(0, this.bytes - Buffer.byteLength(text));
      this.pendingCount = Math.max(0, this.pendingCount - count);
    }
    return replayed;
  }

  close(): void {
    this.closeCurrent();
  }

  private segments(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => SEGMENT.test(n)).sort();
  }

  private rotate(): void {
    this.closeCurrent();
    segmentSeq += 1;
    const name = `spool-${String(Date.now()).padStart(16, '0')}-${String(segmentSeq % 1e8).padStart(8, '0')}-${randomBytes(4).toString('hex')}.ndjson`;
    const path = join(this.dir, name);
    this.current = { path, fd: openSync(path, 'a'), lines: 0 };
  }

  private closeCurrent(): void {
    if (this.current !== null) {
      closeSync(this.current.fd);
      this.current = null;
    }
  }
}
