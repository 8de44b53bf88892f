/** Retention of refused deliveries: table tests, no database. */
import { describe, expect, test } from 'vitest';
import { deliveryBucket, planRefusedDelivery, type DeliveryPlan } from '../../../src/store/plans/deliveries.js';
import type { RefusedDelivery } from '../../../src/store/store.js';

const delivery: RefusedDelivery = { at: '2026-11-23T15:00:00.000Z', source: 'tv', code: 'unauthorized', reason: 'unauthorized', issues: [{ path: 'a', message: 'b' }], request_id: 'r', body_excerpt: '{}' };
const row = { ...delivery, at: Date.parse(delivery.at), issues: '[{"path":"a","message":"b"}]', bucket: 'auth' as const };

describe('planRefusedDelivery', () => {
  const cases: Array<{ name: string; keep: number; want: DeliveryPlan | 'throws' }> = [
    { name: 'keep 1000: stored, the newest 1000 kept', keep: 1000, want: { kind: 'keep', row, keep: 1000 } },
    { name: 'keep 1: only this one', keep: 1, want: { kind: 'keep', row, keep: 1 } },
    { name: 'a fractional keep keeps its whole part', keep: 2.7, want: { kind: 'keep', row, keep: 2 } },
    { name: 'an infinite keep deletes nothing', keep: Number.POSITIVE_INFINITY, want: { kind: 'keep', row, keep: null } },
    { name: 'keep 0: none stored, all dropped', keep: 0, want: { kind: 'clear' } },
    { name: 'keep 0.5: fewer than one', keep: 0.5, want: { kind: 'clear' } },
    { name: 'keep -1: fewer than one', keep: -1, want: { kind: 'clear' } },
    { name: 'keep -Infinity: fewer than one', keep: Number.NEGATIVE_INFINITY, want: { kind: 'clear' } },
    { name: 'keep NaN: a bug upstream', keep: Number.NaN, want: 'throws' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      if (c.want === 'throws') expect(() => planRefusedDelivery(delivery, c.keep)).toThrow(RangeError);
      else expect(planRefusedDelivery(delivery, c.keep)).toEqual(c.want);
    });
  }
});

describe('deliveryBucket: authentication refusals apart from the others', () => {
  const cases: Array<{ code: string | null; want: 'auth' | 'other' }> = [
    { code: 'unauthorized', want: 'auth' },
    { code: 'forbidden', want: 'auth' },
    { code: 'invalid_signal', want: 'other' },
    { code: 'missing_idempotency_key', want: 'other' },
    { code: 'idempotency_key_reused', want: 'other' },
    { code: null, want: 'other' },
  ];
  for (const c of cases) test(`${String(c.code)} → ${c.want}`, () => expect(deliveryBucket(c.code)).toBe(c.want));

  test('the row carries its bucket', () => {
    expect(planRefusedDelivery({ ...delivery, code: 'invalid_signal' }, 10)).toMatchObject({ kind: 'keep', row: { bucket: 'other', code: 'invalid_signal' } });
  });
});
