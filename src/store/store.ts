/**
 * The store contract: every durable fact of sluice goes through this interface, and each verb
 * is one atomic step (one transaction) including the event-log entries it implies. It is the
 * intersection of one interface per capability (`contract/*.ts`); SQLite and PostgreSQL each
 * implement every capability in a file of the same name, and one contract suite runs against
 * both (test/store/contract.ts).
 */
import type { DeliveryStore } from './contract/deliveries.js';
import type { EventStore } from './contract/events.js';
import type { FinishStore } from './contract/finish.js';
import type { GateStore } from './contract/gate.js';
import type { LedgerStore } from './contract/ledger.js';
import type { MockBrokerStore } from './contract/mock-broker.js';
import type { OrderStore } from './contract/orders.js';
import type { RuntimeStore } from './contract/runtime.js';
import type { SignalStore } from './contract/signals.js';

export type { DeliveryStore, RefusedDelivery } from './contract/deliveries.js';
export type { EventRecord, EventStore, NewEvent } from './contract/events.js';
export type { Attempt, Fill, FinishInput, FinishOutcome, FinishStore } from './contract/finish.js';
export type { GateInput, GateOutcome, GateStore } from './contract/gate.js';
export type { ConnectorLedger, LedgerPosition, LedgerStore, PositionVersions, ReconcileResult, ReconcileSkip } from './contract/ledger.js';
export type { MockBrokerStore, MockOrderRecord } from './contract/mock-broker.js';
export type { BookedFill, BookingContext, OrderQuery, OrderRecord, OrderStore, OrderUpdateInput, OrderUpdateOutcome } from './contract/orders.js';
export type { ModeState, RuntimeStore } from './contract/runtime.js';
export type { ExecutionResult, NewSignal, Page, QueueStats, RecordOutcome, SignalQuery, SignalRecord, SignalStore } from './contract/signals.js';

export interface Store extends SignalStore, GateStore, FinishStore, OrderStore, LedgerStore, RuntimeStore, EventStore, DeliveryStore {
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
  /** A round trip to the database; throws when it cannot answer. */
  ping(): Promise<void>;
  mock: MockBrokerStore;
}
