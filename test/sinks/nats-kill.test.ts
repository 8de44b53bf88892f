/**
 * The NATS sink across a `kill -9` (docs/guarantees.md#event-sinks), the built CLI on SQLite
 * against the NATS at 127.0.0.1:4222: sluice is killed with SIGKILL while it publishes a backlog
 * of 30,000 entries and started again; the stream ends holding every entry of the log exactly
 * once, in order. On top of the kill, the stored offset is set back 500 entries before the
 * restart (an offset write lost to the crash, made certain): those entries are published again
 * and JetStream drops them by their `Nats-Msg-Id`. A SIGTERM at the end stops it cleanly (exit 0).
 */
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, test } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { NATS_MISSING, NATS_URL, deleteStream, readStream, uniqueStream } from '../helpers/nats.js';
import { adminFetch, eventually, killChild, spawnSluice, tempDir, WEBHOOK_SECRET, writeConfig, type Child } from '../helpers/server.js';
import type { EventItem, EventsPage } from '../ops/helpers.js';
import { expectExactly, fillLog, natsSink, sinkLag } from './helpers.js';

const BACKLOG = 30_000;
const REWIND = 500;

let child: Child | null = null;
afterEach(async () => {
  await killChild(child);
  child = null;
});

async function allEvents(url: string): Promise<EventItem[]> {
  const out: EventItem[] = [];
  for (let after = 0; ; ) {
    const page = (await (await adminFetch(url, `/events?after=${after}&limit=1000`)).json()) as EventsPage;
    if (page.items.length === 0) return out;
    out.push(...page.items);
    after = page.next_after;
  }
}

describe.skipIf(NATS_MISSING !== null)(`the NATS sink killed mid-publish${NATS_MISSING === null ? '' : ` (skipped: ${NATS_MISSING})`}`, () => {
  test('SIGKILL while publishing a backlog, the offset set back, a restart: every entry exactly once, in order', { timeout: 120_000 }, async () => {
    const { stream, prefix } = uniqueStream();
    const dir = tempDir('sluice-nats-kill-');
    const databaseUrl = `file:${join(dir, 'sluice.db')}`;
    const configPath = writeConfig(dir, {
      sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } },
      execution: { reconcile_interval_seconds: 3600 },
      sinks: [natsSink(stream, prefix)],
    });
    await fillLog(databaseUrl, BACKLOG);
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const held = async () => (await jsm.streams.info(stream).catch(() => null))?.state.messages ?? 0;

      child = await spawnSluice({ dir, configPath });
      // Kill once part of the backlog is in the stream, while the rest is being published.
      await eventually(async () => ((await held()) >= 2_000 ? true : undefined), 30_000, 'the backlog being published');
      child.proc.kill('SIGKILL');
      await child.exited;
      child = null;
      const atKill = await held();
      expect(atKill).toBeLessThan(BACKLOG);

      // The offset a crash may leave behind what was acknowledged, made certain: set back 500.
      const store = await openStore(databaseUrl);
      const stored = (await store.getCursor(`sink:nats:${stream}`)) ?? 0;
      expect(stored).toBeLessThanOrEqual(atKill);
      expect(stored).toBeGreaterThan(REWIND);
      await store.setCursor(`sink:nats:${stream}`, stored - REWIND);
      await store.close();

      child = await spawnSluice({ dir, configPath });
      const url = child.url;
      await eventually(async () => ((await sinkLag(url, `nats:${stream}`)) === 0 ? true : undefined), 60_000, 'the sink caught up');
      const events = await allEvents(url);
      expect(events.length).toBeGreaterThanOrEqual(BACKLOG);
      const messages = await readStream(NATS_URL, stream);
      // Nothing but the log's entries, each once: the 500 published again were dropped as duplicates.
      expect(messages).toHaveLength(events.length);
      expectExactly(messages, events, prefix);

      child.proc.kill('SIGTERM');
      expect(await child.exited).toBe(0);
      child = null;
    } finally {
      await nc.close();
      await deleteStream(NATS_URL, stream);
    }
  });
});
