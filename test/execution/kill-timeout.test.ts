/**
 * `kill -9` in the middle of ambiguous executions (docs/execution.md#recovery-after-a-crash, docs/guarantees.md#durability): the built CLI runs as a child
 * process with the mock answering every order with a timeout after the order landed
 * (`timeout_rate: 1`) and slowly (`latency_ms`), so that signals sit `executing` — some before
 * their order landed, some after. The process is killed while some are, and a new one starts on
 * the same database without faults. Every acknowledged signal must end final with exactly one
 * order at the mock: none lost, none doubled.
 */
import { describe, expect, test } from 'vitest';
import { clientOrderId } from '../../src/ingest/identity.js';
import { e2eConfig, mockOrders, nextKey, queryDb, readJson, sendAccepted, type AttemptView } from '../helpers/connectors.js';
import { adminFetch, eventually, spawnSluice, tempDir, writeConfig, type Child } from '../helpers/server.js';

const SIGNALS = 20;
const INSTRUMENTS = ['KA', 'KB', 'KC', 'KD'];

function killConfig(mock: Record<string, unknown>): Record<string, unknown> {
  return e2eConfig({
    connector: 'mock',
    connectors: { mock: { type: 'mock', ...mock } },
    // Every attempt times out (a transient failure): a low threshold would open the breaker and
    // reject the rest, which is not what this test is about. The backoff before the lookup is how
    // long a landed order's signal stays executing; comparable to the latency (how long one whose
    // order has not landed does), so that both kinds are usually in flight at the kill.
    execution: { max_attempts: 50, backoff: { base_ms: 150, cap_ms: 300 }, breaker: { failure_threshold: 10_000, half_open_after_seconds: null } },
  });
}

const countByStatus = (dir: string): Record<string, number> =>
  Object.fromEntries(queryDb<{ status: string; n: number }>(dir, 'SELECT status, count(*) AS n FROM signals GROUP BY status').map((r) => [r.status, r.n]));

/** Executing signals split by whether the mock already holds their order. */
function executingByLanded(dir: string): { landed: string[]; notLanded: string[] } {
  const rows = queryDb<{ id: string; landed: number }>(
    dir,
    "SELECT s.id AS id, EXISTS (SELECT 1 FROM mock_orders m WHERE m.client_order_id = s.client_order_id) AS landed FROM signals s WHERE s.status = 'executing'",
  );
  return { landed: rows.filter((r) => r.landed === 1).map((r) => r.id), notLanded: rows.filter((r) => r.landed === 0).map((r) => r.id) };
}

async function stop(child: Child | undefined, signal: NodeJS.Signals): Promise<void> {
  if (child === undefined || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill(signal);
  await child.exited;
}

describe('SIGKILL while signals are executing', () => {
  test('after a restart every acknowledged signal is final with exactly one mock order', async () => {
    const dir = tempDir();
    let first: Child | undefined;
    let second: Child | undefined;
    try {
      const configPath = writeConfig(dir, killConfig({ timeout_rate: 1, latency_ms: 150 }));
      first = await spawnSluice({ dir, configPath });
      const url = first.url;

      const sent: Array<{ key: string; signal_id: string }> = [];
      await Promise.all(
        Array.from({ length: SIGNALS }, async (_, i) => {
          const key = nextKey('kill');
          const instrument = INSTRUMENTS[i % INSTRUMENTS.length];
          const accepted = await sendAccepted(url, { id: key, action: 'buy', instrument, quantity: 1, price: 10 });
          sent.push({ key, signal_id: accepted.signal_id });
        }),
      );
      expect(sent).toHaveLength(SIGNALS);

      // Kill once some finished and some are mid-flight, both kinds: one whose order already
      // landed at the mock (the timeout is being resolved) and one whose order has not (the call
      // is still in its latency). The rest are still queued.
      await eventually(async () => {
        const counts = countByStatus(dir);
        const inFlight = executingByLanded(dir);
        const executing = counts['executing'] ?? 0;
        if (executing === 0 || (counts['executed'] ?? 0) === 0) return undefined;
        if (inFlight.landed.length >= 1 && inFlight.notLanded.length >= 1) return true;
        // Which kinds are in flight at a given moment is up to timing: settle for any executing
        // signal before the queue runs dry.
        return (counts['accepted'] ?? 0) + executing <= INSTRUMENTS.length + 2 ? true : undefined;
      }, 15_000, 'executing signals with and without a landed order');
      first.proc.kill('SIGKILL');
      expect(await first.exited).toBeNull(); // killed by the signal, no exit code
      const atKill = countByStatus(dir);
      expect(atKill['executing'] ?? 0).toBeGreaterThanOrEqual(1);
      expect(Object.values(atKill).reduce((a, b) => a + b, 0)).toBe(SIGNALS);
      const atKillInFlight = executingByLanded(dir);
      const executingAtKill = [...atKillInFlight.landed, ...atKillInFlight.notLanded];
      expect(executingAtKill.length).toBe(atKill['executing']);

      // The same database, no faults.
      writeConfig(dir, killConfig({}));
      second = await spawnSluice({ dir, configPath });
      const url2 = second.url;
      const final = await eventually(async () => {
        const page = await readJson<{ items: Array<{ signal_id: string; status: string }> }>(await adminFetch(url2, '/signals?limit=500'));
        return page.items.length === SIGNALS && page.items.every((i) => ['executed', 'rejected', 'failed'].includes(i.status)) ? page.items : undefined;
      }, 20_000, 'every signal to be final');
      expect(final.map((i) => i.status)).toEqual(Array.from({ length: SIGNALS }, () => 'executed'));

      // Exactly one order per acknowledged signal: none lost, none doubled, nothing else.
      const orders = await mockOrders(url2);
      const perCoid = new Map<string, number>();
      for (const o of orders) perCoid.set(o.client_order_id, (perCoid.get(o.client_order_id) ?? 0) + 1);
      const expected = sent.map((s) => clientOrderId(s.signal_id)).sort();
      expect([...perCoid.keys()].sort()).toEqual(expected);
      expect([...perCoid.values()].every((n) => n === 1)).toBe(true);
      expect(orders).toHaveLength(SIGNALS);

      // Those caught executing were resolved by asking the mock first; their attempts continue
      // the numbering of the killed run and end with an answer.
      for (const id of executingAtKill) {
        const detail = await readJson<{ status: string; attempts: AttemptView[] }>(await adminFetch(url2, `/signals/${id}`));
        expect(detail.status).toBe('executed');
        expect(detail.attempts.map((a) => a.n)).toEqual(detail.attempts.map((_, i) => i + 1));
        expect(['adopted', 'ok']).toContain(detail.attempts.at(-1)?.outcome);
      }
      // An order that had landed is adopted, never placed again; one that had not is placed once.
      for (const id of atKillInFlight.landed) {
        const detail = await readJson<{ attempts: AttemptView[] }>(await adminFetch(url2, `/signals/${id}`));
        expect(detail.attempts.at(-1)?.outcome).toBe('adopted');
      }
    } finally {
      await stop(first, 'SIGKILL');
      await stop(second, 'SIGTERM');
    }
  });
});
