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

/** Each ledger position's version (its `updated_at`, moved forward by every write), by instrument. */
export type PositionVersions = Readonly<Record<string, number>>;

export interface ReconcileSkip {
  instrument: string;
  /** `in_flight`: an order of it is in flight (decided, not terminal yet); `changed`: its position was written since it was read. */
  reason: 'in_flight' | 'changed';
}

export interface ReconcileResult {
  /** What differed and was adopted. */
  drift: PositionDrift[];
  /** What differed and was left alone this time. */
  skipped: ReconcileSkip[];
}

export interface LedgerStore {
  getLedger(connector: string, tradingDay: string): Promise<ConnectorLedger>;
  /**
   * Every instrument the connector has traded (a position, or an executed signal: a fire-and-forget
   * connector books no fills), has in flight or has an open order of (for cancelling open orders,
   * and a flatten's closes at a fire-and-forget connector).
   */
  listInstruments(connector: string): Promise<string[]>;
  /** The versions of the connector's positions: read before asking the connector for its own. */
  positionVersions(connector: string): Promise<PositionVersions>;
  /**
   * Adopts the connector's positions into the ledger (the connector is the source of truth),
   * instrument by instrument, except those with an order in flight and those whose position
   * changed since `seen` (a fill booked while the connector was asked: its snapshot may predate
   * it). Appends `positions.drift` when anything was adopted.
   */
  reconcilePositions(connector: string, positions: Position[], now: Date, seen: PositionVersions): Promise<ReconcileResult>;
}
