/** Walks the whole event log in pages and checks its hash chain (docs/guarantees.md#event-log). */
import type { Store } from '../store/store.js';
import { createChainVerifier, type ChainVerdict } from '../events/chain.js';

export async function verifyAuditChain(store: Pick<Store, 'listEvents'>, pageSize = 5000): Promise<ChainVerdict> {
  const verifier = createChainVerifier();
  let after = 0;
  for (;;) {
    const page = await store.listEvents(after, pageSize);
    for (const row of page) {
      const broken = verifier.push(row);
      if (broken !== null) return broken;
      after = row.seq;
    }
    if (page.length < pageSize) return verifier.finish();
  }
}
