/**
 * The spool (docs/http-api.md#webhook-responses `deferred`, docs/guarantees.md#degraded-mode): while the database is down, a delivery that passed
 * authentication and validation is appended to an NDJSON segment file and fsynced before its
 * `202 deferred` answer. When the database is back, segments are replayed in order through the
 * store's normal `recordSignal` (so dedupe applies) and a segment file is deleted only after
 * every line of it is in the database. Nothing spooled executes before that: the executor only
 * ever sees signals from the database.
 *
 * Lines hold the validated signal (passphrase already removed), never the raw body or headers,
 * so no secret reaches the disk.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { NewSignal, RecordOutcome } from '../store/store.js';

/** One spooled delivery: the store input exactly as ingest built it (dates as ISO strings). */
interface SpoolLine extends Omit<NewSignal, 'received_at'> {
  delivery_id: string;
  received_at: string;
}

export type SpoolAppend = { ok: true; delivery_id: string } | { ok: false; reason: string };

const SEGMENT = /^spool-\d{16}-\d{8}-[0-9a-f]{8}\.ndjson$/;
/** Orders segments created within one millisecond. */
let segmentSeq = 0;

export class Spool {
  private pendingCount = 0;
  private bytes = 0;
  private current: { path: string; fd: number; lines: number } | null = null;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly maxSegmentLines = 1000,
  ) {}

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
   * from the start of that segment, which dedupe makes harmless.
   */
  async replay(record: (input: NewSignal) => Promise<RecordOutcome>, submitted: (outcome: RecordOutcome) => void): Promise<number> {
    this.closeCurrent();
    let replayed = 0;
    for (const name of this.segments()) {
      const path = join(this.dir, name);
      const text = readFileSync(path, 'utf8');
      const lines = text.split('\n').filter((l) => l.trim() !== '');
      for (const raw of lines) {
        let parsed: SpoolLine;
        try {
          parsed = JSON.parse(raw) as SpoolLine;
        } catch {
          // A torn last line from a crash mid-append was never acknowledged: skip it.
          continue;
        }
        const { delivery_id: _id, received_at, ...rest } = parsed;
        submitted(await record({ ...rest, received_at: new Date(received_at) }));
        replayed += 1;
      }
      unlinkSync(path);
      this.bytes = Math.max(0, this.bytes - Buffer.byteLength(text));
      this.pendingCount = Math.max(0, this.pendingCount - lines.length);
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
