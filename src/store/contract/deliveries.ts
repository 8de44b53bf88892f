/** Refused deliveries kept for operators (secrets removed by the caller). */
import type { ValidationIssue } from '../../domain/types.js';
import type { Page } from './signals.js';

export interface RefusedDelivery {
  at: string;
  source: string;
  /** The error code the sender got (`unauthorized`, `invalid_signal`, …); null on rows kept before codes were. */
  code: string | null;
  reason: string;
  issues: ValidationIssue[];
  request_id: string;
  body_excerpt: string;
}

export interface DeliveryStore {
  /**
   * Keeps a refused delivery for operators; only the newest `keep` of its bucket are retained
   * (authentication refusals and the others apart; none at all when keep < 1).
   */
  recordRefusedDelivery(delivery: RefusedDelivery, keep: number): Promise<void>;
  listRefusedDeliveries(limit: number, cursor?: string): Promise<Page<RefusedDelivery>>;
}
