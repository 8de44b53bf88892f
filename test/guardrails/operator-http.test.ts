/**
 * The operator's levers over HTTP (docs/execution.md#modes, docs/http-api.md#mode-and-flatten): `POST /admin/flatten` closes every
 * position in any mode and for any instrument, through audited `_operator` signals;
 * `POST /admin/mode` with `cancel_open_orders` asks each connector to cancel, and logs what it
 * did; and the `target` action orders the difference to a signed target, within the mode.
 */
import { describe, expect, test } from 'vitest';
import {
  failuresOf,
  getSignal,
  listSignals,
  mockOrders,
  mockPositions,
  readEvents,
  sendFinal,
  setMode,
  startGuarded,
  status,
} from '../helpers/guardrails.js';
import { eventually, type TestServer } from '../helpers/server.js';

interface FlattenAnswer {
  status: string;
  signals: Array<{ signal_id: string; connector: string; instrument: string; quantity: number; status: string }>;
}

async function flatten(s: TestServer, reason: string): Promise<FlattenAnswer> {
  const res = await s.admin('/flatten', { body: { reason } });
  const text = await res.text();
  expect(res.status, text).toBe(202);
  return JSON.parse(text) as FlattenAnswer;
}

/** Waits until every listed signal is final and returns their records. */
async function settled(s: TestServer, ids: readonly string[]) {
  return eventually(async () => {
    const records = await Promise.all(ids.map((id) => getSignal(s, id)));
    return records.every((r) => r.status === 'executed' || r.status === 'rejected' || r.status === 'failed') ? records : undefined;
  }, 10_000, 'flatten signals to finish');
}

describe('POST /admin/flatten', () => {
  test('in paused mode: closes long and short positions in 3 instruments, audited, listed under source _operator', async () => {
    const s = await startGuarded({});
    try {
      expect((await sendFinal(s, { action: 'buy', instrument: 'FLA', quantity: 10, price: 100 })).status).toBe('executed');
      expect((await sendFinal(s, { action: 'sell', instrument: 'FLB', quantity: 5, price: 50 })).status).toBe('executed');
      expect((await sendFinal(s, { action: 'buy', instrument: 'FLC', quantity: 3, price: 20 })).status).toBe('executed');
      await setMode(s, 'paused', 'incident');

      const answer = await flatten(s, 'end of incident');
      expect(answer.status).toBe('accepted');
      const byInstrument = [...answer.signals].sort((a, b) => a.instrument.localeCompare(b.instrument));
      expect(byInstrument).toEqual([
        { signal_id: expect.any(String), connector: 'mock', instrument: 'FLA', quantity: 10, status: 'accepted' },
        { signal_id: expect.any(String), connector: 'mock', instrument: 'FLB', quantity: -5, status: 'accepted' },
        { signal_id: expect.any(String), connector: 'mock', instrument: 'FLC', quantity: 3, status: 'accepted' },
      ]);

      const ids = answer.signals.map((x) => x.signal_id);
      const records = await settled(s, ids);
      for (const r of records) {
        expect(r.status).toBe('executed');
        expect(r.source).toBe('_operator');
        expect(r.signal.action).toBe('close');
        expect(r.signal.meta).toMatchObject({ operator: 'flatten', reason: 'end of incident' });
        expect(r.decision).toMatchObject({ allowed: true, failures: [], exit: true });
      }

      // Every position is closed, in the ledger and at the broker.
      const ledger = await mockPositions(s);
      expect(ledger.positions).toEqual([]);
      expect(ledger.gross_exposure).toBe(0);
      expect(ledger.reserved_exposure).toBe(0);
      const closing = (await mockOrders(s))
        .filter((o) => records.some((r) => r.result?.client_order_id === o.client_order_id))
        .map((o) => ({ instrument: o.instrument, side: o.side, quantity: o.quantity, status: o.status }))
        .sort((a, b) => a.instrument.localeCompare(b.instrument));
      expect(closing).toEqual([
        { instrument: 'FLA', side: 'sell', quantity: 10, status: 'filled' },
        { instrument: 'FLB', side: 'buy', quantity: 5, status: 'filled' },
        { instrument: 'FLC', side: 'sell', quantity: 3, status: 'filled' },
      ]);

      // A flatten does not change the mode.
      expect(await status(s)).toMatchObject({ mode: 'paused', mode_reason: 'incident' });

      // Audited: one flatten event naming the reason and the signals.
      const events = readEvents(s.dir, 'flatten');
      expect(events).toHaveLength(1);
      expect(events[0]?.data).toMatchObject({ reason: 'end of incident', actor: 'operator', signals: answer.signals });

      const listed = await listSignals(s, 'source=_operator');
      expect(listed.map((r) => r.signal_id).sort()).toEqual([...ids].sort());

      // Nothing left to close: a second flatten creates no signal (and is still audited).
      const again = await flatten(s, 'double check');
      expect(again).toEqual({ status: 'accepted', signals: [], cancelled: [], adopted: [] });
      expect(await listSignals(s, 'source=_operator')).toHaveLength(3);
      const after = readEvents(s.dir, 'flatten');
      expect(after).toHaveLength(2);
      expect(after[1]?.data).toMatchObject({ reason: 'double check', signals: [] });
    } finally {
      await s.close();
    }
  });

  test('closes a position in an instrument outside the allowlist, which a sender cannot exit', async () => {
    const open = await startGuarded({});
    const dir = open.dir;
    try {
      expect((await sendFinal(open, { action: 'buy', instrument: 'OLDX', quantity: 4, price: 25 })).status).toBe('executed');
    } finally {
      await open.close();
    }

    const s = await startGuarded({ instruments: ['AAPL'] }, {}, dir);
    try {
      const refused = failuresOf(await sendFinal(s, { action: 'sell', instrument: 'OLDX', quantity: 4, price: 25 }));
      expect(refused).toEqual([expect.objectContaining({ rule: 'instrument_allowed', limit: ['AAPL'], actual: 'OLDX' })]);

      const answer = await flatten(s, 'instrument delisted from policy');
      expect(answer.signals).toEqual([expect.objectContaining({ instrument: 'OLDX', quantity: 4 })]);
      const [record] = await settled(s, answer.signals.map((x) => x.signal_id));
      expect(record?.status).toBe('executed');
      expect(record?.result).toMatchObject({ filled_quantity: 4, fill_price: 25 });
      expect((await mockPositions(s)).positions).toEqual([]);
    } finally {
      await s.close();
    }
  });
});

