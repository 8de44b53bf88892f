/**
 * Lets at most `perTurn` callers through per event-loop turn, in arrival order; every caller
 * waits for at least the next turn (setImmediate), so I/O callbacks and timers run between
 * two passes. Shared by every event stream of an app, it bounds the catch-up work done between
 * two turns whatever the number of clients (docs/http-api.md#event-stream).
 */
export function turnGate(perTurn: number): () => Promise<void> {
  const waiting: Array<() => void> = [];
  let scheduled = false;
  const nextTurn = (): void => {
    scheduled = false;
    for (let i = 0; i < perTurn; i += 1) {
      const next = waiting.shift();
      if (next === undefined) break;
      next();
    }
    if (waiting.length > 0) schedule();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(nextTurn);
  };
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      schedule();
    });
}
