/**
 * Replay (docs/configuration.md#sluice-replay): what the gate would have decided for a window of
 * recorded signals, under the current policy and, when given, a candidate. The signals are read a
 * page at a time in arrival order (seq) and each is decided by the live gate itself
 * (`decideWithBreaker` → guardrails/decide.ts) with its own `received_at` as the clock, against
 * the state of a simulated book (replay-book.ts). Nothing is written: the store is only read, no
 * connector is called, the mode is not touched. Per-signal rows go to `onRow` as they are made;
 * only the totals are held.
 */
import type { PolicyConfig } from '../config/schema.js';
import { initialBreaker } from '../domain/breaker.js';
import type { ConnectorCapabilities, Decision, Rule, Side } from '../domain/types.js';
import { OPERATOR_SOURCE } from '../domain/types.js';
import { decideWithBreaker } from '../execution/gate.js';
import type { SignalRecord, SignalStore } from '../store/contract/signals.js';
import { ReplayBook, type BookTotals, type FillKind } from './replay-book.js';

export type { BookTotals, DailyLossTrip, FillKind } from './replay-book.js';

/** Signals read per page: a month of signals never sits in memory at once. */
export const REPLAY_PAGE_SIZE = 1000;

export interface DecisionView {
  allowed: boolean;
  side: Side | null;
  quantity: number | null;
  failures: Array<{ rule: Rule; code: string | null }>;
}

export interface ReplayedDecision extends DecisionView {
  fill: FillKind;
  fill_price: number | null;
}

export interface ReplayRow {
  signal_id: string;
  received_at: string;
  source: string;
  connector: string;
  instrument: string;
  action: string;
  price: number | null;
  /** As recorded on the signal; null for a signal recorded but never decided. */
  original: DecisionView | null;
  current: ReplayedDecision;
  candidate: ReplayedDecision | null;
}

export interface ReplayWindow {
  from: Date;
  to: Date;
  source?: string;
}

export interface ReplaySummary {
  window: { from: string; to: string; source: string | null };
  /** Every replay starts in `enabled` with a flat book, whatever the stored mode. */
  start_mode: 'enabled';
  signals: number;
  current: BookTotals;
  candidate: BookTotals | null;
}

export type ReplayOutcome = { kind: 'done'; summary: ReplaySummary } | { kind: 'too_many_signals'; limit: number };

export interface ReplayDeps {
  store: Pick<SignalStore, 'listSignalWindow'>;
  /** The capabilities of a configured connector, null when it is not configured (any more). */
  capabilities: (connector: string) => ConnectorCapabilities | null;
  /** Stands in for a connector that is not configured any more. */
  fallbackCapabilities: ConnectorCapabilities;
}

export interface ReplayRequest extends ReplayWindow {
  current: PolicyConfig;
  candidate: PolicyConfig | null;
  /** Stop with `too_many_signals` once the window holds more than this many signals. */
  maxSignals?: number;
  pageSize?: number;
  onRow?: (row: ReplayRow) => void;
  /** Awaited after each page with the signals replayed so far (progress, or letting output drain). */
  onPage?: (replayed: number) => void | Promise<void>;
}

export function decisionView(decision: Decision): DecisionView {
  return {
    allowed: decision.allowed,
    side: decision.side,
    quantity: decision.quantity,
    failures: decision.failures.map((f) => ({ rule: f.rule, code: f.code ?? null })),
  };
}

/** Whether two decisions agree on what the report compares: allowed, side, quantity and every failed rule with its code. */
export function sameDecision(a: DecisionView, b: DecisionView): boolean {
  return (
    a.allowed === b.allowed &&
    a.side === b.side &&
    a.quantity === b.quantity &&
    a.failures.length === b.failures.length &&
    a.failures.every((f, i) => f.rule === b.failures[i]?.rule && f.code === b.failures[i]?.code)
  );
}

function replayOne(book: ReplayBook, record: SignalRecord, capabilities: ConnectorCapabilities, original: DecisionView | null): ReplayedDecision {
  const at = new Date(record.received_at);
  // The live call, with the breaker closed: the same gate, the same answers.
  const { decision } = decideWithBreaker(record.signal, book.gateState(record.connector, record.instrument, at), initialBreaker(), capabilities, book.policy, { half_open_after_seconds: null }, at, {
    operator: record.source === OPERATOR_SOURCE,
    signalId: record.signal_id,
  });
  const view = decisionView(decision);
  const fill = book.record({ signal_id: record.signal_id, connector: record.connector, signal: record.signal, at, decision, differs: original !== null && !sameDecision(original, view) });
  return { ...view, fill: fill.kind, fill_price: fill.price };
}

export async function runReplay(deps: ReplayDeps, req: ReplayRequest): Promise<ReplayOutcome> {
  const current = new ReplayBook(req.current);
  const candidate = req.candidate === null ? null : new ReplayBook(req.candidate);
  const pageSize = req.pageSize ?? REPLAY_PAGE_SIZE;
  let cursor: string | undefined;
  let count = 0;
  for (;;) {
    const page = await deps.store.listSignalWindow({
      from: req.from,
      to: req.to,
      limit: pageSize,
      ...(req.source === undefined ? {} : { source: req.source }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    if (req.maxSignals !== undefined && count + page.items.length > req.maxSignals) return { kind: 'too_many_signals', limit: req.maxSignals };
    for (const record of page.items) {
      const capabilities = deps.capabilities(record.connector) ?? deps.fallbackCapabilities;
      const original = record.decision === null ? null : decisionView(record.decision);
      const row: ReplayRow = {
        signal_id: record.signal_id,
        received_at: record.received_at,
        source: record.source,
        connector: record.connector,
        instrument: record.instrument,
        action: record.signal.action,
        price: record.signal.price ?? null,
        original,
        current: replayOne(current, record, capabilities, original),
        candidate: candidate === null ? null : replayOne(candidate, record, capabilities, original),
      };
      req.onRow?.(row);
    }
    count += page.items.length;
    await req.onPage?.(count);
    if (page.next_cursor === null) break;
    cursor = page.next_cursor;
  }
  return {
    kind: 'done',
    summary: {
      window: { from: req.from.toISOString(), to: req.to.toISOString(), source: req.source ?? null },
      start_mode: 'enabled',
      signals: count,
      current: current.result(),
      candidate: candidate === null ? null : candidate.result(),
    },
  };
}