describe('POST /admin/mode with cancel_open_orders', () => {
  test('pauses and asks the connector to cancel per instrument; the mock has nothing open, and the event says so', async () => {
    const s = await startGuarded({});
    try {
      expect((await sendFinal(s, { action: 'buy', instrument: 'CXA', quantity: 2, price: 10 })).status).toBe('executed');
      expect((await sendFinal(s, { action: 'buy', instrument: 'CXB', quantity: 1, price: 99, order_type: 'limit', limit_price: 98 })).status).toBe(
        'executed',
      );
      const before = await mockOrders(s);

      // Without the flag nothing is cancelled and nothing is logged about it.
      await setMode(s, 'exit_only', 'no flag');
      expect(readEvents(s.dir, 'orders.cancelled')).toEqual([]);

      const paused = await setMode(s, 'paused', 'halt trading', true);
      expect(paused).toMatchObject({ mode: 'paused', mode_reason: 'halt trading' });

      // The mock fills every order on arrival (a limit one at its limit price), so none is open:
      // each instrument's cancel succeeds with 0 cancelled, and every order keeps its status.
      const events = readEvents(s.dir, 'orders.cancelled');
      expect(events).toHaveLength(1);
      expect(events[0]?.data).toEqual({
        reason: 'halt trading',
        actor: 'operator',
        cancelled: [
          { connector: 'mock', instrument: 'CXA', cancelled: 0 },
          { connector: 'mock', instrument: 'CXB', cancelled: 0 },
        ],
      });
      expect(before.map((o) => o.status)).toEqual(['filled', 'filled']);
      expect(before.find((o) => o.instrument === 'CXB')).toMatchObject({ order_type: 'limit', limit_price: 98, fill_price: 98 });
      expect(await mockOrders(s)).toEqual(before);
      expect((await mockPositions(s)).positions).toEqual([
        { instrument: 'CXA', quantity: 2, avg_price: 10 },
        { instrument: 'CXB', quantity: 1, avg_price: 98 },
      ]);
    } finally {
      await s.close();
    }
  });
});

describe('the target action', () => {
  test('enabled: 0 → 5 buys 5; 5 → -3 sells 8 (a flip is allowed)', async () => {
    const s = await startGuarded({});
    try {
      const up = await sendFinal(s, { action: 'target', instrument: 'TGT', target_position: 5, price: 10 });
      expect(up.status).toBe('executed');
      expect(up.decision).toMatchObject({ allowed: true, side: 'buy', quantity: 5, exit: false });
      expect(up.result).toMatchObject({ filled_quantity: 5 });

      const flip = await sendFinal(s, { action: 'target', instrument: 'TGT', target_position: -3, price: 10 });
      expect(flip.status).toBe('executed');
      expect(flip.decision).toMatchObject({ allowed: true, side: 'sell', quantity: 8, exit: false });
      expect((await mockPositions(s)).positions).toEqual([{ instrument: 'TGT', quantity: -3, avg_price: 10 }]);

      // Already there: nothing is ordered.
      const same = await sendFinal(s, { action: 'target', instrument: 'TGT', target_position: -3, price: 10 });
      expect(same.status).toBe('executed');
      expect(same.decision).toMatchObject({ allowed: true, quantity: null, side: null });
      expect(same.result).toMatchObject({ status: 'no_op', filled_quantity: 0 });
    } finally {
      await s.close();
    }
  });

  test('exit_only: 5 → 8 is refused (would increase), 5 → 2 sells 3, 2 → -3 is trimmed to a sell of 2', async () => {
    const s = await startGuarded({});
    try {
      expect((await sendFinal(s, { action: 'target', instrument: 'TGX', target_position: 5, price: 10 })).status).toBe('executed');
      await setMode(s, 'exit_only', 'winding down');

      const increase = failuresOf(await sendFinal(s, { action: 'target', instrument: 'TGX', target_position: 8, price: 10 }));
      expect(increase).toEqual([
        expect.objectContaining({ rule: 'mode', code: 'exit_only_would_increase', limit: 5, actual: 8 }),
      ]);

      const down = await sendFinal(s, { action: 'target', instrument: 'TGX', target_position: 2, price: 10 });
      expect(down.status).toBe('executed');
      expect(down.decision).toMatchObject({ allowed: true, side: 'sell', quantity: 3, exit: true });
      expect((await mockPositions(s)).positions).toEqual([{ instrument: 'TGX', quantity: 2, avg_price: 10 }]);

      const flip = await sendFinal(s, { action: 'target', instrument: 'TGX', target_position: -3, price: 10 });
      expect(flip.status).toBe('executed');
      expect(flip.decision).toMatchObject({ allowed: true, side: 'sell', quantity: 2, trimmed: true });
      expect((await mockPositions(s)).positions).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
