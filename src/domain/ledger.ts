/**
 * Position and PnL arithmetic for sluice's own ledger (docs/execution.md#recording-the-outcome): pure functions the
 * store calls when it books a fill. Average-cost accounting: adding to a position moves the
 * average price, reducing it realizes PnL against the average and leaves the average alone.
 */
import type { Position, Side } from './types.js';

/** Quantities are rounded to this many decimals so float noise never makes a phantom position. */
const QTY_DECIMALS = 9;

/** A quantity rounded to 9 decimals: 0.1 + 0.2 is 0.3 here, and 1 - 0.9 - 0.1 is 0. */
export function roundQty(q: number): number {
  // `+ 0` turns -0 into 0, so a flat position is never reported as "-0".
  return Number(q.toFixed(QTY_DECIMALS)) + 0;
}

export interface LedgerEntry {
  /** Signed: long > 0, short < 0. */
  quantity: number;
  avg_price: number;
}

export interface FillInput {
  side: Side;
  quantity: number;
  price: number;
}

export interface FillOutcome extends LedgerEntry {
  /** PnL realized by this fill (0 when it only adds). */
  realized_pnl: number;
}

/**
 * Books one fill into a position. Quantities are rounded to 9 decimals so float dust never leaves
 * a phantom position; a flat position has `avg_price` 0. A fill that flips the position realizes
 * the closed part at the old average and opens the remainder at the fill price.
 * Throws on a fill that is not a positive quantity at a positive price: that is a bug upstream.
 */
export function applyFill(position: LedgerEntry | null, fill: FillInput): FillOutcome {
  if (!(fill.quantity > 0) || !(fill.price > 0) || !Number.isFinite(fill.quantity) || !Number.isFinite(fill.price)) {
    throw new RangeError(`a fill needs a positive quantity and price, got ${fill.quantity} @ ${fill.price}`);
  }
  const held = position === null ? 0 : roundQty(position.quantity);
  const avg = position === null || held === 0 ? 0 : position.avg_price;
  const signed = fill.side === 'buy' ? fill.quantity : -fill.quantity;
  const next = roundQty(held + signed);

  // Opening or adding: weighted average of the held cost and the fill.
  if (held === 0 || Math.sign(held) === Math.sign(signed)) {
    const size = Math.abs(held) + fill.quantity;
    return { quantity: next, avg_price: (Math.abs(held) * avg + fill.quantity * fill.price) / size, realized_pnl: 0 };
  }

  // Reducing, closing or flipping: the closed part realizes (price - avg) per unit for a long
  // and (avg - price) for a short.
  const closed = Math.min(Math.abs(held), fill.quantity);
  const realized = closed * (fill.price - avg) * Math.sign(held);
  if (next === 0) return { quantity: 0, avg_price: 0, realized_pnl: realized };
  if (Math.sign(next) === Math.sign(held)) return { quantity: next, avg_price: avg, realized_pnl: realized };
  return { quantity: next, avg_price: fill.price, realized_pnl: realized };
}

export interface MarkedPosition {
  quantity: number;
  /** Last known price; null when none was seen, in which case the average price stands in. */
  last_price: number | null;
  avg_price: number;
}

/** Σ |quantity| × last price (average price when no last price is known): what `max_gross_exposure` bounds. */
export function grossExposure(positions: readonly MarkedPosition[]): number {
  return positions.reduce((sum, p) => sum + Math.abs(p.quantity) * (p.last_price ?? p.avg_price), 0);
}

/** An instrument whose quantity differs between sluice's ledger and the connector's report. */
export interface PositionDrift {
  instrument: string;
  ledger: number;
  connector: number;
}

/** Instruments whose quantity differs between the ledger and the connector (absent = 0). */
export function diffPositions(ledger: ReadonlyArray<{ instrument: string; quantity: number }>, reported: readonly Position[]): PositionDrift[] {
  const ours = new Map(ledger.map((p) => [p.instrument, roundQty(p.quantity)]));
  const theirs = new Map(reported.map((p) => [p.instrument, roundQty(p.quantity)]));
  const drift: PositionDrift[] = [];
  for (const instrument of new Set([...ours.keys(), ...theirs.keys()])) {
    const a = ours.get(instrument) ?? 0;
    const b = theirs.get(instrument) ?? 0;
    if (a !== b) drift.push({ instrument, ledger: a, connector: b });
  }
  return drift.sort((x, y) => x.instrument.localeCompare(y.instrument));
}

