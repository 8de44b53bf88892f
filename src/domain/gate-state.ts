/**
 * What the guardrail gate may look at besides the signal and the policy. The store assembles
 * it inside the same transaction that records the decision and its reservation, so the state a
 * decision saw is the state it was recorded against (docs/execution.md#guardrails).
 */
import type { ConnectorCapabilities, Mode } from './types.js';

export type BreakerStateName = 'closed' | 'open' | 'half_open';

export interface GateState {
  mode: Mode;
  /** Signed position in the signal's instrument per sluice's ledger (long > 0, short < 0). */
  position: number;
  /**
   * Signed quantity of this instrument's orders decided but not yet settled (buys > 0, sells
   * < 0), exits included. One executor lane per (connector, instrument) keeps it 0 within one
   * instance; with several instances it is what keeps concurrent orders from jointly flipping
   * or overrunning a position.
   */
  pending_quantity: number;
  /** Last known price of the instrument (from fills or signals), used when the signal has none. */
  last_price: number | null;
  /** Σ |quantity × last price| over the connector's positions, excluding reservations. */
  gross_exposure: number;
  /** Notional reserved by decided, not yet settled orders of the connector (all instruments). */
  reserved_exposure: number;
  /** The part of `reserved_exposure` that belongs to the signal's instrument. */
  reserved_instrument: number;
  /** Realized PnL of the current trading day (negative = loss), for the connector. */
  realized_pnl_today: number;
  /** Orders decided in the last 60 s (all connectors), for `order_rate`. */
  orders_last_minute: number;
  breaker: BreakerStateName;
  capabilities: ConnectorCapabilities;
}

/**
 * The part of the gate state the store reads. The breaker is read raw (see execution/gate.ts,
 * which turns it into `breaker` and claims the half-open probe) and capabilities come from the
 * connector.
 */
export type StoredGateState = Omit<GateState, 'capabilities' | 'breaker'>;
