/**
 * Shared pieces of the sink tests: a sink's config, its lag read from `/metrics`, a log filled
 * through the store before sluice starts, and the check that a stream holds exactly the log.
 */
import { expect } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { NATS_URL, readStream, streamInfo, type StreamMessage } from '../helpers/nats.js';
import { ADMIN_TOKEN, eventually } from '../helpers/server.js';
import type { EventItem } from '../ops/helpers.js';

/** One nats sink with a short backoff (tests wait for catch-up, not for a 30 s cap). */
export function natsSink(stream: string, prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'nats', url: NATS_URL, stream, subject_prefix: prefix, backoff: { base_ms: 20, cap_ms: 200 }, ...extra };
}

/** `sluice_sink_lag_events{sink="<name>"}` of the sluice at `url` (null when not shown). */
export async function sinkLag(url: string, name: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`sluice_sink_lag_events{sink="${name}"}`));
  return line === undefined ? null : Number(line.split(' ').pop());
}

/** Appends `n` entries of type `test.backlog` to the log at `databaseUrl` (sluice not running). */
export async function fillLog(databaseUrl: string, n: number): Promise<void> {
  const store = await openStore(databaseUrl);
  try {
    for (let from = 0; from < n; from += 5_000) {
      await Promise.all(Array.from({ length: Math.min(5_000, n - from) }, (_, i) => store.appendEvent({ type: 'test.backlog', data: { i: from + i } })));
    }
  } finally {
    await store.close();
  }
}

/** Waits until the stream at `url` holds at least `count` messages, then reads the sink's (subject under `prefix`). */
export async function sinkMessages(url: string, stream: string, prefix: string, count: number): Promise<StreamMessage[]> {
  await eventually(async () => ((await streamInfo(url, stream))?.state.messages ?? 0) >= count || undefined, 30_000, `${count} messages in ${stream}`);
  return (await readStream(url, stream)).filter((m) => m.subject.startsWith(`${prefix}.`));
}

/** The stream holds exactly the log, in order: the same entries, the subject by type, the id by hash. */
export function expectExactly(messages: StreamMessage[], events: EventItem[], prefix: string): void {
  expect(messages.map((m) => m.body.seq)).toEqual(events.map((e) => e.seq));
  expect(messages.map((m) => m.body)).toEqual(events);
  expect(messages.map((m) => m.subject)).toEqual(events.map((e) => `${prefix}.${e.type}`));
  expect(messages.map((m) => m.msgId)).toEqual(events.map((e) => e.hash));
}
