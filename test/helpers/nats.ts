/**
 * NATS for tests: the shared server at 127.0.0.1:4222 (JetStream on; tests that need it are
 * skipped, visibly, when nothing answers there), a stream name and subject prefix unique to a
 * test, a stream read back in full with an ordered consumer, and a nats-server of a test's own
 * (/usr/sbin/nats-server on a free port and a store directory) that the test stops and starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type StreamInfo } from '@nats-io/jetstream';
import { eventually } from './server.js';

export const NATS_URL = 'nats://127.0.0.1:4222';
export const NATS_SERVER_BIN = '/usr/sbin/nats-server';

/** Whether something accepts TCP connections at 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Null when the shared NATS answers; otherwise why its tests are skipped. */
export const NATS_MISSING: string | null = (await listening(4222)) ? null : `no NATS at ${NATS_URL}`;

/** A stream name and subject prefix no other test uses. */
export function uniqueStream(): { stream: string; prefix: string } {
  const tag = randomBytes(4).toString('hex');
  return { stream: `T_${tag}`, prefix: `t${tag}` };
}

export interface StreamMessage {
  subject: string;
  /** The stream's own sequence number. */
  streamSeq: number;
  msgId: string | null;
  /** The payload, parsed. */
  body: Record<string, unknown>;
}

export async function withNats<T>(url: string, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: url });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

export async function streamInfo(url: string, stream: string): Promise<StreamInfo | null> {
  return withNats(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    return jsm.streams.info(stream).catch(() => null);
  });
}

/** Every message the stream holds, in stream order. */
export async function readStream(url: string, stream: string): Promise<StreamMessage[]> {
  return withNats(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    const total = (await jsm.streams.info(stream)).state.messages;
    const out: StreamMessage[] = [];
    if (total === 0) return out;
    const consumer = await jetstream(nc).consumers.get(stream);
    const messages = await consumer.consume();
    for await (const m of messages) {
      out.push({ subject: m.subject, streamSeq: m.seq, msgId: m.headers?.get('Nats-Msg-Id') ?? null, body: m.json<Record<string, unknown>>() });
      if (out.length >= total) break;
    }
    await messages.close();
    return out;
  });
}

export async function deleteStream(url: string, stream: string): Promise<void> {
  await withNats(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => false);
  }).catch(() => undefined);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A nats-server of the test's own, with JetStream storing under `dir`. */
export class OwnNatsServer {
  private proc: ChildProcess | null = null;
  readonly url: string;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.url = `nats://127.0.0.1:${port}`;
  }

  static available(): boolean {
    return existsSync(NATS_SERVER_BIN);
  }

  async start(): Promise<void> {
    const proc = spawn(NATS_SERVER_BIN, ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.dir], { stdio: 'ignore' });
    this.proc = proc;
    await eventually(async () => ((await listening(this.port)) ? true : proc.exitCode !== null ? Promise.reject(new Error(`nats-server exited with ${proc.exitCode}`)) : undefined), 10_000, `nats-server on port ${this.port}`);
  }

  /** SIGKILL (the store directory stays) and wait for the exit. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  }
}
