/**
 * The NATS JetStream sink's publisher (docs/configuration.md#sinks): one connection, the stream
 * made sure of, and log entries published in order with JetStream's ack awaited for each.
 *
 * - Each entry goes to `<subject_prefix>.<type>` as the JSON `GET /admin/events` shows, with
 *   `Nats-Msg-Id` = the entry's chain hash: the same entry has the same id whichever process or
 *   restart publishes it (JetStream drops the second copy within the stream's duplicate window),
 *   and no other entry can share it (a `seq` would repeat for a new database on the same stream).
 * - Up to a whole batch is in flight at once; the second and later entries of a batch carry
 *   `Nats-Expected-Last-Msg-Id` = the previous entry's id, so none is stored unless the one
 *   before it is: a lost publish can never let a later entry overtake it. A refusal of that
 *   expectation right after a confirmed entry means another publisher wrote in between (a shared
 *   stream); publishing goes on from there without it.
 * - The stream is created when missing (subjects `<prefix>.>`, limits retention: max_age,
 *   max_bytes, the oldest discarded) and used as it is when it exists.
 * - The connection is retried with backoff until it is made; after that the client reconnects by
 *   itself. `link()` says whether it is up, since when and why not (never a credential).
 */
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { hidePasswordsInUrls } from '../config/load.js';
import type { NatsSinkConfig } from '../config/sinks.js';
import { nextDelay } from '../domain/backoff.js';
import type { EventRecord } from '../store/store.js';
import type { Delivered } from './event-consumer.js';

/** JetStream's "wrong last msg ID" (the expectation on the previous entry was not met). */
const WRONG_LAST_MSG_ID = 10070;
/** JetStream's "stream name already in use" (another instance created it a moment before). */
const STREAM_NAME_IN_USE = 10058;

/** `<prefix>.<type>`, each token of the type kept to what a subject may hold (never a wildcard). */
export function subjectFor(prefix: string, type: string): string {
  const tokens = type.split('.').map((t) => t.replace(/[^A-Za-z0-9_-]/g, '_') || '_');
  return `${prefix}.${tokens.join('.')}`;
}

/**
 * Whether a stream with these subject filters takes every `<prefix>.<type>`: one filter is the
 * prefix's first tokens (each the same or `*`, possibly none) then `>`. A stream that takes only some types is not
 * enough: the first entry of another type would stall the sink.
 */
export function streamTakes(subjects: readonly string[], prefix: string): boolean {
  const want = prefix.split('.');
  return subjects.some((subject) => {
    const tokens = subject.split('.');
    const last = tokens.length - 1;
    // `>` after at most the prefix's tokens, each before it the prefix's own or `*`.
    return tokens[last] === '>' && last <= want.length && tokens.slice(0, last).every((t, i) => t === want[i] || t === '*');
  });
}

/** The payload: the entry exactly as `GET /admin/events` shows it. */
export function entryPayload(e: EventRecord): string {
  return JSON.stringify({ seq: e.seq, at: e.at, type: e.type, signal_id: e.signal_id, data: e.data, prev_hash: e.prev_hash, hash: e.hash });
}

export interface LinkState {
  up: boolean;
  /** Since when it is up or down (ms). */
  since: number;
  /** Why it is down (null while up). */
  reason: string | null;
}

export interface NatsSinkDeps {
  logger: Logger;
  /** Milliseconds since the epoch. */
  clock: () => number;
  /** Called when the connection is (re)made: a delivery waiting out a backoff may go now. */
  onConnected?: () => void;
  random?: () => number;
}

export class NatsSink {
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private streamReady = false;
  private stopped = false;
  private state: LinkState;
  private cutPause: (() => void) | null = null;
  private readonly upWaiters = new Set<() => void>();
  private readonly servers: string[];
  private readonly secrets: string[];

  constructor(
    private readonly config: NatsSinkConfig,
    private readonly deps: NatsSinkDeps,
  ) {
    this.servers = typeof config.url === 'string' ? [config.url] : config.url;
    this.secrets = [config.password, config.token].filter((s): s is string => s !== undefined);
    this.state = { up: false, since: deps.clock(), reason: 'connecting' };
  }

  link(): LinkState {
    return { ...this.state };
  }

  /** Starts connecting in the background; never throws, never waits. */
  start(): void {
    void this.connectLoop();
  }

  /** Publishes `entries` in order; what JetStream acknowledged (stored or a duplicate) is confirmed. */
  async publish(entries: EventRecord[]): Promise<Delivered> {
    // Down now may be up in a moment (the first connection at start, a reconnect): wait as long as a publish would.
    if (!this.state.up) await this.whenUp(this.config.timeout_ms);
    const js = this.js;
    if (js === null || !this.state.up) return { confirmed: 0, failure: { reason: `not connected to NATS (${this.state.reason ?? 'connecting'})` } };
    if (!this.streamReady) {
      try {
        await this.ensureStream();
        this.streamReady = true;
      } catch (err) {
        return { confirmed: 0, failure: { reason: `stream ${this.config.stream}: ${this.describe(err)}` } };
      }
    }
    let confirmed = 0;
    while (confirmed < entries.length) {
      const batch = entries.slice(confirmed);
      const acks = await Promise.allSettled(
        batch.map((e, i) => {
          const previous = batch[i - 1];
          return js.publish(subjectFor(this.config.subject_prefix, e.type), entryPayload(e), {
            msgID: e.hash,
            timeout: this.config.timeout_ms,
            ...(previous === undefined ? {} : { expect: { lastMsgID: previous.hash } }),
          });
        }),
      );
      const failed = acks.findIndex((a) => a.status === 'rejected');
      if (failed < 0) return { confirmed: entries.length };
      confirmed += failed;
      const ack = acks[failed];
      const err: unknown = ack?.status === 'rejected' ? ack.reason : null;
      // Another publisher's message came after the entry confirmed just before: go on from here.
      if (failed > 0 && err instanceof JetStreamApiError && err.code === WRONG_LAST_MSG_ID) continue;
      // Perhaps no stream takes the subject any more (deleted, or a server back without its
      // store): the retry makes sure of the stream first, one request.
      this.streamReady = false;
      return { confirmed, failure: { reason: this.describe(err) } };
    }
    return { confirmed };
  }

