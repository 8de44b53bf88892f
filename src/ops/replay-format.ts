/**
 * A replay report for people: one aligned table of the signals (the recorded decision beside
 * the replayed ones), then one of the totals per policy. Pure: strings in, strings out.
 */
import type { BookTotals, DecisionView, ReplayedDecision, ReplayRow, ReplaySummary } from './replay.js';

/** Columns padded to their widest cell, two spaces apart; trailing spaces trimmed. */
export function alignTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** "buy 10", "allowed (nothing to order)", "rejected: mode/exit_only_would_increase, daily_loss". */
export function describeDecision(d: DecisionView | null): string {
  if (d === null) return '(not decided)';
  if (!d.allowed) return `rejected: ${d.failures.map((f) => (f.code === null ? f.rule : `${f.rule}/${f.code}`)).join(', ')}`;
  return d.side === null || d.quantity === null ? 'allowed (nothing to order)' : `${d.side} ${d.quantity}`;
}

function describeReplayed(d: ReplayedDecision): string {
  const decision = describeDecision(d);
  if (d.fill === 'filled' && d.fill_price !== null) return `${decision} @ ${d.fill_price}`;
  return d.fill === 'unpriced' || d.fill === 'unfilled' ? `${decision} (${d.fill})` : decision;
}

export function formatRows(rows: readonly ReplayRow[], withCandidate: boolean): string {
  const header = ['received_at', 'signal', 'instrument', 'action', 'price', 'recorded', 'current policy', ...(withCandidate ? ['candidate policy'] : [])];
  const body = rows.map((r) => [
    r.received_at,
    r.signal_id,
    r.instrument,
    r.action,
    r.price === null ? '-' : String(r.price),
    describeDecision(r.original),
    describeReplayed(r.current),
    ...(withCandidate && r.candidate !== null ? [describeReplayed(r.candidate)] : []),
  ]);
  return alignTable([header, ...body]);
}

const money = (n: number): string => n.toFixed(2);

function totalsLines(t: BookTotals): Array<[string, string]> {
  const lines: Array<[string, string]> = [
    ['signals', String(t.signals)],
    ['allowed', String(t.allowed)],
    ['rejected', String(t.rejected)],
    ...Object.entries(t.rejected_by_rule).map(([rule, n]): [string, string] => [`  by ${rule}`, String(n)]),
    ['unpriced (not booked)', String(t.unpriced)],
    ['unfilled (limit/stop not reached)', String(t.unfilled)],
    ['differs from recorded', String(t.differs_from_original)],
    ['peak gross exposure', money(t.peak_gross_exposure)],
    ['realized PnL', money(t.realized_pnl)],
    ...Object.entries(t.realized_pnl_by_day).map(([day, pnl]): [string, string] => [`  on ${day}`, money(pnl)]),
    ['daily loss tripped', t.daily_loss_tripped === null ? 'no' : `${t.daily_loss_tripped.day} (${t.daily_loss_tripped.signal_id}), then exit_only`],
    ...t.positions.map((p): [string, string] => [`position ${p.connector} ${p.instrument}`, `${p.quantity} @ ${money(p.avg_price)}`]),
  ];
  return lines;
}

/** The totals side by side: one column per policy, a row per figure either of them has. */
export function formatTotals(summary: ReplaySummary): string {
  const current = totalsLines(summary.current);
  const candidate = summary.candidate === null ? null : totalsLines(summary.candidate);
  const labels: string[] = [];
  for (const [label] of [...current, ...(candidate ?? [])]) if (!labels.includes(label)) labels.push(label);
  const value = (lines: Array<[string, string]>, label: string): string => lines.find(([l]) => l === label)?.[1] ?? '-';
  const header = ['', 'current policy', ...(candidate === null ? [] : ['candidate policy'])];
  return alignTable([header, ...labels.map((label) => [label, value(current, label), ...(candidate === null ? [] : [value(candidate, label)])])]);
}

export function formatReport(summary: ReplaySummary, rows: readonly ReplayRow[]): string {
  const { window } = summary;
  const head = `replay of ${summary.signals} signal${summary.signals === 1 ? '' : 's'} received in [${window.from}, ${window.to})${window.source === null ? '' : ` from source ${window.source}`}, starting enabled with a flat book`;
  return `${head}\n\n${rows.length === 0 ? '(no signals in the window)' : formatRows(rows, summary.candidate !== null)}\n\n${formatTotals(summary)}\n`;
}
