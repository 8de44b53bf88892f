/** sluice's own ledger per connector: positions, exposure, reservations, realized PnL. */
import type { PositionDrift } from '../../domain/ledger.js';
import type { Position } from '../../domain/types.js';

export interface LedgerPosition extends Position {
  last_price: number | null;
}

export interface ConnectorLedger {
  positions: LedgerPosition[];
  gross_exposure: number;
  reserved_exposure: number;
  realized_pnl_today: number;
}

export interface LedgerStore {
  getLedger(connector: string, tradingDay: string): Promise<ConnectorLedger>;
  /** Every instrument the connector has traded or has in flight (for cancelling open orders). */
  listInstruments(connector: string): Promise<string[]>;
  /** Signals of the connector in `executing` (orders in flight, which make positions move). */
  countExecuting(connector: string): Promise<number>;
  /**
   * Adopts the connector's positions into the ledger (the connector is the source of truth) and
   * returns what differed; appends `positions.drift` when anything did.
   */
  reconcilePositions(connector: string, positions: Position[], now: Date): Promise<PositionDrift[]>;
}
