/**
 * Components that are degraded right now, as `/admin/status` shows them (docs/http-api.md#status). Entering
 * and leaving is appended to the event log (which feeds alerts). Breakers that are not closed
 * are read from the store at status time rather than kept here: they are shared by instances.
 *
 * The event log lives in the database, so while `database` is degraded (or an append fails)
 * these events are held in memory, in order, with their own time: each is alerted at once
 * (`alert`), and appended when the log takes writes again, marked `alerted: true` when that
 * alert was confirmed so the alert sender does not send it twice (docs/guarantees.md#degraded-mode).
 */
import type { Logger } from 'pino';

export interface DegradedEntry {
  component: string;
  reason: string;
  since: string;
}

export type DegradedEventType = 'degraded.entered' | 'degraded.exited';

/** An event waiting for the log. */
export interface HeldEvent {
  type: DegradedEventType;
  data: Record<string, unknown>;
  at: Date;
}

/** The component whose outage is the event log's own. */
const LOG_COMPONENT = 'database';

export class DegradedState {
  private readonly entries = new Map<string, DegradedEntry>();
  private readonly held: Array<HeldEvent & { alerted: boolean }> = [];
  private draining: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly deps: {
      logger: Logger;
      now: () => Date;
      /** Appends to the event log at `at`; may throw (the log may be the thing that is down). */
      record: (type: DegradedEventType, data: Record<string, unknown>, at: Date) => Promise<unknown>;
      /** Sends the alert of an event the log cannot take yet; true once the receiver confirmed. */
      alert?: (event: HeldEvent) => Promise<boolean>;
    },
  ) {}

  enter(component: string, reason: string, now: Date): void {
    const current = this.entries.get(component);
    if (current !== undefined && current.reason === reason) return;
    this.entries.set(component, { component, reason, since: current?.since ?? now.toISOString() });
    if (current === undefined) {
      this.deps.logger.warn({ component, reason }, 'degraded');
      this.hold({ type: 'degraded.entered', data: { component, reason }, at: now });
    }
  }

  exit(component: string): void {
    const current = this.entries.get(component);
    if (current === undefined) return;
    this.entries.delete(component);
    this.deps.logger.info({ component }, 'recovered');
    this.hold({ type: 'degraded.exited', data: { component, since: current.since }, at: this.deps.now() });
  }

  list(): DegradedEntry[] {
    return [...this.entries.values()];
  }

  /** Resolves once everything held so far was appended, or could not be (and was alerted). */
  settled(): Promise<void> {
    return this.draining ?? Promise.resolve();
  }

  private hold(event: HeldEvent): void {
    this.held.push({ ...event, alerted: false });
    void this.drain();
  }

  /** One drain at a time (appends keep their order); a call meanwhile makes it go round again. */
  private drain(): Promise<void> {
    if (this.draining !== null) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          await this.drainOnce();
        } while (this.again);
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }

  private async drainOnce(): Promise<void> {
    for (let next = this.held[0]; next !== undefined; next = this.held[0]) {
      if (this.entries.has(LOG_COMPONENT)) break;
      try {
        await this.deps.record(next.type, next.alerted ? { ...next.data, alerted: true } : next.data, next.at);
        this.held.shift();
      } catch (err) {
        this.deps.logger.error({ err, type: next.type }, `could not log ${next.type}: held until the event log takes it`);
        break;
      }
    }
    // What the log cannot take yet is alerted now (once confirmed, never again from here).
    const alert = this.deps.alert;
    if (alert === undefined) return;
    for (const event of this.held) {
      if (event.alerted) continue;
      event.alerted = await alert({ type: event.type, data: event.data, at: event.at }).catch(() => false);
    }
  }
}
