/** Refused deliveries kept for operators (secrets removed by the caller). */
import type { ValidationIssue } from '../../domain/types.js';
import type { Page } from './signals.js';

export interface RefusedDelivery {
  at: string;
  source: string;
  reason: string;
  issues: ValidationIssue[];
  request_id: string;
  body_excerpt: string;
}

export interface DeliveryStore {
  /** Keeps a refused delivery for operators; only the newest `keep` are retained (none when keep < 1). */
  recordRefusedDelivery(delivery: RefusedDelivery, keep: number): Promise<void>;
  listRefusedDeliveries(limit: number, cursor?: string): Promise<Page<RefusedDelivery>>;
}
