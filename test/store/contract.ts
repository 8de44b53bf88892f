/**
 * The store contract suite (STYLE 11): one body of tests that every Store implementation must
 * pass, registered by `storeContractTests(name, open)`, split like the store by capability
 * (contract/*.ts). Each test opens a fresh store (a new SQLite file, a new PostgreSQL schema),
 * so no test sees another's rows. The tests speak the Store interface; only the checks of
 * corrupted rows write with direct SQL.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { deliveriesContract } from './contract/deliveries.js';
import { eventsContract } from './contract/events.js';
import { finishContract } from './contract/finish.js';
import { gateContract } from './contract/gate.js';
import { must, T0, type ContractContext, type OpenedStore, type OpenOptions, type RawSql } from './contract/helpers.js';
import { ledgerContract } from './contract/ledger.js';
import { mockBrokerContract } from './contract/mock-broker.js';
import { ordersContract } from './contract/orders.js';
import { ordersQueriesContract } from './contract/orders-queries.js';
import { recordsContract } from './contract/records.js';
import { runtimeContract } from './contract/runtime.js';
import { signalsContract } from './contract/signals.js';

export * from './contract/helpers.js';

export function storeContractTests(name: string, open: (opts: OpenOptions) => Promise<OpenedStore>): void {
  describe(name, () => {
    let opened: OpenedStore | null = null;
    let clock = T0;
    const ctx: ContractContext = {
      s: (): Store => must(opened, 'an open store').store,
      raw: (): RawSql => must(opened, 'an open store').raw,
      setClock: (time) => {
        clock = time;
      },
    };

    beforeEach(async () => {
      clock = T0;
      opened = await open({ now: () => clock });
    });
    afterEach(async () => {
      const current = opened;
      opened = null;
      if (current !== null) await current.cleanup();
    });

    signalsContract(ctx);
    gateContract(ctx);
    finishContract(ctx);
    ordersContract(ctx);
    ordersQueriesContract(ctx);
    ledgerContract(ctx);
    runtimeContract(ctx);
    eventsContract(ctx);
    deliveriesContract(ctx);
    mockBrokerContract(ctx);
    recordsContract(ctx);
  });
}
