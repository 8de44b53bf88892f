/**
 * `decideWithBreaker`: the guardrails' `decide` plus the circuit breaker, in one pure function
 * that the store's atomic `gateSignal` evaluates inside its transaction. An open breaker whose
 * half-open time has come lets exactly one risk-adding order through as the probe; this
 * function claims it (the store writes the claimed state in the same transaction as the
 * decision, so two workers can never both become the probe).
 */
import type { PolicyConfig } from '../config/schema.js';
import type { ConnectorCapabilities } from '../domain/types.js';
import type { Decision, Signal } from '../domain/types.js';
import { decide } from '../guardrails/decide.js';
import type { StoredGateState } from '../domain/gate-state.js';
import { canPass, type BreakerState, type BreakerStep } from '../domain/breaker.js';

export interface GateVerdict {
  decision: Decision;
  /** The breaker step to store (a claimed probe), or null when the breaker is untouched. */
  breaker: BreakerStep | null;
}

export function decideWithBreaker(
  signal: Signal,
  stored: StoredGateState,
  breaker: BreakerState,
  capabilities: ConnectorCapabilities,
  policy: PolicyConfig,
  breakerOpts: { half_open_after_seconds: number | null },
  now: Date,
  opts: { operator?: boolean; signalId?: string } = {},
): GateVerdict {
  if (opts.operator === true) {
    // An operator's flatten closes positions in any mode and for any instrument (docs/execution.md#modes);
    // the other rules still apply (a close is an exit, so the limits do not bind it).
    stored = { ...stored, mode: 'enabled' };
    policy = { ...policy, instruments: [] };
  }
  // Would a risk-adding order pass the breaker now? (Exits always pass: decide() knows.)
  const probe = canPass(breaker, now, breakerOpts, false, opts.signalId ?? null);
  const name = breaker.state === 'closed' ? 'closed' : probe.allowed ? 'half_open' : 'open';
  const decision = decide(signal, { ...stored, breaker: name, capabilities }, policy, now);
  // A forwarded target ≠ 0 may add risk (it is not an exit): it is the probe like any such order.
  const sends = decision.side !== null || decision.forwarded === true;
  const claimsProbe = breaker.state !== 'closed' && decision.allowed && !decision.exit && sends;
  return { decision, breaker: claimsProbe ? { next: probe.next, transition: probe.transition } : null };
}
