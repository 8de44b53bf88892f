/**
 * Lanes: one arrival-order queue per (connector, instrument), drained in parallel up to
 * `execution.concurrency` lanes at a time. Owns the queues, the pump, the retry of a signal whose
 * processing threw (back to the front of its lane after a delay: its durable state is intact),
 * the pause of a lane whose head waits for an older signal executing elsewhere, and stopping:
 * no new work, then wait for the lanes in flight up to a deadline.
 */
import type { SignalRecord } from '../store/store.js';

/** `blocked`: an older signal of the lane is executing elsewhere; try this one again later. */
export type LaneOutcome = 'done' | 'blocked';

export interface LaneWork {
  /** Processes one signal; a throw (the database may be down) has it tried again later. */
  run(signalId: string): Promise<LaneOutcome>;
  /** Told about a throw from `run`, before the retry is scheduled. */
  failed(signalId: string, err: unknown): void;
  /** The signal left its lane (processed, or scheduled for a retry). */
  left(signalId: string): void;
  /** A signal whose processing threw is queued again. */
  retrying(signalId: string): void;
  /** The wait before the n-th consecutive retry of one signal. */
  retryDelay(failures: number): number;
  /** The lane's pause before its head, blocked for the n-th time in a row, is tried again. */
  blockedDelay(blocks: number): number;
}

type Queued = Pick<SignalRecord, 'signal_id' | 'connector' | 'instrument'>;

export class Lanes {
  private readonly queues = new Map<string, string[]>();
  /** Lanes with work and no worker, in the order they got work. */
  private readonly waiting: string[] = [];
  private readonly queued = new Set<string>();
  /** Consecutive failures per signal, for the retry delay. */
  private readonly failures = new Map<string, number>();
  /** Consecutive times a lane's head was blocked, for its pause. */
  private readonly blocks = new Map<string, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly idle = new Set<() => void>();
  private running = 0;
  /** Nothing runs until the executor has recovered what a previous run left executing. */
  private opened = false;
  private stopping = false;

  constructor(
    private readonly concurrency: number,
    private readonly work: LaneWork,
  ) {}

  /** Lets queued work run. */
  open(): void {
    this.opened = true;
    this.pump();
  }

  /** Queues a signal at the end of its lane, unless it is queued already or the lanes stopped. */
  submit(record: Queued): void {
    if (this.stopping || this.queued.has(record.signal_id)) return;
    this.queued.add(record.signal_id);
    this.enqueue(`${record.connector}\u0000${record.instrument}`, record.signal_id, 'back');
  }

  /** Forgets that a signal is queued, so that `submit` queues it again (after a takeover). */
  forget(signalId: string): void {
    this.queued.delete(signalId);
  }

  /** Stops taking work; resolves true when the lanes in flight finished, false at the deadline. */
  stop(deadlineMs: number): Promise<boolean> {
    this.stopping = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.waiting.length = 0;
    if (this.running === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idle.delete(onIdle);
        resolve(false);
      }, deadlineMs);
      const onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idle.add(onIdle);
    });
  }

  private enqueue(lane: string, signalId: string, end: 'front' | 'back'): void {
    const queue = this.queues.get(lane);
    if (queue !== undefined) {
      if (end === 'front') queue.unshift(signalId);
      else queue.push(signalId);
      return;
    }
    this.queues.set(lane, [signalId]);
    this.waiting.push(lane);
    this.pump();
  }

  private pump(): void {
    while (this.opened && !this.stopping && this.running < this.concurrency && this.waiting.length > 0) {
      const lane = this.waiting.shift();
      if (lane === undefined) break;
      this.running += 1;
      void this.drain(lane).finally(() => {
        this.running -= 1;
        if (this.running === 0) for (const fn of this.idle) fn();
        this.pump();
      });
    }
  }

  private async drain(lane: string): Promise<void> {
    const queue = this.queues.get(lane);
    if (queue === undefined) return;
    while (!this.stopping) {
      const signalId = queue.shift();
      if (signalId === undefined) break;
      let outcome: LaneOutcome = 'done';
      try {
        outcome = await this.work.run(signalId);
        this.failures.delete(signalId);
      } catch (err) {
        this.work.failed(signalId, err);
        this.retryLater(lane, signalId);
      }
      if (outcome === 'blocked' && !this.stopping) {
        // It stays queued at the head: the lane pauses (holding no worker) rather than spin.
        queue.unshift(signalId);
        this.pause(lane, signalId);
        return;
      }
      this.blocks.delete(signalId);
      this.queued.delete(signalId);
      this.work.left(signalId);
    }
    if (queue.length === 0 || this.stopping) this.queues.delete(lane);
    else this.waiting.push(lane);
  }

  /** The lane waits, with a pause that grows while its head stays blocked, then drains again. */
  private pause(lane: string, head: string): void {
    const n = (this.blocks.get(head) ?? 0) + 1;
    this.blocks.set(head, n);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.stopping) return;
      this.waiting.push(lane);
      this.pump();
    }, this.work.blockedDelay(n));
    timer.unref();
    this.retryTimers.add(timer);
  }

  /** Back to the front of its lane after a delay that grows with each consecutive failure. */
  private retryLater(lane: string, signalId: string): void {
    const n = (this.failures.get(signalId) ?? 0) + 1;
    this.failures.set(signalId, n);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.stopping || this.queued.has(signalId)) return;
      this.work.retrying(signalId);
      this.queued.add(signalId);
      this.enqueue(lane, signalId, 'front');
    }, this.work.retryDelay(n));
    timer.unref();
    this.retryTimers.add(timer);
  }
}
