/**
 * SIGTERM with requests in flight (docs/guarantees.md#shutdown): intake stops, in-flight work finishes, the
 * process exits 0, and every signal that was answered 2xx is there after a restart.
 */
import { expect, test } from 'vitest';
import { adminFetch, eventually, sendTo, spawnSluice, tempDir, WEBHOOK_SECRET, writeConfig } from '../helpers/server.js';

test('SIGTERM mid-stream: exit 0, every 2xx signal present and final after restart', async () => {
  const dir = tempDir();
  const configPath = writeConfig(dir, {
    sources: { default: { auth: { scheme: 'token', secrets: [WEBHOOK_SECRET] } } },
    connectors: { mock: { type: 'mock', latency_ms: 150 } },
    policy: { max_orders_per_minute: null },
  });
  const first = await spawnSluice({ dir, configPath });
  const acknowledged: string[] = [];
  const refused: number[] = [];
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < 60; i += 1) {
    sends.push(
      sendTo(first.url, { id: `term-${i}`, action: 'buy', instrument: `I${i % 6}`, quantity: 1, price: 10 })
        .then(async (res) => {
          if (res.status === 202 || res.status === 200) acknowledged.push(((await res.json()) as { signal_id: string }).signal_id);
          else {
            expect(res.status).toBe(503);
            expect(((await res.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
            refused.push(res.status);
          }
        })
        .catch(() => {
          // The connection was closed by the stopping server: not acknowledged, so not promised.
        }),
    );
    if (i === 30) first.proc.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(sends);
  expect(await first.exited).toBe(0);
  expect(first.output.join('')).toMatch(/"msg":"stopped"/);
  expect(acknowledged.length).toBeGreaterThan(0);

  const second = await spawnSluice({ dir, configPath });
  try {
    for (const id of acknowledged) {
      await eventually(async () => {
        const res = await adminFetch(second.url, `/signals/${id}`);
        if (res.status !== 200) throw new Error(`signal ${id} missing after restart: ${res.status}`);
        const body = (await res.json()) as { status: string };
        return body.status === 'executed' ? body : undefined;
      }, 15_000, `signal ${id} executed`);
    }
  } finally {
    second.proc.kill('SIGTERM');
    await second.exited;
  }
}, 60_000);
