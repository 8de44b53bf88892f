/** Small shared runtime state: the mode, the breakers, event-log cursors and HMAC nonces. */
import type { BreakerState, BreakerStep } from '../../domain/breaker.js';
import type { Mode } from '../../domain/types.js';

export interface ModeState {
  mode: Mode;
  reason: string | null;
  changed_at: string;
}

export interface RuntimeStore {
  getMode(): Promise<ModeState>;
  /** Stores the mode unless it is already set; `initial` only writes when no mode is stored yet. */
  setMode(mode: Mode, reason: string | null, actor: string, now: Date): Promise<ModeState>;
  initMode(mode: Mode, now: Date): Promise<ModeState>;

  /** Every stored breaker (a connector with none stored is closed). */
  getBreakers(): Promise<Record<string, BreakerState>>;
  /**
   * Read-modify-write of one connector's breaker in one transaction; appends
   * `breaker.<transition>` when the step made one. Returns the stored state.
   */
  updateBreaker(connector: string, step: (current: BreakerState) => BreakerStep, now: Date, reason: string): Promise<BreakerState>;

  /** A named consumer offset into the event log (null when none is stored yet). */
  getCursor(name: string): Promise<number | null>;
  setCursor(name: string, seq: number): Promise<void>;

  /**
   * HMAC nonces: true when the nonce is stored and not expired at `now` (a replay). Nonces are
   * stored only by `recordSignal`, with the signal they came with.
   */
  nonceSeen(source: string, nonce: string, now: Date): Promise<boolean>;
}
