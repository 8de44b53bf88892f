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
 * is input like any other. A line that can never be recorded (it fails that check, or the store
 * refuses its values) is moved to the `quarantine` file beside the segments and kept as a
 * refused delivery, so it cannot hold back the lines after it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describeDbError, isDataError } from '../store/errors.js';
import type { NewSignal, RecordOutcome, RefusedDelivery, SignalRecord } from '../store/store.js';
import { lineFields, parseSpoolLine, type SpoolLine } from './spool-line.js';

export type SpoolAppend = { ok: true; delivery_id: string } | { ok: false; reason: string };

/** What replay does with each line, in spool order. */
export interface ReplayHandlers {
  /** The store's recordSignal. */
  record: (input: NewSignal) => Promise<RecordOutcome>;
  /** A newly recorded signal, for the executor. */
  accepted: (record: SignalRecord) => void;
  /** Keeps a line that was not taken (a reused key, a poison line) for operators. */
  refused: (delivery: RefusedDelivery) => Promise<void>;
}

export interface ReplayCounts {
  recorded: number;
  duplicates: number;
  refused: number;
  quarantined: number;
}

const SEGMENT = /^spool-\d{16}-\d{8}-[0-9a-f]{8}\.ndjson$/;
/** Where lines that can never be recorded go, beside the segments. */
export const QUARANTINE = 'quarantine';
/** Orders segments created within one millisecond. */
let segmentSeq = 0;

export class Spool {
  private pendingCount = 0;
  private bytes = 0;
  private current: { path: string; fd: number; lines: number; size: number } | null = null;

  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly maxSegmentLines: number;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly appended = new Set<() => void>();

  constructor(opts: { dir: string; maxBytes: number; logger: Logger; maxSegmentLines?: number; now?: () => Date }) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.logger = opts.logger;
    this.maxSegmentLines = opts.maxSegmentLines ?? 1000;
    this.now = opts.now ?? (() => new Date());
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

  /** Calls `listener` soon after every line appended; returns the unsubscribe. */
  onAppended(listener: () => void): () => void {
    this.appended.add(listener);
    return () => this.appended.delete(listener);
  }

  /**
   * Appends and fsyncs one delivery; refuses when the spool is full or the disk does not take
   * the whole line. A refused line is cut off again, so what is on disk is whole lines only.
   */
  append(input: NewSignal): SpoolAppend {
    const delivery_id = `dlv_${input.received_at.getTime().toString(16)}${randomBytes(6).toString('hex')}`;
    const line: SpoolLine = { ...input, delivery_id, received_at: input.received_at.toISOString() };
    const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
    if (this.bytes + bytes.length > this.maxBytes) return { ok: false, reason: `spool full (${this.bytes} of ${this.maxBytes} bytes)` };
    let segment: NonNullable<Spool['current']>;
    try {
      mkdirSync(this.dir, { recursive: true });
      if (this.current === null || this.current.lines >= this.maxSegmentLines) this.rotate();
      if (this.current === null) return { ok: false, reason: 'spool segment could not be opened' };
      segment = this.current;
    } catch (err) {
      return { ok: false, reason: `spool not writable: ${errorCode(err)}` };
    }
    try {
      // A nearly full disk takes part of a write: write the rest, or fail and cut it off.
      for (let done = 0; done < bytes.length; ) {
        const n = writeSync(segment.fd, bytes, done, bytes.length - done);
        if (n <= 0) throw new Error('write made no progress');
        done += n;
      }
      // The 202 promises durability: the whole line is on disk before we answer.
      fsyncSync(segment.fd);
    } catch (err) {
      this.cutBack(segment);
      return { ok: false, reason: `spool not writable: ${errorCode(err)}` };
    }
    segment.size += bytes.length;
    segment.lines += 1;
    this.bytes += bytes.length;
    this.pendingCount += 1;
    // After this append returned: a listener may start a replay, which reads the segment.
    for (const listener of this.appended) queueMicrotask(listener);
    return { ok: true, delivery_id };
  }

