/**
 * Operator actions that act on positions (docs/execution.md#modes, docs/http-api.md#mode-and-flatten): `flattenPositions` closes every
 * position of every connector, in any mode, through the normal pipeline (durable signals from
 * the reserved source `_operator`, retries, ledger, events), so a flatten is audited and
 * survives a crash like any signal. `cancelOpenOrders` cancels each connector's open orders.
 */
import { createHash } from 'node:crypto';
import type { Connector } from '../connectors/connector.js';
import { OPERATOR_SOURCE, type Position, type Signal } from '../domain/types.js';
import { tradingDay } from '../guardrails/trading-time.js';
import { clientOrderId, newSignalId } from '../ingest/identity.js';
import type { SignalRecord, Store } from '../store/store.js';

export interface FlattenDeps {
  store: Pick<Store, 'getLedger' | 'recordSignal' | 'appendEvent'>;
  connectors: ReadonlyMap<string, Connector>;
  now: () => Date;
  /** `policy.trading_day_tz`: the day whose ledger holds the positions. */
  tradingDayTz: string;
  /** The one accept-and-submit path (`Deps.submitAccepted`). */
  submit: (record: SignalRecord) => void;
}

export interface CancelDeps {
  store: Pick<Store, 'listInstruments'>;
  connectors: ReadonlyMap<string, Connector>;
}

export interface FlattenedSignal {
  signal_id: string;
  connector: string;
  instrument: string;
  quantity: number;
  status: string;
}

/** Positions to close: the connector's own when it reports them, else sluice's ledger. */
async function positionsOf(deps: FlattenDeps, name: string): Promise<Position[]> {
  const connector = deps.connectors.get(name);
  if (connector?.capabilities.positions === true) {
    // A connector that throws is a bug in it: fall back to the ledger rather than fail the flatten.
    const reported = await connector.getPositions().catch((err: unknown) => ({ ok: false as const, reason: String(err) }));
    if (reported.ok) return reported.value;
  }
  const ledger = await deps.store.getLedger(name, tradingDay(deps.now(), deps.tradingDayTz));
  return ledger.positions;
}

export async function flattenPositions(deps: FlattenDeps, input: { reason: string; requestId: string }): Promise<FlattenedSignal[]> {
  const now = deps.now();
  const out: FlattenedSignal[] = [];
  // Each flatten is its own: keyed by an id of ours, never by the caller's X-Request-Id.
  const flattenId = newSignalId(now).replace(/^sig_/, 'flt_');
  for (const name of deps.connectors.keys()) {
    for (const position of await positionsOf(deps, name)) {
      if (position.quantity === 0) continue;
      const key = `flatten:${flattenId}:${name}:${position.instrument}`;
      const signal: Signal = {
        id: key,
        action: 'close',
        instrument: position.instrument,
        order_type: 'market',
        time_in_force: 'day',
        meta: { operator: 'flatten', reason: input.reason },
      };
      if (position.avg_price > 0) signal.price = position.avg_price;
      const signalId = newSignalId(now);
      const recorded = await deps.store.recordSignal({
        signal_id: signalId,
        source: OPERATOR_SOURCE,
        idempotency_key: key,
        key_kind: 'explicit',
        window_ms: 0,
        fingerprint: createHash('sha256').update(key).digest('hex'),
        connector: name,
        instrument: position.instrument,
        client_order_id: clientOrderId(signalId),
        signal,
        request_id: input.requestId,
        received_at: now,
      });
      // The key holds this flatten's own id, so the signal is always new.
      if (recorded.kind === 'inserted') deps.submit(recorded.record);
      out.push({ signal_id: recorded.record.signal_id, connector: name, instrument: position.instrument, quantity: position.quantity, status: recorded.record.status });
    }
  }
  await deps.store.appendEvent({ type: 'flatten', data: { flatten_id: flattenId, reason: input.reason, actor: 'operator', request_id: input.requestId, signals: out } });
  return out;
}

export async function cancelOpenOrders(deps: CancelDeps): Promise<Array<{ connector: string; instrument: string; cancelled: number | null; error?: string }>> {
  const out: Array<{ connector: string; instrument: string; cancelled: number | null; error?: string }> = [];
  for (const connector of deps.connectors.values()) {
    for (const instrument of await deps.store.listInstruments(connector.name)) {
      const res = await connector.cancel(instrument).catch((err: unknown) => ({ ok: false as const, reason: `connector threw: ${String(err)}` }));
      out.push(res.ok ? { connector: connector.name, instrument, cancelled: res.value.cancelled } : { connector: connector.name, instrument, cancelled: null, error: res.reason });
    }
  }
  return out;
}
