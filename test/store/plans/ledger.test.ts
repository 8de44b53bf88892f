/** planReconcile: which positions the connector's report makes the ledger adopt. Table tests, no database. */
import { describe, expect, test } from 'vitest';
import type { Position } from '../../../src/domain/types.js';
import { planReconcile } from '../../../src/store/plans/ledger.js';

const NOW = new Date('2026-11-23T15:00:00.000Z');
const p = (instrument: string, quantity: number, avg_price = 10): Position => ({ instrument, quantity, avg_price });

describe('planReconcile', () => {
  const cases: Array<{ name: string; ledger: Array<{ instrument: string; quantity: number }>; reported: Position[]; upserts: Array<[string, number, number]> }> = [
    { name: 'both empty: nothing', ledger: [], reported: [], upserts: [] },
    { name: 'agreeing: nothing', ledger: [{ instrument: 'A', quantity: 5 }], reported: [p('A', 5)], upserts: [] },
    { name: 'float dust is no drift', ledger: [{ instrument: 'A', quantity: 0.1 + 0.2 }], reported: [p('A', 0.3)], upserts: [] },
    { name: 'a different quantity is adopted with the reported average', ledger: [{ instrument: 'A', quantity: 10 }], reported: [p('A', 8, 101)], upserts: [['A', 8, 101]] },
    { name: 'a position only the connector has is adopted', ledger: [], reported: [p('M', -5, 50)], upserts: [['M', -5, 50]] },
    { name: 'a position the connector does not report goes flat, average 0', ledger: [{ instrument: 'T', quantity: 3 }], reported: [], upserts: [['T', 0, 0]] },
    { name: 'a flat ledger row and no report: nothing', ledger: [{ instrument: 'T', quantity: 0 }], reported: [], upserts: [] },
    { name: 'several, sorted by instrument', ledger: [{ instrument: 'B', quantity: 1 }, { instrument: 'A', quantity: 1 }], reported: [p('C', 2, 3)], upserts: [['A', 0, 0], ['B', 0, 0], ['C', 2, 3]] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planReconcile('mock', c.ledger, c.reported, NOW);
      expect(plan.upserts).toEqual(c.upserts.map(([instrument, quantity, avg_price]) => ({ instrument, quantity, avg_price, updated_at: NOW.getTime() })));
      expect(plan.drift.map((d) => [d.instrument, d.connector])).toEqual(c.upserts.map(([instrument, quantity]) => [instrument, quantity]));
      expect(plan.event).toEqual(plan.drift.length === 0 ? null : { at: NOW, event: { type: 'positions.drift', data: { connector: 'mock', drift: plan.drift } } });
    });
  }
});
