/**
 * planReconcile: which positions the connector's report makes the ledger adopt, per instrument
 * (an order in flight, or a position written since its version was read, leaves it alone), and
 * settleReconcile: what the conditional writes made of it. Table tests, no database.
 */
import { describe, expect, test } from 'vitest';
import type { Position } from '../../../src/domain/types.js';
import { planReconcile, settleReconcile, type LedgerRow } from '../../../src/store/plans/ledger.js';

const NOW = new Date('2026-11-23T15:00:00.000Z');
const V = NOW.getTime() - 60_000;
const p = (instrument: string, quantity: number, avg_price = 10): Position => ({ instrument, quantity, avg_price });
const row = (instrument: string, quantity: number, updated_at = V): LedgerRow => ({ instrument, quantity, updated_at });
/** The versions as read before the connector was asked: those of `rows`. */
const versionsOf = (rows: LedgerRow[]): Record<string, number> => Object.fromEntries(rows.map((r) => [r.instrument, r.updated_at]));

describe('planReconcile', () => {
  const cases: Array<{
    name: string;
    ledger: LedgerRow[];
    reported: Position[];
    seen?: Record<string, number>;
    inFlight?: string[];
    adopt: Array<[string, number, number, number | null]>;
    skipped?: Array<[string, 'in_flight' | 'changed']>;
  }> = [
    { name: 'both empty: nothing', ledger: [], reported: [], adopt: [] },
    { name: 'agreeing: nothing', ledger: [row('A', 5)], reported: [p('A', 5)], adopt: [] },
    { name: 'float dust is no drift', ledger: [row('A', 0.1 + 0.2)], reported: [p('A', 0.3)], adopt: [] },
    { name: 'a different quantity is adopted with the reported average, conditional on its version', ledger: [row('A', 10)], reported: [p('A', 8, 101)], adopt: [['A', 8, 101, V]] },
    { name: 'a position only the connector has is adopted, conditional on no row', ledger: [], reported: [p('M', -5, 50)], adopt: [['M', -5, 50, null]] },
    { name: 'a position the connector does not report goes flat, average 0', ledger: [row('T', 3)], reported: [], adopt: [['T', 0, 0, V]] },
    { name: 'a flat ledger row and no report: nothing', ledger: [row('T', 0)], reported: [], adopt: [] },
    { name: 'several, sorted by instrument', ledger: [row('B', 1), row('A', 1)], reported: [p('C', 2, 3)], adopt: [['A', 0, 0, V], ['B', 0, 0, V], ['C', 2, 3, null]] },
    { name: 'an instrument in flight is skipped; the others are adopted', ledger: [row('A', 1), row('B', 1)], reported: [p('A', 5), p('B', 7, 2)], inFlight: ['A'], adopt: [['B', 7, 2, V]], skipped: [['A', 'in_flight']] },
    { name: 'in flight without drift is not mentioned', ledger: [row('A', 5)], reported: [p('A', 5)], inFlight: ['A'], adopt: [] },
    { name: 'a fill booked since the versions were read: skipped', ledger: [row('A', 15, V + 7)], reported: [p('A', 10)], seen: { A: V }, adopt: [], skipped: [['A', 'changed']] },
    { name: 'a position created since the versions were read: skipped', ledger: [row('A', 5)], reported: [], seen: {}, adopt: [], skipped: [['A', 'changed']] },
    { name: 'a position gone since the versions were read (pruned): skipped', ledger: [], reported: [p('A', 5)], seen: { A: V }, adopt: [], skipped: [['A', 'changed']] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planReconcile(c.ledger, c.reported, NOW, c.seen ?? versionsOf(c.ledger), new Set(c.inFlight ?? []));
      expect(plan.adopt.map(({ write }) => [write.instrument, write.values.quantity, write.values.avg_price, write.expected])).toEqual(c.adopt);
      expect(plan.adopt.map(({ drift }) => [drift.instrument, drift.connector])).toEqual(c.adopt.map(([instrument, quantity]) => [instrument, quantity]));
      for (const { write } of plan.adopt) expect(write.values.updated_at).toBe(NOW.getTime());
      expect(plan.skipped.map((s) => [s.instrument, s.reason])).toEqual(c.skipped ?? []);
    });
  }

  test('an adopted position written in this same millisecond gets a version past it', () => {
    const plan = planReconcile([row('A', 1, NOW.getTime())], [p('A', 2)], NOW, { A: NOW.getTime() }, new Set());
    expect(plan.adopt[0]?.write.values.updated_at).toBe(NOW.getTime() + 1);
  });
});

describe('settleReconcile', () => {
  const plan = planReconcile([row('A', 1), row('B', 1)], [p('A', 2), p('B', 3), p('C', 4)], NOW, versionsOf([row('A', 1), row('B', 1)]), new Set(['C']));

  test('what was written is the drift, logged once; a write that found its version moved is skipped', () => {
    const { result, event } = settleReconcile('mock', plan, [true, false], NOW);
    expect(result.drift).toEqual([{ instrument: 'A', ledger: 1, connector: 2 }]);
    expect(result.skipped).toEqual([
      { instrument: 'C', reason: 'in_flight' },
      { instrument: 'B', reason: 'changed' },
    ]);
    expect(event).toEqual({ at: NOW, event: { type: 'positions.drift', data: { connector: 'mock', drift: result.drift } } });
  });

  test('nothing written: no event', () => {
    expect(settleReconcile('mock', plan, [false, false], NOW).event).toBeNull();
  });
});
