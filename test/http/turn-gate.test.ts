/**
 * The turn gate that event streams catch up through (docs/http-api.md#event-stream): at most
 * `perTurn` callers per event-loop turn, in arrival order, and never one in the caller's own turn.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { turnGate } from '../../src/http/turn-gate.js';

/** Who got through after each of `turns` turns, for `callers` callers queued at once. */
async function passes(perTurn: number, callers: number, turns: number): Promise<number[][]> {
  const gate = turnGate(perTurn);
  const through: number[] = [];
  for (let i = 0; i < callers; i += 1) void gate().then(() => through.push(i));
  const seen: number[][] = [];
  // Nothing passes within the turn the callers asked in, even once its microtasks ran.
  await Promise.resolve();
  seen.push([...through]);
  for (let t = 0; t < turns; t += 1) {
    await nextTurn();
    seen.push([...through]);
  }
  return seen;
}

describe('turnGate', () => {
  test.each([
    { perTurn: 1, callers: 3, expected: [[], [0], [0, 1], [0, 1, 2], [0, 1, 2]] },
    { perTurn: 2, callers: 5, expected: [[], [0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]] },
    { perTurn: 4, callers: 2, expected: [[], [0, 1], [0, 1], [0, 1], [0, 1]] },
  ])('$perTurn per turn, $callers callers', async ({ perTurn, callers, expected }) => {
    expect(await passes(perTurn, callers, expected.length - 1)).toEqual(expected);
  });

  test('a caller that asks again waits behind those already waiting', async () => {
    const gate = turnGate(1);
    const order: string[] = [];
    const again = async () => {
      await gate();
      order.push('a1');
      await gate();
      order.push('a2');
    };
    void again();
    void gate().then(() => order.push('b'));
    for (let t = 0; t < 4; t += 1) await nextTurn();
    expect(order).toEqual(['a1', 'b', 'a2']);
  });
});
