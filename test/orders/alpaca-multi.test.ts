/**
 * Two instances on one PostgreSQL database, both streaming the same Alpaca account
 * (docs/execution.md#fills, docs/guarantees.md#several-instances-on-postgresql): every trade
 * update reaches both, and both apply it; the order row is the arbiter, so each fill is booked
 * once. 100 orders spread over both instances and ten instruments, each filled by the fake in
 * three parts 200 ms apart; and a close at one instance of a buy still filling, placed by the
 * other. Skipped, visibly, without SLUICE_TEST_POSTGRES_URL.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { startFakeAlpaca, type FakeAlpaca } from '../fakes/alpaca-server.js';
import { sendAccepted, sleep } from '../helpers/connectors.js';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { alpacaOrdersConfig, expectSettled, fakePositions, finalSignal, sluicePositions, warmUp } from './alpaca-helpers.js';

const suite = POSTGRES_URL === undefined ? describe.skip : describe;

const ORDERS = 100;
const INSTRUMENTS = 10;
const QUANTITY = 3;

suite('two PostgreSQL instances streaming one Alpaca account', () => {
  let fake: FakeAlpaca;
  let db: TestDatabase;
  const instances: TestServer[] = [];

  beforeAll(async () => {
    fake = await startFakeAlpaca({ fills: { delay_ms: 200, parts: 3 } });
    await warmUp(fake);
    db = await createTestDatabase();
    // One after the other: the first migrates the schema the second finds.
    for (const id of ['inst-a', 'inst-b']) {
      instances.push(await startTestServer({ config: alpacaOrdersConfig(fake), env: { DATABASE_URL: db.url, SLUICE_INSTANCE_ID: id } }));
    }
    await eventually(async () => (fake.streamStats().listening >= 2 ? true : undefined), 10_000, 'both instances listening');
  });
  afterAll(async () => {
    for (const s of instances) await s.close();
    await fake?.close();
    await db?.drop();
  });

  test('100 orders across both, filled in 3 parts: each fill booked once, positions equal the broker\'s', async () => {
    const [a, b] = instances;
    if (a === undefined || b === undefined) throw new Error('two instances expected');
    const sent = await Promise.all(
      Array.from({ length: ORDERS }, async (_, k) => {
        const at = k % 2 === 0 ? a : b;
        const accepted = await sendAccepted(at.url, { action: 'buy', instrument: `MU${k % INSTRUMENTS}`, quantity: QUANTITY, price: 100 });
        return { signal_id: accepted.signal_id, coid: clientOrderId(accepted.signal_id) };
      }),
    );
    for (const sig of sent) expect((await finalSignal(a.url, sig.signal_id, 60_000)).status).toBe('executed');

    const { booked, events } = await expectSettled(a.url, fake, { maxFillsPerOrder: 3, ms: 60_000 });
    expect(booked.size).toBe(ORDERS);
    for (const sig of sent) {
      expect(fake.order(sig.coid)).toMatchObject({ status: 'filled', filled_qty: String(QUANTITY) });
      expect(booked.get(sig.coid)).toMatchObject({ filled: QUANTITY, last: 'filled' });
    }
    const expected = Object.fromEntries(Array.from({ length: INSTRUMENTS }, (_, i) => [`MU${i}`, (ORDERS / INSTRUMENTS) * QUANTITY]));
    expect(fakePositions(fake)).toEqual(expected);
    // Both read the one ledger.
    expect(await sluicePositions(b.url)).toEqual(expected);
    // Both streamed all along: the fills came to both, and were booked by one.
    expect(fake.streamStats().listening).toBe(2);
    expect(events.filter((e) => e.type === 'order.filled')).toHaveLength(ORDERS);
  }, 120_000);

  test('a buy at one instance filling in parts, a close at the other 300 ms later: flat at the broker and in the ledger, nothing open', async () => {
    const [a, b] = instances;
    if (a === undefined || b === undefined) throw new Error('two instances expected');
    const buy = await sendAccepted(a.url, { action: 'buy', instrument: 'MUX', quantity: 9, price: 100 });
    await sleep(300);
    const close = await sendAccepted(b.url, { action: 'close', instrument: 'MUX' });
    expect((await finalSignal(a.url, buy.signal_id)).status).toBe('executed');
    expect((await finalSignal(b.url, close.signal_id)).status).toBe('executed');
    await expectSettled(a.url, fake, { maxFillsPerOrder: 3 });
    expect(fakePositions(fake)['MUX']).toBeUndefined();
    expect((await sluicePositions(b.url))['MUX']).toBeUndefined();
  }, 60_000);
});
