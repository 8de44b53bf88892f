/** What the spool tests append: the store input of delivery `n`, as ingest builds it. */
import type { NewSignal } from '../../src/store/store.js';

export const SPOOL_AT = new Date('2025-01-02T03:04:05.678Z');

export function spoolInput(n: number, meta: Record<string, unknown> = { unknown_fields: { note: 'x' } }): NewSignal {
  return {
    signal_id: `sig_${n.toString(16).padStart(28, '0')}`,
    source: 'default',
    idempotency_key: `k-${n}`,
    key_kind: 'explicit',
    window_ms: 60_000,
    fingerprint: 'f'.repeat(64),
    connector: 'mock',
    instrument: 'AAPL',
    client_order_id: `sl-${n}`,
    signal: { id: `k-${n}`, action: 'buy', instrument: 'AAPL', quantity: 1, order_type: 'market', price: 100, time_in_force: 'day', meta },
    request_id: `req-${n}`,
    received_at: SPOOL_AT,
  };
}
