/** Refused deliveries and their retention. */
import { describe, expect, test } from 'vitest';
import type { RefusedDelivery } from '../../../src/store/store.js';
import { at, must, type ContractContext } from './helpers.js';

export function deliveriesContract({ s }: ContractContext): void {
  describe('refused deliveries', () => {
    const delivery = (i: number): RefusedDelivery => ({
      at: at(i).toISOString(),
      source: i % 2 === 0 ? 'tv' : 'internal',
      code: 'invalid_signal',
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

    test('authentication refusals and the others are kept apart, the newest `keep` of each', async () => {
      const auth = (i: number, code: 'unauthorized' | 'forbidden'): RefusedDelivery => ({ ...delivery(i), code, issues: [], body_excerpt: '' });
      await s().recordRefusedDelivery(delivery(1), 3);
      await s().recordRefusedDelivery({ ...delivery(2), code: null }, 3);
      for (let i = 3; i <= 12; i += 1) await s().recordRefusedDelivery(auth(i, i % 2 === 0 ? 'unauthorized' : 'forbidden'), 3);
      await s().recordRefusedDelivery(delivery(13), 3);
      const listed = (await s().listRefusedDeliveries(100)).items;
      expect(listed.map((d) => [d.reason, d.code])).toEqual([
        ['reason-13', 'invalid_signal'],
        ['reason-12', 'unauthorized'],
        ['reason-11', 'forbidden'],
        ['reason-10', 'unauthorized'],
        ['reason-2', null],
        ['reason-1', 'invalid_signal'],
      ]);
      await s().recordRefusedDelivery(delivery(14), 3);
      expect((await s().listRefusedDeliveries(100)).items.map((d) => d.reason)).toEqual(['reason-14', 'reason-13', 'reason-12', 'reason-11', 'reason-10', 'reason-2']);
    });

    test('a fractional keep keeps its whole part; keep 1 keeps only the newest', async () => {
      for (let i = 1; i <= 3; i += 1) await s().recordRefusedDelivery(delivery(i), 2.7);
      expect((await s().listRefusedDeliveries(100)).items).toEqual([delivery(3), delivery(2)]);
      await s().recordRefusedDelivery(delivery(4), 1);
      expect((await s().listRefusedDeliveries(100)).items).toEqual([delivery(4)]);
    });
  });
}
