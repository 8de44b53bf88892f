/**
 * Operator actions that act on positions (docs/execution.md#flatten, docs/http-api.md#mode-and-flatten).
 * `flattenPositions` closes every position of every connector, in any mode, through the normal
 * pipeline (durable signals from the reserved source `_operator`, retries, ledger, events), so a
 * flatten is audited and survives a crash like any signal. Before it records the closes it
 * cancels the open orders sluice follows and waits (bounded) until they are terminal, then
 * adopts the positions the connector reports into the ledger: the gate sizes each close from the
 * ledger, which must hold what the broker holds, not what it held before those orders filled.
 * `cancelOpenOrders` cancels each connector's open orders.
 */
import { createHash } from 'node:crypto';
import type { Connector } from '../connectors/connector.js';
import { OPERATOR_SOURCE, type Position, type Signal } from '../domain/types.js';
import { tradingDay } from '../guardrails/trading-time.js';
import { clientOrderId, newSignalId } from '../ingest/identity.js';
import type { SignalRecord, Store } from '../store/store.js';

/** How long a flatten waits, every connector together, for the orders it cancelled to end. */
export const FLATTEN_SETTLE_MS = 10_000;

export interface FlattenDeps {
  store: Pick<Store, 'getLedger' | 'listInstruments' | 'recordSignal' | 'appendEvent' | 'openOrders' | 'positionVersions' | 'reconcilePositions'>;
  connectors: ReadonlyMap<string, Connector>;
  now: () => Date;
  /** `policy.trading_day_tz`: the day whose ledger holds the positions. */
  tradingDayTz: string;
  /** The one accept-and-submit path (`Deps.submitAccepted`). */
  submit: (record: SignalRecord) => void;
  /** The order tracker's `settleOpen`: cancels a lane's open orders and waits until none is open. */
  settleOpen: (connector: Connector, instrument: string, sleep: (ms: number) => Promise<void>) => Promise<boolean>;
  /** Default `FLATTEN_SETTLE_MS`. */
  settleMs?: number;
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

/** A lane whose open orders a flatten cancelled: `settled` once none was open any more. */
export interface CancelledLane {
  connector: string;
  instrument: string;
  /** Open orders sluice followed in the lane when the flatten began. */
  open_orders: number;
  settled: boolean;
  /** Why it did not settle (still open at the deadline: its close waits for them in its lane). */
  error?: string;
}

/** A position the flatten adopted from the connector before closing it. */
export interface AdoptedPosition {
  connector: string;
  instrument: string;
  ledger: number;
  broker: number;
}

export interface FlattenOutcome {
  signals: FlattenedSignal[];
  cancelled: CancelledLane[];
  adopted: AdoptedPosition[];
}

/** The wait for cancelled orders ran out: thrown by the bounded sleep to end `settleOpen`. */
class SettleDeadline extends Error {}

/** A sleep that refuses once `deadline` (ms) passed, so that `settleOpen` cannot wait past it. */
function boundedSleep(now: () => Date, deadline: number): (ms: number) => Promise<void> {
  return (ms) => {
    const left = deadline - now().getTime();
    if (left <= 0) return Promise.reject(new SettleDeadline('deadline'));
    return new Promise((resolve) => setTimeout(resolve, Math.min(ms, left)));
  };
}

/** Cancels the open orders sluice follows at this connector, lane by lane, and waits for them. */
async function cancelFollowed(deps: FlattenDeps, connector: Connector, sleep: (ms: number) => Promise<void>): Promise<CancelledLane[]> {
  const counts = new Map<string, number>();
  for (const order of await deps.store.openOrders(connector.name)) counts.set(order.instrument, (counts.get(order.instrument) ?? 0) + 1);
  const out: CancelledLane[] = [];
  for (const [instrument, open] of counts) {
    const lane = { connector: connector.name, instrument, open_orders: open };
    try {
      // Each lane is asked to cancel at least once, even past the deadline.
      out.push({ ...lane, settled: await deps.settleOpen(connector, instrument, sleep) });
    } catch (err) {
      if (!(err instanceof SettleDeadline)) throw err;
      const seconds = (deps.settleMs ?? FLATTEN_SETTLE_MS) / 1000;
      out.push({ ...lane, settled: false, error: `orders still open after ${seconds} s; the close waits for them in its lane` });
    }
  }
  return out;
}

/**
 * Positions to close: the connector's own when it reports them, adopted into the ledger first
 * (instruments with an order in flight are left as they are); else sluice's ledger.
 */
async function positionsOf(deps: FlattenDeps, connector: Connector, adopted: AdoptedPosition[]): Promise<Position[]> {
  if (connector.capabilities.positions) {
    const versions = await deps.store.positionVersions(connector.name);
    // A connector that throws is a bug in it: fall back to the ledger rather than fail the flatten.
    const reported = await connector.getPositions().catch((err: unknown) => ({ ok: false as const, reason: String(err) }));
    if (reported.ok) {
      const { drift } = await deps.store.reconcilePositions(connector.name, reported.value, deps.now(), versions);
      adopted.push(...drift.map((d) => ({ connector: connector.name, instrument: d.instrument, ledger: d.ledger, broker: d.connector })));
      return reported.value;
    }
  }
  const ledger = await deps.store.getLedger(connector.name, tradingDay(deps.now(), deps.tradingDayTz));
  if (connector.capabilities.order_updates !== 'none') return ledger.positions;
  // Fire-and-forget: sluice knows no fills, so every instrument it traded gets a close to forward.
  const held = new Map(ledger.positions.map((p) => [p.instrument, p]));
  return (await deps.store.listInstruments(connector.name)).map((instrument) => held.get(instrument) ?? { instrument, quantity: 0, avg_price: 0 });
}

export async function flattenPositions(deps: FlattenDeps, input: { reason: string; requestId: string }): Promise<FlattenOutcome> {
  const started = deps.now();
  const out: FlattenOutcome = { signals: [], cancelled: [], adopted: [] };
  // Each flatten is its own: keyed by an id of ours, never by the caller's X-Request-Id.
  const flattenId = newSignalId(started).replace(/^sig_/, 'flt_');
  const sleep = boundedSleep(deps.now, started.getTime() + (deps.settleMs ?? FLATTEN_SETTLE_MS));
  for (const connector of deps.connectors.values()) {
    if (connector.capabilities.order_updates !== 'none') out.cancelled.push(...(await cancelFollowed(deps, connector, sleep)));
    const forwardAll = connector.capabilities.order_updates === 'none' && !connector.capabilities.positions;
    for (const position of await positionsOf(deps, connector, out.adopted)) {
      if (position.quantity === 0 && !forwardAll) continue;
      out.signals.push(await recordClose(deps, { flattenId, reason: input.reason, requestId: input.requestId, connector: connector.name, position }));
    }
  }
  await deps.store.appendEvent({
    type: 'flatten',
    data: { flatten_id: flattenId, reason: input.reason, actor: 'operator', request_id: input.requestId, signals: out.signals, cancelled: out.cancelled, adopted: out.adopted },
  });
  return out;
}

/** Records one operator `close` of a position and submits it. */
async function recordClose(
  deps: Pick<FlattenDeps, 'store' | 'now' | 'submit'>,
  input: { flattenId: string; reason: string; requestId: string; connector: string; position: Position },
): Promise<FlattenedSignal> {
  const { position } = input;
  const now = deps.now();
  const key = `flatten:${input.flattenId}:${input.connector}:${position.instrument}`;
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
    connector: input.connector,
    instrument: position.instrument,
    client_order_id: clientOrderId(signalId),
    signal,
    request_id: input.requestId,
    received_at: now,
  });
  // The key holds this flatten's own id, so the signal is always new.
  if (recorded.kind === 'inserted') deps.submit(recorded.record);
  return { signal_id: recorded.record.signal_id, connector: input.connector, instrument: position.instrument, quantity: position.quantity, status: recorded.record.status };
}

export async function cancelOpenOrders(deps: CancelDeps): Promise<Array<{ connector: string; instrument: string; cancelled: number | null; error?: string }>> {
  const out: Array<{ connector: string; instrument: string; cancelled: number | null; error?: string }> = [];
  for (const connector of deps.connectors.values()) {
    // Instruments traded, in flight, or with an order sluice follows still open.
    for (const instrument of await deps.store.listInstruments(connector.name)) {
      const res = await connector.cancel(instrument).catch((err: unknown) => ({ ok: false as const, reason: `connector threw: ${String(err)}` }));
      out.push(res.ok ? { connector: connector.name, instrument, cancelled: res.value.cancelled } : { connector: connector.name, instrument, cancelled: null, error: res.reason });
    }
  }
  return out;
}