  /** Resolves when the connection is up, or after `ms`, or at close. */
  private whenUp(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.upWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.upWaiters.add(done);
    });
  }

  private setState(state: LinkState): void {
    this.state = state;
    if (state.up) for (const wake of [...this.upWaiters]) wake();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.cutPause?.();
    for (const wake of [...this.upWaiters]) wake();
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    await nc?.close().catch(() => undefined);
  }

  private async connectLoop(): Promise<void> {
    const random = this.deps.random ?? Math.random;
    for (let attempt = 1; !this.stopped && this.nc === null; attempt += 1) {
      try {
        const nc = await connect({
          servers: this.servers,
          name: `sluice sink ${this.config.stream}`,
          timeout: this.config.timeout_ms,
          // Once connected, the client reconnects by itself, for ever.
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
          ...(this.config.user === undefined ? {} : { user: this.config.user, pass: this.config.password }),
          ...(this.config.token === undefined ? {} : { token: this.config.token }),
        });
        if (this.stopped) {
          await nc.close();
          return;
        }
        this.adopt(nc);
        return;
      } catch (err) {
        const reason = this.describe(err);
        if (attempt === 1 || this.state.reason !== reason) this.deps.logger.warn({ sink: this.config.stream, servers: this.servers, reason }, 'cannot connect to NATS; retrying');
        this.setState({ up: false, since: this.state.since, reason });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, nextDelay(attempt, this.config.backoff, random));
          this.cutPause = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.cutPause = null;
      }
    }
  }

  private adopt(nc: NatsConnection): void {
    this.nc = nc;
    this.js = jetstream(nc, { timeout: this.config.timeout_ms });
    this.streamReady = false;
    this.setState({ up: true, since: this.deps.clock(), reason: null });
    this.deps.logger.info({ sink: this.config.stream, server: nc.getServer() }, 'connected to NATS');
    this.deps.onConnected?.();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.setState({ up: false, since: this.deps.clock(), reason: `disconnected from ${s.server}` });
          this.deps.logger.warn({ sink: this.config.stream, server: s.server }, 'disconnected from NATS; reconnecting');
        } else if (s.type === 'reconnect') {
          // The server may have come back without the stream: make sure of it again.
          this.streamReady = false;
          this.setState({ up: true, since: this.deps.clock(), reason: null });
          this.deps.logger.info({ sink: this.config.stream, server: s.server }, 'reconnected to NATS');
          this.deps.onConnected?.();
        } else if (s.type === 'error') {
          this.deps.logger.warn({ sink: this.config.stream, reason: this.describe(s.error) }, 'NATS reported an error');
        }
      }
    })();
    void nc.closed().then((err) => {
      if (this.nc !== nc) return;
      // Closed for good (the client gave up, e.g. credentials refused): connect again from scratch.
      this.nc = null;
      this.js = null;
      this.setState({ up: false, since: this.deps.clock(), reason: err instanceof Error ? this.describe(err) : 'connection closed' });
      if (!this.stopped) void this.connectLoop();
    });
  }

  /** Uses the stream when it exists (as it is); creates it otherwise. */
  private async ensureStream(): Promise<void> {
    const nc = this.nc;
    if (nc === null) throw new Error('not connected');
    const jsm = await jetstreamManager(nc, { timeout: this.config.timeout_ms });
    const name = this.config.stream;
    try {
      const info = await jsm.streams.info(name);
      const subjects = info.config.subjects ?? [];
      // Else every publish fails as "no responders", which the client words "jetstream is not enabled".
      if (!streamTakes(subjects, this.config.subject_prefix)) {
        throw new Error(`does not take ${this.config.subject_prefix}.> (its subjects: ${subjects.join(', ') || 'none'}): add ${this.config.subject_prefix}.> to them, or set subject_prefix to one they take`);
      }
      this.deps.logger.info({ sink: name, subjects }, 'publishing to the existing NATS stream');
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    }
    const subjects = [`${this.config.subject_prefix}.>`];
    try {
      await jsm.streams.add({
        name,
        subjects,
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: nanos(this.config.max_age_seconds * 1000),
        max_bytes: this.config.max_bytes,
        duplicate_window: nanos(this.config.duplicate_window_seconds * 1000),
        num_replicas: 1,
      });
      this.deps.logger.info({ sink: name, subjects, max_age_seconds: this.config.max_age_seconds, max_bytes: this.config.max_bytes, duplicate_window_seconds: this.config.duplicate_window_seconds }, 'created the NATS stream');
    } catch (err) {
      // Created by another instance meanwhile: use it.
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
    }
  }

  /** An error as a reason: its message, never a credential. */
  private describe(err: unknown): string {
    let text = err instanceof Error ? err.message || err.name : String(err);
    for (const secret of this.secrets) text = text.split(secret).join('[redacted]');
    return hidePasswordsInUrls(text);
  }
}
