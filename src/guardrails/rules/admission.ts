/**
 * Rules about the signal itself rather than the order it makes: is the instrument allowed, is
 * the signal fresh, is the market window open. The first two judge every signal, exits and
 * cancels included (docs/execution.md#guardrails exempts exits from neither); the window judges only
 * orders that add risk, so a position can always be closed after hours.
 */
import type { RuleFailure } from '../../domain/types.js';
import { describeWindow, isInTradingWindow } from '../trading-time.js';
import type { GateContext } from './context.js';

/** `instrument_allowed`: a non-empty `policy.instruments` is an allowlist (upper-cased by the schema). */
export function checkInstrumentAllowed({ signal, policy }: GateContext): RuleFailure[] {
  if (policy.instruments.length === 0 || policy.instruments.includes(signal.instrument)) return [];
  return [
    {
      rule: 'instrument_allowed',
      limit: policy.instruments,
      actual: signal.instrument,
      message: `${signal.instrument} is not in the instrument allowlist (${policy.instruments.join(', ')})`,
    },
  ];
}

/**
 * `stale_signal`: a signal older than `max_signal_age_seconds` acted on now would trade on a
 * market that has moved. The same bound guards the other direction (code `future_timestamp`):
 * a timestamp further ahead than the allowed age means a sender clock so wrong that its
 * timestamps say nothing, and accepting it would let a replayed signal look fresh for longer.
 * A signal without a timestamp, or `max_signal_age_seconds: null`, is not checked.
 */
export function checkStaleSignal({ signal, policy, now }: GateContext): RuleFailure[] {
  const max = policy.max_signal_age_seconds;
  if (max === null || signal.timestamp === undefined) return [];
  const sent = Date.parse(signal.timestamp);
  if (Number.isNaN(sent)) {
    // Ingest validates timestamps; failing closed here keeps an unreadable one from passing as fresh.
    return [
      {
        rule: 'stale_signal',
        code: 'invalid_timestamp',
        limit: max,
        actual: signal.timestamp,
        message: `signal timestamp ${JSON.stringify(signal.timestamp)} is not a readable time, so its age cannot be checked`,
      },
    ];
  }
  const age = Number(((now.getTime() - sent) / 1000).toFixed(3));
  if (age > max) {
    return [
      {
        rule: 'stale_signal',
        limit: max,
        actual: age,
        message: `signal is ${age} s old (timestamp ${signal.timestamp}); the limit is ${max} s`,
      },
    ];
  }
  if (-age > max) {
    return [
      {
        rule: 'stale_signal',
        code: 'future_timestamp',
        limit: max,
        actual: age,
        message: `signal timestamp ${signal.timestamp} is ${-age} s in the future; more than ${max} s of clock skew is refused`,
      },
    ];
  }
  return [];
}

/** `trading_window`: a non-empty `policy.trading_windows` confines risk-adding orders to those windows. */
export function checkTradingWindow({ policy, now, increases }: GateContext): RuleFailure[] {
  const windows = policy.trading_windows;
  if (!increases || windows.length === 0 || isInTradingWindow(now, windows)) return [];
  const described = windows.map(describeWindow);
  return [
    {
      rule: 'trading_window',
      limit: described,
      actual: now.toISOString(),
      message: `${now.toISOString()} is outside every trading window (${described.join('; ')}); only exits and cancels are allowed`,
    },
  ];
}
