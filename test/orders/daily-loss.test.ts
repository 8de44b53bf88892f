/**
 * A losing fill that arrives late still trips the daily loss limit (docs/execution.md#daily-loss,
 * docs/execution.md#fills): the sell is placed and answered with nothing filled, so nothing is
 * lost yet; when its fill arrives over the mock's stream, the booking that realizes the loss
 * switches the mode to `exit_only` (reason `daily_loss`), once: a whole fill, one in parts (the
 * first part at the limit switches it, the second finds it switched), and one that came due
 * while sluice was stopped (booked at the restart).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { readJson, sendFinal, sleep, statusOf } from '../helpers/connectors.js';
import { eventually, startTestServer, type TestServer } from '../helpers/server.js';
import { allEvents, expectSettledAndBookedOnce, ledgerOf, mockConfig } from './helpers.js';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

interface ModeStatus {
  mode: string;
  mode_reason: string | null;
}

describe('daily loss judged on a late fill (max_daily_loss 100)', () => {
  test('a sell that fills 500 ms later at a loss of 200: once it is booked the mode is exit_only (daily_loss), switched once', async () => {
    const server = await startTestServer({ config: mockConfig({}, { policy: { max_daily_loss: 100 } }) });
    s = server;
    // Long 10 at 100, filled at once (the mock's default).
    const buy = await sendFinal(server.url, { action: 'buy', instrument: 'LOSS', quantity: 10, price: 100 });
    expect(buy.result).toMatchObject({ status: 'filled', filled_quantity: 10 });

    await readJson<unknown>(await server.admin('/connectors/mock/faults', { body: { fill_delay_ms: 500 } }));
    const sell = await sendFinal(server.url, { action: 'sell', instrument: 'LOSS', quantity: 10, price: 80 });
    // Placed, nothing filled: no loss is realized by the placement.
    expect(sell).toMatchObject({ status: 'executed', result: { status: 'new', filled_quantity: 0 } });

    const status = await eventually(async () => {
      const st = (await statusOf(server.url)) as unknown as ModeStatus;
      return st.mode === 'exit_only' ? st : undefined;
    }, 10_000, 'exit_only after the fill');
    expect(status.mode_reason).toBe('daily_loss');
    await expectSettledAndBookedOnce(server.url);
    expect(await ledgerOf(server.url)).toMatchObject({ positions: {}, realized_pnl_today: -200 });

    const events = await allEvents(server.url);
    // The first mode.changed is the initial mode set at the first start; then exactly one switch.
    const switches = events.filter((e) => e.type === 'mode.changed' && e.data['to'] !== 'enabled');
    expect(events.filter((e) => e.type === 'mode.changed').map((e) => e.data['to'])).toEqual(['enabled', 'exit_only']);
    expect(switches).toHaveLength(1);
    expect(switches[0]?.data).toMatchObject({ from: 'enabled', to: 'exit_only', reason: 'daily_loss' });
    // The switch came with the late fill's booking, not with the placement.
    const sellCoid = clientOrderId(sell.signal_id);
    const executed = events.find((e) => e.type === 'signal.executed' && e.signal_id === sell.signal_id);
    const filled = events.find((e) => e.type === 'order.filled' && e.data['client_order_id'] === sellCoid);
    expect(filled?.data['fill']).toEqual({ quantity: 10, price: 80 });
    expect(executed?.seq).toBeLessThan(filled?.seq ?? 0);
    expect(filled?.seq).toBeLessThan(switches[0]?.seq ?? 0);

    // Exit-only from then on: a new buy is refused by the mode.
    const after = await sendFinal(server.url, { action: 'buy', instrument: 'LOSS', quantity: 1, price: 80 });
    expect(after.status).toBe('rejected');
    expect(after.decision?.failures.map((f) => f.rule)).toContain('mode');
  });

  test('a loss filled in two late parts, each at the limit: switched by the first part, once; the second books its loss too', async () => {
    const server = await startTestServer({ config: mockConfig({}, { policy: { max_daily_loss: 100 } }) });
    s = server;
    await sendFinal(server.url, { action: 'buy', instrument: 'LOSS2', quantity: 10, price: 100 });
    await readJson<unknown>(await server.admin('/connectors/mock/faults', { body: { fill_delay_ms: 300, partial_fills: 2 } }));
    const sell = await sendFinal(server.url, { action: 'sell', instrument: 'LOSS2', quantity: 10, price: 80 });
    expect(sell.result).toMatchObject({ status: 'new', filled_quantity: 0 });

    await eventually(async () => ((await statusOf(server.url)) as unknown as ModeStatus).mode === 'exit_only' ? true : undefined, 10_000, 'exit_only');
    await expectSettledAndBookedOnce(server.url);
    expect(await ledgerOf(server.url)).toMatchObject({ positions: {}, realized_pnl_today: -200 });
    const events = await allEvents(server.url);
    const sellCoid = clientOrderId(sell.signal_id);
    const parts = events.filter((e) => e.type.startsWith('order.') && e.data['client_order_id'] === sellCoid && e.data['fill'] !== null);
    expect(parts.map((e) => [e.type, e.data['fill']])).toEqual([
      ['order.partially_filled', { quantity: 5, price: 80 }],
      ['order.filled', { quantity: 5, price: 80 }],
    ]);
    const switches = events.filter((e) => e.type === 'mode.changed' && e.data['to'] === 'exit_only');
    expect(switches).toHaveLength(1);
    expect(switches[0]?.data['reason']).toBe('daily_loss');
    // The first part (−100, at the limit) switched it; the second found it switched already.
    expect(parts[0]?.seq).toBeLessThan(switches[0]?.seq ?? 0);
    expect(switches[0]?.seq).toBeLessThan(parts[1]?.seq ?? 0);
  });

  test('a losing fill that came due while sluice was stopped is judged at the restart: exit_only (daily_loss), once', async () => {
    const config = mockConfig({}, { policy: { max_daily_loss: 100 } });
    const first = await startTestServer({ config });
    s = first;
    await sendFinal(first.url, { action: 'buy', instrument: 'LOSS3', quantity: 10, price: 100 });
    await readJson<unknown>(await first.admin('/connectors/mock/faults', { body: { fill_delay_ms: 1000 } }));
    const sell = await sendFinal(first.url, { action: 'sell', instrument: 'LOSS3', quantity: 10, price: 70 });
    expect(sell.result).toMatchObject({ status: 'new', filled_quantity: 0 });
    await first.close();
    s = null;
    // The fill comes due while nothing runs; the mock catches up on it at the restart.
    await sleep(1100);

    const second = await startTestServer({ dir: first.dir, config });
    s = second;
    const status = await eventually(async () => {
      const st = (await statusOf(second.url)) as unknown as ModeStatus;
      return st.mode === 'exit_only' ? st : undefined;
    }, 10_000, 'exit_only after the restart');
    expect(status.mode_reason).toBe('daily_loss');
    await expectSettledAndBookedOnce(second.url);
    expect(await ledgerOf(second.url)).toMatchObject({ positions: {}, realized_pnl_today: -300 });
    const switches = (await allEvents(second.url)).filter((e) => e.type === 'mode.changed' && e.data['to'] === 'exit_only');
    expect(switches).toHaveLength(1);
  });
});
