/**
 * Database health (docs/guarantees.md#degraded-mode): during an outage a ping can hang for the
 * connect timeout, longer than the probe interval. The probe keeps one ping in flight, and the
 * database coming back is recovered from once: one `degraded.exited`, one spool replay.
 */
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { DatabaseHealth } from '../../src/ops/database-health.js';
import { DegradedState } from '../../src/ops/degraded.js';

describe('DatabaseHealth', () => {
  test('one probe ping at a time while the database hangs; one recovery when it answers', async () => {
    const pings: Array<() => void> = [];
    let down = true;
    const store = {
      ping: () =>
        down
          ? new Promise<void>((resolve) => {
              pings.push(resolve);
            })
          : Promise.resolve(),
    };
    const logged: Array<{ type: string }> = [];
    const degraded = new DegradedState({ logger: pino({ level: 'silent' }), now: () => new Date(0), record: async (type) => void logged.push({ type }) });
    let recoveries = 0;
    const health = new DatabaseHealth({ store, degraded, logger: pino({ level: 'silent' }), now: () => new Date(0), probeMs: 2, onRecovered: async () => void (recoveries += 1) });
    try {
      health.failed(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' }));
      expect(health.down).toBe(true);
      // Many probe intervals pass while the first ping hangs.
      while (pings.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      for (let i = 0; i < 10; i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(pings).toHaveLength(1);

      down = false;
      for (const answer of pings) answer();
      while (health.down) await new Promise((resolve) => setTimeout(resolve, 5));
      for (let i = 0; i < 10; i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
      await degraded.settled();
      expect(recoveries).toBe(1);
      expect(logged.map((e) => e.type)).toEqual(['degraded.entered', 'degraded.exited']);
    } finally {
      health.stop();
    }
  });
});
