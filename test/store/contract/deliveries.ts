/** Refused deliveries and their retention. */
import { describe, expect, test } from 'vitest';
import type { RefusedDelivery } from '../../../src/store/store.js';
import { at, must, type ContractContext } from './helpers.js';

export function deliveriesContract({ s }: ContractContext): void {
  describe('refused deliveries', () => {
    const delivery = (i: number): RefusedDelivery => ({
      at: at(i).toISOString(),
      source: i % 2 === 0 ? 'tv' : 'internal',
      reason: `reason-${i}`,
      issues: i % 2 === 0 ? [{ path: 'quantity', message: 'expected a positive number' }] : [],
      request_id: `req-${i}`,
      body_excerpt: `{"n":${i}}`,
    });

    test('only the newest `keep` are retained, newest first, with cursor pagination', async () => {
      for (let i = 1; i <= 6; i += 1) await s().recordRefusedDelivery(delivery(i), 4);
      const all = await s().listRefusedDeliveries(100);
      expect(all).toEqual({ items: [delivery(6), delivery(5), delivery(4), delivery(3)], next_cursor: null });

      const first = await s().listRefusedDeliveries(3);
      expect(first.items.map((d) => d.reason)).toEqual(['reason-6', 'reason-5', 'reason-4']);
      const cursor = must(first.next_cursor, 'a cursor to the next page');
      const second = await s().listRefusedDeliveries(3, cursor);
      expect(second).toEqual({ items: [delivery(3)], next_cursor: null });
    });

    const fewer = [
      { name: 'keep 0', keep: 0 },
      { name: 'keep -1', keep: -1 },
      { name: 'keep 0.5', keep: 0.5 },
    ];
    for (const c of fewer) {
      test(`keeping fewer than one (${c.name}) stores none and drops those kept before`, async () => {
        for (let i = 1; i <= 3; i += 1) await s().recordRefusedDelivery(delivery(i), 10);
        await s().recordRefusedDelivery(delivery(4), c.keep);
        expect(await s().listRefusedDeliveries(100)).toEqual({ items: [], next_cursor: null });
        // Retention resumes with the next delivery kept.
        await s().recordRefusedDelivery(delivery(5), 10);
        expect((await s().listRefusedDeliveries(100)).items).toEqual([delivery(5)]);
      });
    }

    test('a fractional keep keeps its whole part; keep 1 keeps only the newest', async () => {
      for (let i = 1; i <= 3; i += 1) await s().recordRefusedDelivery(delivery(i), 2.7);
      expect((await s().listRefusedDeliveries(100)).items).toEqual([delivery(3), delivery(2)]);
      await s().recordRefusedDelivery(delivery(4), 1);
      expect((await s().listRefusedDeliveries(100)).items).toEqual([delivery(4)]);
    });
  });
}
