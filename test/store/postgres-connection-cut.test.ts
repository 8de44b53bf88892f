/**
 * A connection that dies right after its startup, at its first query. postgres.js runs a
 * query of its own there unless `fetch_types` is off (the array types, from pg_type), and a
 * failure of that query is a rejection no caller can catch: Node ends the process on it. The
 * store's connections must not run it, so such a termination is an ordinary dropped connection
 * that the verb retries. The fault is made by a TCP proxy in front of the test server: it answers
 * the next connections' first query as the server answers a session that pg_terminate_backend
 * ends (a FATAL 57P01), and closes them.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { createPostgresStore } from '../../src/store/postgres/store.js';
import type { Store } from '../../src/store/store.js';
import { newSignal } from './contract.js';

const POSTGRES_URL = process.env.SLUICE_TEST_POSTGRES_URL;

/** What the server sends a session that pg_terminate_backend ends: a FATAL ErrorResponse, 57P01. */
const ADMIN_SHUTDOWN = errorResponse({ S: 'FATAL', V: 'FATAL', C: '57P01', M: 'terminating connection due to administrator command' });

function errorResponse(fields: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(fields).map(([k, v]) => Buffer.from(`${k}${v}\0`)), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

interface CuttingProxy {
  url: string;
  /** The next `n` connections are terminated at their first query. */
  cutNext: (n: number) => void;
  /** How many connections were terminated so far. */
  cut: () => number;
  /** Drops every connection open now (the pool must open new ones). */
  dropAll: () => void;
  close: () => Promise<void>;
}

async function cuttingProxy(target: URL): Promise<CuttingProxy> {
  const open = new Set<Socket>();
  let toCut = 0;
  let cut = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    const pair = [client, upstream];
    for (const s of pair) {
      open.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        open.delete(s);
        for (const other of pair) other.destroy();
      });
    }
    const cutThis = toCut > 0;
    if (cutThis) toCut -= 1;
    let cutDone = false;
    client.on('data', (chunk) => {
      // The first query: a simple Query ('Q') or a Parse ('P'), whatever came before it (the
      // startup packet, a password, TLS negotiation: none starts with either byte).
      const query = chunk[0] === 0x51 || chunk[0] === 0x50;
      if (cutThis && !cutDone && query) {
        cutDone = true;
        cut += 1;
        upstream.destroy();
        client.end(ADMIN_SHUTDOWN);
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target.toString());
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    cutNext: (n) => {
      toCut = n;
    },
    cut: () => cut,
    dropAll: () => {
      for (const s of open) s.destroy();
    },
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (POSTGRES_URL === undefined) {
  describe.skip('a connection cut after its startup (set SLUICE_TEST_POSTGRES_URL to run)', () => {
    test('skipped', () => undefined);
  });
} else {
  const url = new URL(POSTGRES_URL);
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  describe('a connection cut after its startup', () => {
    test('the store runs no query of the driver first: each cut is a dropped connection its verb retries, and nothing is left unhandled', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      cleanups.push(async () => {
        process.off('unhandledRejection', onUnhandled);
      });
      const schema = `sluice_t_${randomBytes(6).toString('hex')}`;
      cleanups.push(async () => {
        const admin = postgres(url.toString(), { max: 1, onnotice: () => undefined });
        await admin.unsafe(`drop schema if exists "${schema}" cascade`);
        await admin.end();
      });
      const proxy = await cuttingProxy(url);
      cleanups.push(() => proxy.close());
      const store: Store = await createPostgresStore({ url: proxy.url, schema, max: 2 });
      cleanups.push(() => store.close());
      await store.recordSignal(newSignal());

      // Every connection of the pool is new from here; the first one opened is terminated at its
      // first query. The verb is a transaction, whose BEGIN is that query: postgres.js orphans
      // its own pg_type query only on a connection opened for one (a plain query's connection
      // reconnects quietly), so this is the case that ended the process.
      proxy.cutNext(1);
      proxy.dropAll();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const recorded = await store.recordSignal(newSignal());
      expect(recorded.kind).toBe('inserted');
      expect(proxy.cut()).toBe(1);
      expect((await store.listSignals({ limit: 10 })).items).toHaveLength(2);
      // A rejection surfaces on a later turn of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(unhandled).toEqual([]);
    });
  });
}
