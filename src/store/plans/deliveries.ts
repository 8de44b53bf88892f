/**
 * Retention of refused deliveries: only the newest `keep` rows of each bucket stay. Fewer than
 * one kept means none: the delivery is not stored and every stored one goes (the same on both
 * dialects).
 */
import type { RefusedDelivery } from '../contract/deliveries.js';

/**
 * Authentication refusals (401, 403) and all others are kept apart, each its newest `keep`:
 * anyone can send a flood of unauthorized requests, and it must not push out the invalid
 * signals a real sender needs to see.
 */
export type DeliveryBucket = 'auth' | 'other';

export function deliveryBucket(code: string | null): DeliveryBucket {
  return code === 'unauthorized' || code === 'forbidden' ? 'auth' : 'other';
}

export type DeliveryPlan =
  /**
   * Insert the row, then delete all but the newest `keep` of its bucket (counted in rows: seq may have gaps);
   * `keep` null: nothing to delete (an infinite keep).
   */
  | { kind: 'keep'; row: ReturnType<typeof deliveryRow>; keep: number | null }
  | { kind: 'clear' };

export function deliveryRow(delivery: RefusedDelivery) {
  return { ...delivery, at: Date.parse(delivery.at), issues: JSON.stringify(delivery.issues), bucket: deliveryBucket(delivery.code) };
}

export function planRefusedDelivery(delivery: RefusedDelivery, keep: number): DeliveryPlan {
  if (Number.isNaN(keep)) throw new RangeError('recordRefusedDelivery: keep is not a number');
  const n = Math.floor(keep);
  if (n < 1) return { kind: 'clear' };
  return { kind: 'keep', row: deliveryRow(delivery), keep: Number.isFinite(n) ? n : null };
}
