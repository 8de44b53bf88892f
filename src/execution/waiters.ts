/**
 * Callers waiting for a signal's final record (`Prefer: wait`): each gets the record when the
 * signal ends, or null at its own timeout or when the executor stops.
 */
import { isFinalStatus } from '../domain/types.js';
import type { SignalRecord } from '../store/store.js';

type Waiter = (record: SignalRecord | null) => void;

export class Waiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private closed = false;

  /** Resolves with the final record, or null when `ms` passes first (or once closed). */
  wait(signalId: string, ms: number): Promise<SignalRecord | null> {
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const set = this.waiting.get(signalId) ?? new Set<Waiter>();
      this.waiting.set(signalId, set);
      const timer = setTimeout(() => {
        set.delete(done);
        if (set.size === 0) this.waiting.delete(signalId);
        resolve(null);
      }, ms);
      const done: Waiter = (record) => {
        clearTimeout(timer);
        resolve(record);
      };
      set.add(done);
    });
  }

  /** Hands a record to its signal's waiters once it is final; an unfinished one wakes nobody. */
  notify(record: SignalRecord): void {
    if (!isFinalStatus(record.status)) return;
    const set = this.waiting.get(record.signal_id);
    if (set === undefined) return;
    this.waiting.delete(record.signal_id);
    for (const waiter of set) waiter(record);
  }

  /** Wakes everyone with null (a 202 now rather than at their own timeout) and takes no more. */
  close(): void {
    this.closed = true;
    for (const [id, set] of this.waiting) {
      this.waiting.delete(id);
      for (const waiter of set) waiter(null);
    }
  }
}