  /**
   * Replays every segment, oldest first, through `record` (the store's recordSignal), until no
   * segment is left, including those appended meanwhile. A segment is deleted only after all its
   * lines are in the database; if `record` throws (the database went away again) replay stops
   * and resumes later from the start of that segment, which dedupe makes harmless. A line that
   * can never be recorded is quarantined; a line whose key another body holds is refused.
   */
  async replay(h: ReplayHandlers): Promise<ReplayCounts> {
    const counts: ReplayCounts = { recorded: 0, duplicates: 0, refused: 0, quarantined: 0 };
    for (;;) {
      const name = this.segments()[0];
      if (name === undefined) return counts;
      const path = join(this.dir, name);
      // Later appends go to a new segment: this one is read once, whole.
      if (this.current?.path === path) this.closeCurrent();
      const text = readFileSync(path, 'utf8');
      let count = 0;
      for (const [index, raw] of text.split('\n').entries()) {
        if (raw.trim() === '') continue;
        count += 1;
        const where = `${name}:${index + 1}`;
        const parsed = parseSpoolLine(raw);
        if (!parsed.ok) {
          // A torn last line from a crash mid-append was never acknowledged; anything else is
          // damage to the file. Either way it cannot be recorded.
          await this.quarantine(h, where, raw, `not a valid delivery: ${parsed.reason}`);
          counts.quarantined += 1;
          continue;
        }
        let outcome: RecordOutcome;
        try {
          outcome = await h.record(parsed.input);
        } catch (err) {
          if (!isDataError(err)) throw err;
          await this.quarantine(h, where, raw, `the store refused it: ${describeDbError(err)}`);
          counts.quarantined += 1;
          continue;
        }
        if (outcome.kind === 'inserted') {
          h.accepted(outcome.record);
          counts.recorded += 1;
        } else if (outcome.kind === 'duplicate') {
          counts.duplicates += 1;
        } else {
          const { source, idempotency_key: key, request_id } = parsed.input;
          this.logger.warn({ segment: name, line: index + 1, source, idempotency_key: key, request_id, signal_id: outcome.record.signal_id }, 'spooled delivery reuses an idempotency key with another body: refused');
          await h.refused({
            at: this.now().toISOString(),
            source,
            // What the sender would have got live; it was told 202 deferred.
            code: 'idempotency_key_reused',
            reason: 'idempotency key reused',
            issues: [{ path: '', message: `idempotency_key_reused: spooled delivery ${where}; key "${key}" belongs to ${outcome.record.signal_id}` }],
            request_id,
            body_excerpt: excerpt(JSON.stringify(parsed.input.signal)),
          });
          counts.refused += 1;
        }
      }
      unlinkSync(path);
      this.bytes = Math.max(0, this.bytes - Buffer.byteLength(text));
      this.pendingCount = Math.max(0, this.pendingCount - count);
    }
  }

  close(): void {
    this.closeCurrent();
  }

  /**
   * A line that can never be recorded: kept for operators as a refused delivery, then appended
   * to the quarantine file (and dropped from its segment with the segment).
   */
  private async quarantine(h: ReplayHandlers, where: string, raw: string, reason: string): Promise<void> {
    const known = lineFields(raw);
    await h.refused({
      at: this.now().toISOString(),
      source: known.source ?? '(unknown)',
      // The sender was told 202 deferred: no refusal code was ever sent.
      code: null,
      reason: `spooled delivery quarantined: ${reason}`.slice(0, 500),
      issues: [],
      request_id: known.request_id ?? '',
      body_excerpt: excerpt(raw),
    });
    const path = join(this.dir, QUARANTINE);
    try {
      const fd = openSync(path, 'a');
      try {
        writeSync(fd, `${raw}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      fsyncDir(this.dir);
      this.logger.error({ line: where, reason, quarantine: path }, `spool line ${where} can never be recorded: quarantined`);
    } catch (err) {
      // It can never be recorded either way; the log keeps what the file could not.
      this.logger.error({ line: where, reason, err, excerpt: excerpt(raw) }, `spool line ${where} can never be recorded and the quarantine file refused it: dropped`);
    }
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
    const fd = openSync(path, 'a');
    try {
      // The file's name must survive a power cut as well as its lines.
      fsyncDir(this.dir);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.current = { path, fd, lines: 0, size: 0 };
  }

  /** Cuts a line that did not fully reach the disk off its segment again. */
  private cutBack(segment: NonNullable<Spool['current']>): void {
    try {
      ftruncateSync(segment.fd, segment.size);
      fsyncSync(segment.fd);
    } catch (err) {
      // The segment may end in a torn line: nothing more goes after it (the next line would be
      // glued to it), and replay quarantines the tail.
      this.logger.error({ segment: segment.path, err }, 'spool could not cut a failed line off its segment; starting a new one');
      this.closeCurrent();
    }
  }

  private closeCurrent(): void {
    if (this.current !== null) {
      closeSync(this.current.fd);
      this.current = null;
    }
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

function excerpt(text: string): string {
  return text.length > 512 ? `${text.slice(0, 509)}...` : text;
}
